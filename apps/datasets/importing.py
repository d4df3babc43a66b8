"""Import (CSV, JSONL, JSON array) of dataset examples: columns mapped to an example's fields,
previewed, then written as one revision through `examples_bulk_create` (one transaction),
so a failure writes nothing. The files themselves are read by `parsing`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.datasets.fields import clean_example_fields
from apps.datasets.models import PendingUpload
from apps.datasets.parsing import (
    CHUNK_SIZE,
    PARSERS,
    ChunkSource,
    ImportFailed,
    Record,
    check_size,
    file_chunks,
    first_bytes,
    guess_format,
    read_columns,
    records,
    uploaded_file_source,
)
from apps.datasets.permissions import require_edit
from apps.datasets.services import examples_bulk_create
from apps.teams.audit import audit_record
from apps.teams.permissions import actor_user

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


# --- mapping -------------------------------------------------------------------------------


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
    known = set(columns)  # `in` a list, per column, was quadratic in a wide file
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
        if column not in known:
            shown = ", ".join(columns[:20]) + (", …" if len(columns) > 20 else "")
            raise ImportFailed(
                f"The mapping names column '{column}', which the file does not have "
                f"(columns: {shown}).",
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


def map_record(record: Record, mapping: dict[str, str]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    row: dict[str, Any] = {
        "input": inputs,
        "expected": None,
        "metadata": metadata,
        "split": "",
        "line": record.line,
    }
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
                inputs.update(value)  # {"input": {...}} rows: the object is the input
            else:
                inputs[name] = value
        elif base == TARGET_EXPECTED:
            row["expected"] = value
        elif base == TARGET_METADATA:
            if column in {"metadata", "meta"} and isinstance(value, dict):
                metadata.update(value)
            else:
                metadata[column] = value
        elif base == TARGET_SPLIT:
            row["split"] = "" if value is None else str(value)
    return row


def mapped_rows(source: ChunkSource, fmt: str, mapping: dict[str, str]) -> Iterator[dict]:
    for record in records(source(), fmt):
        yield map_record(record, mapping)


def preview(source: ChunkSource, fmt: str, mapping: dict[str, str], limit: int = PREVIEW_ROWS):
    """The first `limit` mapped rows; stops reading the file once it has them."""
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


def upload_source(upload: PendingUpload) -> ChunkSource:
    return file_chunks(upload.file_path)


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
    upload.file_path.unlink(missing_ok=True)
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
