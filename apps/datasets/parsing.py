"""Reading import files as streams: bytes arrive in chunks, are decoded incrementally and
turned into records one at a time, so a 50 MB file is never held whole. The size limit is
checked before any parsing; a parse error names the line and the problem."""

from __future__ import annotations

import codecs
import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from apps.core.errors import ValidationFailed
from apps.datasets.models import UploadFormat

CHUNK_SIZE = 64 * 1024


class ImportFailed(ValidationFailed):
    """A file could not be imported; the message names the line and the problem."""


ChunkSource = Callable[[], Iterable[bytes]]


# --- size and format -----------------------------------------------------------------------


def max_bytes() -> int:
    return int(getattr(settings, "PROMPTYARD_IMPORT_MAX_BYTES", 50 * 1024 * 1024))


def max_columns() -> int:
    """Columns of a CSV row, keys of any object in a JSON row."""
    return int(getattr(settings, "PROMPTYARD_IMPORT_MAX_COLUMNS", 1000))


def max_depth() -> int:
    """Levels of objects and arrays in a JSON row."""
    return int(getattr(settings, "PROMPTYARD_IMPORT_MAX_DEPTH", 64))


def _human(size: float) -> str:
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
    """Lines with their endings, from decoded chunks, holding at most one partial line.
    Linear in the file: a line longer than a chunk is kept in pieces and joined once
    (appending to one string and searching it again per chunk is quadratic in the line)."""
    pieces: list[str] = []  # the current, unfinished line
    for text in _decoded(chunks):
        start = 0
        while True:
            end = text.find("\n", start)
            if end < 0:
                break
            if pieces:
                pieces.append(text[start : end + 1])
                yield "".join(pieces)
                pieces = []
            else:
                yield text[start : end + 1]
            start = end + 1
        if start < len(text):
            pieces.append(text[start:])
    if pieces:
        yield "".join(pieces)


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


def _check_width(count: int, line: int) -> None:
    limit = max_columns()
    if count > limit:
        raise ImportFailed(
            f"Line {line}: {count} columns; the limit is {limit} columns per row.", field="file"
        )


def _check_header(header: list[str], line: int) -> None:
    _check_width(len(header), line)
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
    _check_row_shape(value, line)
    return value


def _check_row_shape(row: dict, line: int) -> None:
    """A JSON row's width (keys of the row and of every object in it) and depth, walked
    without recursion in time linear in the row."""
    _check_width(len(row), line)
    width, depth_limit = max_columns(), max_depth()
    stack = [(row, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if len(item) > width:
                raise ImportFailed(
                    f"Line {line}: an object with {len(item)} keys; the limit is {width} keys.",
                    field="file",
                )
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > depth_limit:
            raise ImportFailed(
                f"Line {line}: the JSON is nested deeper than {depth_limit} levels.", field="file"
            )
        stack.extend((child, depth + 1) for child in children)


def _too_many_digits(line: int) -> ImportFailed:
    return ImportFailed(
        f"Line {line}: a number has more than {sys.get_int_max_str_digits()} digits.",
        field="file",
    )


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
        except ValueError:  # an integer past Python's limit of digits
            raise _too_many_digits(number) from None
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

    def more(self, at_least: int = 1) -> bool:
        """Drop the consumed text and read at least `at_least` more characters (or to the
        end of the file); False when nothing was left to read."""
        if self.eof:
            return False
        self.lines_before += self.buffer.count("\n", self.counted, self.pos)
        parts = [self.buffer[self.pos :]]
        added = 0
        while added < at_least:
            try:
                text = next(self.texts)
            except StopIteration:
                self.eof = True
                break
            parts.append(text)
            added += len(text)
        self.buffer = "".join(parts)
        self.pos = self.counted = 0
        return added > 0

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
                # Probably cut at a chunk boundary: read more, unless the file is over. As
                # much again as is pending, so a value spanning many chunks is parsed a
                # logarithmic number of times, not once per chunk (quadratic).
                if self.more(at_least=max(len(self.buffer) - self.pos, 1)):
                    continue
                line = self.lines_before + self.buffer.count("\n", self.counted, exc.pos) + 1
                raise ImportFailed(
                    f"Line {line}: not valid JSON ({exc.msg}).", field="file"
                ) from None
            except ValueError:  # an integer past Python's limit of digits
                raise _too_many_digits(self.line()) from None
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


# Keyed by the format's text: an UploadFormat is a str, and callers pass either.
PARSERS: dict[str, Callable[[Iterable[bytes]], Iterator[Record]]] = {
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


# --- sources of chunks ----------------------------------------------------------------------


def file_chunks(path: Path) -> ChunkSource:
    def source():
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                yield chunk

    return source


def uploaded_file_source(uploaded) -> ChunkSource:
    """Chunks of a Django UploadedFile, re-readable (it seeks to the start each time)."""

    def source():
        yield from uploaded.chunks(CHUNK_SIZE)

    return source


def first_bytes(uploaded) -> bytes:
    for chunk in uploaded.chunks(CHUNK_SIZE):
        return chunk[:512]
    return b""
