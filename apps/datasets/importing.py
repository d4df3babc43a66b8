"""Import (CSV, JSONL, JSON array) and export (CSV, JSONL) of dataset examples.

Files are parsed as streams: bytes arrive in chunks, are decoded incrementally and turned
into records one at a time, so a 50 MB file is never held whole. The size limit is
checked before any parsing. A parse error names the line and the problem, and because
rows go through `examples_bulk_create` (one transaction), a failure writes nothing.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.core.tenancy import team_scope
from apps.datasets.models import PendingUpload, UploadFormat
from apps.datasets.selectors import examples_at_revision
from apps.datasets.services import examples_bulk_create, require_edit
from apps.teams.audit import audit_record

CHUNK_SIZE = 64 * 1024
PREVIEW_ROWS = 20
UPLOAD_DIR = "uploads"
PENDING_MAX_AGE = timedelta(days=1)

# Where a column's value goes.
TARGET_INPUT = "input"  # input[<column>] (or input[<name>] with "input:<name>")
TARGET_EXPECTED = "expected"
TARGET_METADATA = "metadata"
TARGET_SPLIT = "split"
TARGET_IGNORE = "ignore"
TARGETS = [TARGET_INPUT, TARGET_EXPECTED, TARGET_METADATA, TARGET_SPLIT, TARGET_IGNORE]

EXPECTED_NAMES = {"expected", "expected_output", "output", "label", "answer", "target"}


class ImportFailed(ValidationFailed):
    """A file could not be imported; the message names the line and the problem."""


ChunkSource = Callable[[], Iterable[bytes]]


# --- size and format -----------------------------------------------------------------------


def max_bytes() -> int:
    return int(getattr(settings, "PROMPTYARD_IMPORT_MAX_BYTES", 50 * 1024 * 1024))


def _human(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def check_size(size: int | None) -> None:
    limit = max_bytes()
    if size is not None and size > limit:
        raise ImportFailed(
            f"The file is {_human(size)}; the limit is {_human(limit)}. Split it into smaller files.",
            field="file",
        )


MULTIPART_SLACK = 64 * 1024  # form fields and boundaries around the file


def check_request_size(request) -> None:
    """Refuse an oversized upload from its Content-Length, before the body is even read."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if length > max_bytes() + MULTIPART_SLACK:
        check_size(length - MULTIPART_SLACK)


def guess_format(filename: str, first_bytes: bytes = b"") -> str:
    name = (filename or "").lower()
    if name.endswith(".csv"):
        return UploadFormat.CSV
    if name.endswith(".jsonl") or name.endswith(".ndjson"):
        return UploadFormat.JSONL
    if name.endswith(".json"):
        return UploadFormat.JSON
    head = first_bytes.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"[":
        return UploadFormat.JSON
    if head == b"{":
        return UploadFormat.JSONL
    return UploadFormat.CSV


# --- streaming text --------------------------------------------------------------------------


def _decoded(chunks: Iterable[bytes]) -> Iterator[str]:
    """Decode UTF-8 chunk by chunk; invalid bytes raise an error naming their line."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    newlines = 0
    for chunk in chunks:
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            # Lines before the bad byte: all decoded so far plus this chunk's prefix.
            line = newlines + chunk[: max(exc.start, 0)].count(b"\n") + 1
            raise ImportFailed(
                f"Line {line}: the file is not valid UTF-8 (byte 0x{exc.object[exc.start]:02x}). "
                "Save it as UTF-8 and upload it again.",
                field="file",
            ) from None
        newlines += text.count("\n")
        if text:
            yield text
    try:
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ImportFailed(
            f"Line {newlines + 1}: the file ends in the middle of a UTF-8 character.",
            field="file",
        ) from None
    if tail:
        yield tail


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Lines with their endings, from decoded chunks, holding at most one partial line."""
    pending = ""
    for text in _decoded(chunks):
        pending += text
        start = 0
        while True:
            end = pending.find("\n", start)
            if end < 0:
                break
            yield pending[start : end + 1]
            start = end + 1
        pending = pending[start:]
    if pending:
        yield pending


# --- record parsers: (line number, {column: value}) ------------------------------------------


@dataclass
class Record:
    line: int
    values: dict


def _csv_records(chunks: Iterable[bytes]) -> Iterator[Record]:
    reader = csv.reader(_lines(chunks))
    header = None
    end = 0  # last physical line consumed: a quoted cell may span several
    try:
        for row in reader:
            line, end = end + 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if header is None:
                header = [cell.strip() for cell in row]
                _check_header(header, line)
                continue
            if len(row) != len(header):
                raise ImportFailed(
                    f"Line {line}: expected {len(header)} columns like the header, "
                    f"found {len(row)}.",
                    field="file",
                )
            yield Record(line, dict(zip(header, row, strict=True)))
    except csv.Error as exc:
        raise ImportFailed(f"Line {end + 1}: malformed CSV ({exc}).", field="file") from None
    if header is None:
        raise ImportFailed("The file is empty.", field="file")


def _check_header(header: list[str], line: int) -> None:
    seen = set()
    for index, name in enumerate(header, start=1):
        if not name:
            raise ImportFailed(f"Line {line}: column {index} of the header has no name.")
        if name in seen:
            raise ImportFailed(f"Line {line}: the header names column '{name}' twice.")
        seen.add(name)


def _object_or_fail(value, line: int, what: str) -> dict:
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", type(None): "null", bool: "a boolean"}.get(
            type(value), "a number"
        )
        raise ImportFailed(f"{what} {line}: expected a JSON object, found {kind}.", field="file")
    return value


def _jsonl_records(chunks: Iterable[bytes]) -> Iterator[Record]:
    any_line = False
    for number, text in enumerate(_lines(chunks), start=1):
        if not text.strip():
            continue
        any_line = True
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFailed(
                f"Line {number}: not valid JSON ({exc.msg} at column {exc.colno}).", field="file"
            ) from None
        except RecursionError:
            raise ImportFailed(f"Line {number}: the JSON is nested too deeply.") from None
        yield Record(number, _object_or_fail(value, number, "Line"))
    if not any_line:
        raise ImportFailed("The file is empty.", field="file")


_WS = " \t\r\n"


class _JsonArrayCursor:
    """A sliding window over decoded text: consumed text is dropped, lines are counted once."""

    def __init__(self, chunks: Iterable[bytes]):
        self.texts = _decoded(chunks)
        self.buffer = ""
        self.pos = 0
        self.eof = False
        self.lines_before = 0  # newlines before buffer[counted]
        self.counted = 0

    def more(self) -> bool:
        if self.eof:
            return False
        self.lines_before += self.buffer.count("\n", self.counted, self.pos)
        self.buffer = self.buffer[self.pos :]
        self.pos = self.counted = 0
        try:
            self.buffer += next(self.texts)
        except StopIteration:
            self.eof = True
            return False
        return True

    def skip_ws(self) -> bool:
        """Advance to the next non-blank character; False at the end of the file."""
        while True:
            buffer, pos = self.buffer, self.pos
            while pos < len(buffer) and buffer[pos] in _WS:
                pos += 1
            self.pos = pos
            if pos < len(buffer):
                return True
            if not self.more():
                return False

    def peek(self) -> str:
        return self.buffer[self.pos]

    def line(self) -> int:
        """1-based line of the current position (counting only text not counted before)."""
        self.lines_before += self.buffer.count("\n", self.counted, self.pos)
        self.counted = self.pos
        return self.lines_before + 1

    def decode(self, decoder: json.JSONDecoder):
        while True:
            try:
                value, end = decoder.raw_decode(self.buffer, self.pos)
            except RecursionError:
                raise ImportFailed(f"Line {self.line()}: the JSON is nested too deeply.") from None
            except json.JSONDecodeError as exc:
                # Probably cut at a chunk boundary: read more, unless the file is over.
                if self.more():
                    continue
                line = self.lines_before + self.buffer.count("\n", self.counted, exc.pos) + 1
                raise ImportFailed(
                    f"Line {line}: not valid JSON ({exc.msg}).", field="file"
                ) from None
            self.pos = end
            return value


def _json_array_records(chunks: Iterable[bytes]) -> Iterator[Record]:
    """A top-level JSON array, one element at a time (raw_decode over a sliding window)."""
    decoder = json.JSONDecoder()
    cursor = _JsonArrayCursor(chunks)

    def unclosed():
        return ImportFailed(
            f"Line {cursor.line()}: the file ends before the array is closed with ']'.",
            field="file",
        )

    if not cursor.skip_ws():
        raise ImportFailed("The file is empty.", field="file")
    if cursor.peek() != "[":
        raise ImportFailed(
            f"Line {cursor.line()}: a JSON array file must start with '['.", field="file"
        )
    cursor.pos += 1
    item = 0
    if not cursor.skip_ws():
        raise unclosed()
    if cursor.peek() == "]":
        raise ImportFailed("The JSON array is empty: there are no rows to import.", field="file")
    while True:
        if not cursor.skip_ws():
            raise unclosed()
        item += 1
        line = cursor.line()
        value = cursor.decode(decoder)
        yield Record(line, _object_or_fail(value, line, "Line"))
        if not cursor.skip_ws():
            raise unclosed()
        if cursor.peek() == ",":
            cursor.pos += 1
            continue
        if cursor.peek() == "]":
            cursor.pos += 1
            break
        raise ImportFailed(
            f"Line {cursor.line()}: expected ',' or ']' after item {item}.", field="file"
        )
    if cursor.skip_ws():
        raise ImportFailed(
            f"Line {cursor.line()}: unexpected content after the closing ']'.", field="file"
        )


PARSERS = {
    UploadFormat.CSV: _csv_records,
    UploadFormat.JSONL: _jsonl_records,
    UploadFormat.JSON: _json_array_records,
}


def records(chunks: Iterable[bytes], fmt: str) -> Iterator[Record]:
    try:
        parser = PARSERS[fmt]
    except KeyError:
        raise ImportFailed(
            f"Unknown format '{fmt}': use csv, jsonl or json.", field="format"
        ) from None
    return parser(chunks)


# --- mapping -------------------------------------------------------------------------------


def read_columns(source: ChunkSource, fmt: str) -> list[str]:
    """The header (CSV) or the first object's keys (JSON formats)."""
    if fmt == UploadFormat.CSV:
        reader = csv.reader(_lines(source()))
        try:
            for row in reader:
                if row and any(cell.strip() for cell in row):
                    header = [cell.strip() for cell in row]
                    _check_header(header, reader.line_num)
                    return header
        except csv.Error as exc:
            raise ImportFailed(f"Line {reader.line_num}: malformed CSV ({exc}).") from None
        raise ImportFailed("The file is empty.", field="file")
    for record in records(source(), fmt):
        return list(record.values.keys())
    raise ImportFailed("The file is empty.", field="file")


def default_mapping(columns: list[str]) -> dict[str, str]:
    mapping = {}
    has_expected = False
    for column in columns:
        key = column.strip().lower()
        if key in EXPECTED_NAMES and not has_expected:
            mapping[column] = TARGET_EXPECTED
            has_expected = True
        elif key == "split":
            mapping[column] = TARGET_SPLIT
        elif key in {"metadata", "meta"}:
            mapping[column] = TARGET_METADATA
        elif key in {"example_id", "source", "source_ref"}:
            mapping[column] = TARGET_IGNORE  # our own export's bookkeeping columns
        else:
            mapping[column] = TARGET_INPUT
    return mapping


def clean_mapping(mapping: dict | None, columns: list[str]) -> dict[str, str]:
    """Validate a {column: target} mapping; targets: input, input:<name>, expected, metadata,
    split, ignore. Columns the mapping leaves out are ignored."""
    if mapping is None:
        mapping = default_mapping(columns)
    if not isinstance(mapping, dict):
        raise ImportFailed("The mapping must be an object of column → target.", field="mapping")
    cleaned: dict[str, str] = {}
    counts = {TARGET_EXPECTED: 0, TARGET_SPLIT: 0}
    input_names = set()
    for column, target in mapping.items():
        target = str(target or TARGET_IGNORE).strip()
        base, _, name = target.partition(":")
        if base not in TARGETS or (name and base != TARGET_INPUT):
            raise ImportFailed(
                f"Column '{column}': unknown target '{target}' (use input, input:<name>, "
                "expected, metadata, split or ignore).",
                field="mapping",
            )
        if base == TARGET_IGNORE:
            continue
        if column not in columns:
            raise ImportFailed(
                f"The mapping names column '{column}', which the file does not have "
                f"(columns: {', '.join(columns)}).",
                field="mapping",
            )
        if base in counts:
            counts[base] += 1
            if counts[base] > 1:
                raise ImportFailed(f"Map at most one column to {base}.", field="mapping")
        if base == TARGET_INPUT:
            var = (name or column).strip()
            if var in input_names:
                raise ImportFailed(f"Two columns map to input variable '{var}'.", field="mapping")
            input_names.add(var)
            target = f"{TARGET_INPUT}:{var}"
        cleaned[column] = target
    if not input_names:
        raise ImportFailed("Map at least one column to an input variable.", field="mapping")
    return cleaned


def map_record(record: Record, mapping: dict[str, str]) -> dict:
    row = {"input": {}, "expected": None, "metadata": {}, "split": "", "line": record.line}
    for column, target in mapping.items():
        if column not in record.values:
            raise ImportFailed(
                f"Line {record.line}: missing mapped column '{column}'.", field="file"
            )
        value = record.values[column]
        base, _, name = target.partition(":")
        if base == TARGET_INPUT:
            name = name or column
            if name == "input" and column == "input" and isinstance(value, dict):
                row["input"].update(value)  # {"input": {...}} rows: the object is the input
            else:
                row["input"][name] = value
        elif base == TARGET_EXPECTED:
            row["expected"] = value
        elif base == TARGET_METADATA:
            if column in {"metadata", "meta"} and isinstance(value, dict):
                row["metadata"].update(value)
            else:
                row["metadata"][column] = value
        elif base == TARGET_SPLIT:
            row["split"] = "" if value is None else str(value)
    return row


def mapped_rows(source: ChunkSource, fmt: str, mapping: dict[str, str]) -> Iterator[dict]:
    for record in records(source(), fmt):
        yield map_record(record, mapping)


def preview(source: ChunkSource, fmt: str, mapping: dict[str, str], limit: int = PREVIEW_ROWS):
    """The first `limit` mapped rows; stops reading the file once it has them."""
    from apps.datasets.services import clean_example_fields

    rows = []
    for row in mapped_rows(source, fmt, mapping):
        clean_example_fields(
            input=row["input"],
            expected=row["expected"],
            metadata=row["metadata"],
            split=row["split"],
            source="upload",
            line=row["line"],
        )
        rows.append(row)
        if len(rows) >= limit:
            break
    return rows


# --- pending uploads (HTML flow: upload → map + preview → commit) ----------------------------


def upload_file_path(upload: PendingUpload) -> Path:
    return Path(settings.VAR_DIR) / upload.stored_path


def file_chunks(path: Path) -> ChunkSource:
    def source():
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                yield chunk

    return source


def upload_source(upload: PendingUpload) -> ChunkSource:
    return file_chunks(upload_file_path(upload))


def uploaded_file_source(uploaded) -> ChunkSource:
    """Chunks of a Django UploadedFile, re-readable (it seeks to the start each time)."""

    def source():
        yield from uploaded.chunks(CHUNK_SIZE)

    return source


def first_bytes(uploaded) -> bytes:
    for chunk in uploaded.chunks(CHUNK_SIZE):
        return chunk[:512]
    return b""


@transaction.atomic
def pending_upload_create(*, team, actor, dataset, uploaded, fmt: str = "") -> PendingUpload:
    """Store the upload under var/ (streamed to disk) and read its columns; import nothing."""
    require_edit(actor, team)
    if uploaded is None:
        raise ImportFailed("Choose a file to upload.", field="file")
    check_size(uploaded.size)
    pending_uploads_prune()
    fmt = fmt or guess_format(uploaded.name, first_bytes(uploaded))
    if fmt not in PARSERS:
        raise ImportFailed(f"Unknown format '{fmt}': use csv, jsonl or json.", field="format")
    relative = Path(UPLOAD_DIR) / f"team-{team.pk}" / f"{uuid.uuid4().hex}.{fmt}"
    path = Path(settings.VAR_DIR) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with open(path, "wb") as handle:
            for chunk in uploaded.chunks(CHUNK_SIZE):
                written += len(chunk)
                check_size(written)  # a lying Content-Length is caught while copying
                handle.write(chunk)
        if written == 0:
            raise ImportFailed("The file is empty.", field="file")
        columns = read_columns(file_chunks(path), fmt)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    from apps.datasets.services import actor_user

    return PendingUpload.objects.create(
        team=team,
        dataset=dataset,
        filename=os.path.basename(uploaded.name or "upload")[:255],
        format=fmt,
        size=written,
        stored_path=str(relative),
        columns=columns,
        created_by=actor_user(actor),
    )


def pending_upload_discard(upload: PendingUpload) -> None:
    upload_file_path(upload).unlink(missing_ok=True)
    upload.delete()


def pending_uploads_prune(max_age: timedelta = PENDING_MAX_AGE) -> int:
    """Drop the scope team's uploads left unconfirmed for longer than `max_age`."""
    uploads = PendingUpload.objects.filter(created_at__lt=timezone.now() - max_age)
    count = 0
    for upload in uploads:
        pending_upload_discard(upload)
        count += 1
    return count


def pending_upload_commit(*, team, actor, upload: PendingUpload, mapping: dict | None):
    """Write every row of the upload as one revision, or nothing."""
    mapping = clean_mapping(mapping, upload.columns)
    with transaction.atomic():
        revision = examples_bulk_create(
            team=team,
            actor=actor,
            dataset=upload.dataset,
            rows=mapped_rows(upload_source(upload), upload.format, mapping),
            source="upload",
            message=f"Imported {upload.filename}",
        )
        audit_record(
            team=team,
            actor=actor,
            verb="dataset.import",
            target=upload.dataset,
            after={"file": upload.filename, "format": upload.format, "revision": revision.number},
        )
    pending_upload_discard(upload)
    return revision


def import_file(*, team, actor, dataset, uploaded, fmt: str = "", mapping: dict | None = None):
    """One-shot import (the API): parse the uploaded stream and write it, all or nothing."""
    require_edit(actor, team)
    if uploaded is None:
        raise ImportFailed("Send the file in the 'file' field.", field="file")
    check_size(uploaded.size)
    fmt = fmt or guess_format(uploaded.name, first_bytes(uploaded))
    source = uploaded_file_source(uploaded)
    columns = read_columns(source, fmt)
    mapping = clean_mapping(mapping, columns)
    name = os.path.basename(uploaded.name or "upload")
    with transaction.atomic():
        revision = examples_bulk_create(
            team=team,
            actor=actor,
            dataset=dataset,
            rows=mapped_rows(source, fmt, mapping),
            source="upload",
            message=f"Imported {name}",
        )
        audit_record(
            team=team,
            actor=actor,
            verb="dataset.import",
            target=dataset,
            after={"file": name, "format": fmt, "revision": revision.number},
        )
    return revision


# --- export --------------------------------------------------------------------------------

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: str) -> str:
    """Keep spreadsheets from running a cell as a formula (CSV injection)."""
    if value and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise_cell(value)
    return neutralise_cell(json.dumps(value, ensure_ascii=False, sort_keys=True))


class _Echo:
    def write(self, value):
        return value


def export_filename(dataset, revision: int, fmt: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in dataset.name) or "dataset"
    return f"{safe}-r{revision}.{fmt}"


def export_csv(team, dataset, revision: int) -> Iterator[str]:
    """CSV lines of the dataset at `revision`: one column per input variable.

    Runs lazily inside a StreamingHttpResponse, after the request's team scope has ended,
    so it enters the scope itself.
    """
    writer = csv.writer(_Echo())
    with team_scope(team):
        rows = examples_at_revision(dataset, revision)
        variables: list[str] = []
        seen = set()
        for input_value in rows.values_list("input", flat=True).iterator(chunk_size=2000):
            for key in input_value or {}:
                if key not in seen:
                    seen.add(key)
                    variables.append(key)
        yield writer.writerow(
            ["example_id", *variables, "expected", "metadata", "split", "source", "source_ref"]
        )
        for row in rows.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    str(row.example_id),
                    *(_cell((row.input or {}).get(v)) for v in variables),
                    _cell(row.expected),
                    _cell(row.metadata) if row.metadata else "",
                    _cell(row.split),
                    row.source,
                    _cell(row.source_ref),
                ]
            )


def export_jsonl(team, dataset, revision: int) -> Iterator[str]:
    with team_scope(team):
        for row in examples_at_revision(dataset, revision).iterator(chunk_size=2000):
            yield (
                json.dumps(
                    {
                        "example_id": str(row.example_id),
                        "input": row.input,
                        "expected": row.expected,
                        "metadata": row.metadata,
                        "split": row.split,
                        "source": row.source,
                        "source_ref": row.source_ref,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )


EXPORTERS = {
    "csv": (export_csv, "text/csv; charset=utf-8"),
    "jsonl": (export_jsonl, "application/x-ndjson"),
}


def export_response(*, team, dataset, revision: int, fmt: str):
    from django.http import StreamingHttpResponse

    if fmt not in EXPORTERS:
        raise ValidationFailed("Export as csv or jsonl.", field="format")
    exporter, content_type = EXPORTERS[fmt]
    response = StreamingHttpResponse(exporter(team, dataset, revision), content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="{export_filename(dataset, revision, fmt)}"'
    )
    return response
