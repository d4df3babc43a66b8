"""Export (CSV, JSONL) of a dataset as it was at one revision, streamed row by row."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django.http import StreamingHttpResponse

from apps.core.errors import ValidationFailed
from apps.core.tenancy import team_scope
from apps.datasets.selectors import examples_at_revision

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
    if fmt not in EXPORTERS:
        raise ValidationFailed("Export as csv or jsonl.", field="format")
    exporter, content_type = EXPORTERS[fmt]
    response = StreamingHttpResponse(exporter(team, dataset, revision), content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="{export_filename(dataset, revision, fmt)}"'
    )
    return response
