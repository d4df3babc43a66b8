from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core.errors import ValidationFailed
from apps.datasets import exporting, importing, parsing, selectors, services
from apps.datasets.models import Example, PendingUpload
from apps.datasets.parsing import ImportFailed

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(acme_scope, alice):
    return services.dataset_create(team=acme_scope, actor=alice, name="tickets")


def chunks_of(data: bytes, size: int = 7):
    """A chunk source with tiny chunks, so every boundary case is crossed."""

    def source():
        for i in range(0, len(data), size):
            yield data[i : i + size]

    return source


def parse(data: bytes, fmt: str, size: int = 7):
    return [(r.line, r.values) for r in parsing.records(chunks_of(data, size)(), fmt)]


def _import(team, actor, dataset, name, data, mapping=None, fmt=""):
    return importing.import_file(
        team=team,
        actor=actor,
        dataset=dataset,
        uploaded=SimpleUploadedFile(name, data),
        fmt=fmt,
        mapping=mapping,
    )


def assert_nothing_written(dataset):
    dataset.refresh_from_db()
    assert dataset.current_revision == 0
    assert Example.objects.filter(dataset=dataset).count() == 0


# --- parsing -----------------------------------------------------------------------------


def test_it_parses_csv_with_quoted_newlines_across_chunks():
    data = b'ticket,label\n"line one\nline two",billing\nplain,"a, b"\n'
    assert parse(data, "csv", size=3) == [
        (2, {"ticket": "line one\nline two", "label": "billing"}),
        (4, {"ticket": "plain", "label": "a, b"}),
    ]


def test_it_parses_jsonl_and_skips_blank_lines():
    data = b'{"a": 1}\n\n{"a": "\xc3\xa9t\xc3\xa9"}\n'
    assert parse(data, "jsonl", size=2) == [(1, {"a": 1}), (3, {"a": "été"})]


def test_it_streams_a_json_array_across_chunk_boundaries():
    items = [{"input": {"q": f"question {i}"}, "expected": "x" * (i % 13)} for i in range(300)]
    data = json.dumps(items, indent=1).encode()
    parsed = parse(data, "json", size=5)
    assert [values for _, values in parsed] == items
    assert parsed[0][0] == 2  # line of the first element


def test_it_reads_the_upload_in_chunks_never_whole(monkeypatch):
    """The parser pulls chunk after chunk and stops early for a preview."""
    pulled = []
    data = b"q\n" + b"".join(f"row {i}\n".encode() for i in range(10_000))

    def source():
        for i in range(0, len(data), 1024):
            pulled.append(i)
            yield data[i : i + 1024]

    rows = importing.preview(source, "csv", {"q": "input"})
    assert len(rows) == importing.PREVIEW_ROWS
    assert len(pulled) == 1  # 20 rows fit in the first chunk: the rest was never read


# --- malformed input: each names the line, and nothing is written -------------------------


@pytest.mark.parametrize(
    "name,data,fmt,message",
    [
        ("r.csv", b"q,label\na,b\nc\n", "", "Line 3: expected 2 columns like the header, found 1"),
        ("r.csv", b"q,label\na,b,c\n", "", "Line 2: expected 2 columns"),
        ("r.csv", b'q,label\n"a\nb",c\n"x",y,z\n', "", "Line 4: expected 2 columns"),
        ("n.csv", b"q,label\na,b\nc\x00,d\n", "", "Line 3: input contains a NUL character"),
        ("d.csv", b"q,q\na,b\n", "", "Line 1: the header names column 'q' twice"),
        (
            "deep.jsonl",
            b'{"a": 1}\n' + b'{"a":' * 5000 + b"1" + b"}" * 5000,
            "",
            "Line 2: the JSON",
        ),
        ("deep.json", b'[{"a": 1},\n' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"]", "", "Line 2"),
        ("nul.jsonl", b'{"q": "a\\u0000b"}\n', "", "Line 1: input contains a NUL"),
        ("u.csv", b"q\nok\ncaf\xe9\n", "", "Line 3: the file is not valid UTF-8"),
        ("u.jsonl", b'{"q": "a"}\n{"q": "\xff"}\n', "", "Line 2: the file is not valid UTF-8"),
        ("l.jsonl", b'{"q": "a"}\n["q"]\n', "", "Line 2: expected a JSON object, found an array"),
        ("l.jsonl", b'{"q": "a"}\n{"q": \n', "", "Line 2: not valid JSON"),
        ("m.jsonl", b'{"q": "a"}\n{"other": "b"}\n', "", "Line 2: missing mapped column 'q'"),
        ("m.json", b'[{"q": "a"},\n {"z": 1}]', "", "Line 2: missing mapped column 'q'"),
        ("a.json", b'[{"q": "a"},\n 3]', "", "Line 2: expected a JSON object, found a number"),
        ("a.json", b'[{"q": "a"},\n {"q": "b"}', "", "the array is closed"),
        ("a.json", b'[{"q": "a"}\n {"q": "b"}]', "", "Line 2: expected ',' or ']'"),
        ("a.json", b"[]", "", "The JSON array is empty"),
        ("e.csv", b"", "", "The file is empty"),
        ("e.csv", b"\n\n", "", "The file is empty"),
        ("e.jsonl", b"\n", "", "The file is empty"),
        ("e.json", b"  ", "", "The file is empty"),
        ("h.csv", b"q\n", "", "There are no rows to add"),
    ],
)
def test_it_refuses_malformed_files_and_writes_nothing(
    acme_scope, alice, dataset, name, data, fmt, message
):
    with pytest.raises(ValidationFailed) as caught:
        _import(acme_scope, alice, dataset, name, data, fmt=fmt)
    assert message in caught.value.message
    assert_nothing_written(dataset)


def test_it_refuses_a_bad_row_after_many_good_batches(acme_scope, alice, dataset):
    lines = ["ticket,label"] + [f"t{i},l{i}" for i in range(2500)] + ["only-one-cell"]
    with pytest.raises(ImportFailed, match="Line 2502: expected 2 columns"):
        _import(acme_scope, alice, dataset, "big.csv", "\n".join(lines).encode())
    assert_nothing_written(dataset)


def test_it_refuses_a_mapping_to_a_column_the_file_lacks(acme_scope, alice, dataset):
    with pytest.raises(ImportFailed, match="column 'nope'"):
        _import(acme_scope, alice, dataset, "a.csv", b"q\nx\n", mapping={"nope": "input"})
    assert_nothing_written(dataset)


def test_it_refuses_a_file_over_the_limit_before_parsing(
    acme_scope, alice, dataset, settings, monkeypatch
):
    settings.PROMPTYARD_IMPORT_MAX_BYTES = 100

    def never(*args, **kwargs):
        raise AssertionError("parsed a file over the limit")

    monkeypatch.setattr(importing, "records", never)
    monkeypatch.setattr(importing, "read_columns", never)
    with pytest.raises(ImportFailed, match="the limit is 100 bytes"):
        _import(acme_scope, alice, dataset, "big.csv", b"q\n" + b"x\n" * 100)
    with pytest.raises(ImportFailed, match="the limit"):
        importing.pending_upload_create(
            team=acme_scope,
            actor=alice,
            dataset=dataset,
            uploaded=SimpleUploadedFile("big.csv", b"q\n" + b"x\n" * 100),
        )
    assert PendingUpload.objects.count() == 0
    assert_nothing_written(dataset)


# --- mapping and commit --------------------------------------------------------------------


def test_it_maps_csv_columns_to_input_expected_metadata_split(acme_scope, alice, dataset):
    data = b"ticket,customer,label,priority,split,junk\nMy card,Ann,billing,high,train,x\n"
    revision = _import(
        acme_scope,
        alice,
        dataset,
        "t.csv",
        data,
        mapping={
            "ticket": "input",
            "customer": "input:name",
            "label": "expected",
            "priority": "metadata",
            "split": "split",
            "junk": "ignore",
        },
    )
    assert revision.number == 1 and revision.added == 1
    row = selectors.examples_at_revision(dataset).get()
    assert row.input == {"ticket": "My card", "name": "Ann"}
    assert row.expected == "billing"
    assert row.metadata == {"priority": "high"}
    assert row.split == "train" and row.source == "upload"


def test_it_takes_structured_json_rows_as_they_are(acme_scope, alice, dataset):
    items = [
        {"input": {"q": "a"}, "expected": {"label": "x"}, "metadata": {"k": 1}, "split": "dev"},
        {"input": {"q": "b"}, "expected": None, "metadata": {}, "split": "test"},
    ]
    _import(acme_scope, alice, dataset, "s.json", json.dumps(items).encode())
    rows = list(selectors.examples_at_revision(dataset))
    assert [(r.input, r.expected, r.metadata, r.split) for r in rows] == [
        ({"q": "a"}, {"label": "x"}, {"k": 1}, "dev"),
        ({"q": "b"}, None, {}, "test"),
    ]


def test_it_previews_then_commits_a_pending_upload(acme_scope, alice, dataset, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    data = "q,label\n" + "".join(f"question {i},l{i}\n" for i in range(45))
    upload = importing.pending_upload_create(
        team=acme_scope,
        actor=alice,
        dataset=dataset,
        uploaded=SimpleUploadedFile("p.csv", data.encode()),
    )
    assert upload.columns == ["q", "label"] and upload.format == "csv"
    mapping = importing.default_mapping(upload.columns)
    assert mapping == {"q": "input", "label": "expected"}
    rows = importing.preview(importing.upload_source(upload), upload.format, mapping)
    assert len(rows) == 20 and rows[0]["input"] == {"q": "question 0"}
    assert_nothing_written(dataset)
    stored = tmp_path / upload.stored_path
    assert stored.exists()

    revision = importing.pending_upload_commit(
        team=acme_scope, actor=alice, upload=upload, mapping=mapping
    )
    assert revision.added == 45
    assert selectors.examples_at_revision(dataset).count() == 45
    assert not stored.exists() and PendingUpload.objects.count() == 0


# --- export --------------------------------------------------------------------------------


def test_it_neutralises_formulas_in_csv_exports(acme_scope, alice, dataset):
    services.examples_bulk_create(
        team=acme_scope,
        actor=alice,
        dataset=dataset,
        rows=[
            {"input": {"q": '=HYPERLINK("http://evil")'}, "expected": "+1"},
            {"input": {"q": "-2+3"}, "expected": "@SUM(A1)"},
            {"input": {"q": "\tx"}, "expected": "\r=1"},
        ],
    )
    body = "".join(exporting.export_csv(acme_scope, dataset, dataset.current_revision))
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["example_id", "q", "expected", "metadata", "split", "source", "source_ref"]
    cells = [cell for row in rows[1:] for cell in row[1:]]
    assert '\'=HYPERLINK("http://evil")' in cells and "'+1" in cells
    assert "'-2+3" in cells and "'@SUM(A1)" in cells and "'\tx" in cells and "'\r=1" in cells
    assert not any(c[:1] in "=+-@\t\r" and c for c in cells)


def test_it_exports_any_revision_as_jsonl(acme_scope, alice, dataset):
    row = services.example_create(team=acme_scope, actor=alice, dataset=dataset, input={"q": "a"})
    services.example_update(
        team=acme_scope, actor=alice, dataset=dataset, example_id=row.example_id, input={"q": "b"}
    )
    old = [json.loads(line) for line in exporting.export_jsonl(acme_scope, dataset, 1)]
    new = [json.loads(line) for line in exporting.export_jsonl(acme_scope, dataset, 2)]
    assert [r["input"] for r in old] == [{"q": "a"}]
    assert [r["input"] for r in new] == [{"q": "b"}]
    assert old[0]["example_id"] == new[0]["example_id"] == str(row.example_id)


def test_it_round_trips_an_export_through_import(acme_scope, alice, dataset):
    services.examples_bulk_create(
        team=acme_scope,
        actor=alice,
        dataset=dataset,
        rows=[{"input": {"q": f"q{i}", "ctx": "c"}, "expected": f"e{i}"} for i in range(5)],
    )
    body = "".join(exporting.export_jsonl(acme_scope, dataset, 1)).encode()
    copy = services.dataset_create(team=acme_scope, actor=alice, name="copy")
    _import(acme_scope, alice, copy, "copy.jsonl", body)
    assert [r.input for r in selectors.examples_at_revision(copy)] == [
        r.input for r in selectors.examples_at_revision(dataset)
    ]


def test_it_removes_pending_files_with_their_dataset(
    acme_scope, alice, dataset, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.VAR_DIR = tmp_path
    upload = importing.pending_upload_create(
        team=acme_scope,
        actor=alice,
        dataset=dataset,
        uploaded=SimpleUploadedFile("a.csv", b"q\nx\n"),
    )
    stored = tmp_path / upload.stored_path
    assert stored.exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_delete(team=acme_scope, actor=alice, dataset=dataset)
    assert not stored.exists()


# --- budgets: width, depth, hostile numbers, cost linear in the file ---------------------


@pytest.mark.parametrize(
    "name, data, says",
    [
        (
            "wide.csv",
            (",".join(f"c{i}" for i in range(1001)) + "\n").encode(),
            "Line 1: 1001 columns; the limit is 1000 columns per row.",
        ),
        (
            "wide.jsonl",
            b'{"q": 1}\n' + json.dumps({f"k{i}": i for i in range(1001)}).encode() + b"\n",
            "Line 2: 1001 columns; the limit is 1000 columns per row.",
        ),
        (
            "wide-inside.json",
            b'[\n{"q": 1},\n{"q": '
            + json.dumps({f"k{i}": i for i in range(1001)}).encode()
            + b"}]",
            "Line 3: an object with 1001 keys; the limit is 1000 keys.",
        ),
        (
            "deep.jsonl",
            b'{"q": ' + b"[" * 100 + b"]" * 100 + b"}\n",
            "Line 1: the JSON is nested deeper than 64 levels.",
        ),
        (
            "big-number.json",
            b'[{"q": 1},\n {"q": ' + b"9" * 5000 + b"}]",
            "Line 2: a number has more than 4300 digits.",
        ),
        (
            "big-number.jsonl",
            b'{"q": 1}\n{"q": 2}\n{"q": -' + b"1" * 5000 + b"}\n",
            "Line 3: a number has more than 4300 digits.",
        ),
    ],
)
def test_it_refuses_wide_deep_and_huge_rows_naming_the_line(
    acme_scope, alice, dataset, name, data, says
):
    with pytest.raises(ImportFailed) as caught:
        _import(acme_scope, alice, dataset, name, data)
    assert caught.value.message == says
    assert_nothing_written(dataset)


def test_it_takes_the_width_limit_from_the_settings(acme_scope, alice, dataset, settings):
    settings.PROMPTYARD_IMPORT_MAX_COLUMNS = 3
    with pytest.raises(ImportFailed, match="Line 1: 4 columns; the limit is 3"):
        _import(acme_scope, alice, dataset, "t.csv", b"a,b,c,d\n1,2,3,4\n")
    _import(acme_scope, alice, dataset, "t.csv", b"a,b,c\n1,2,3\n")
    assert Example.objects.filter(dataset=dataset).count() == 1


def test_it_answers_a_huge_number_with_a_400_through_the_api(api_client, acme, alice, api_key_for):
    from django.urls import reverse

    from apps.core.tenancy import team_scope
    from tests.conftest import bearer

    with team_scope(acme):
        dataset = services.dataset_create(team=acme, actor=alice, name="numbers")
    response = api_client.post(
        reverse("api:dataset-upload", kwargs={"dataset_id": dataset.pk}),
        {"file": SimpleUploadedFile("n.json", b'[{"q": ' + b"7" * 5000 + b"}]")},
        format="multipart",
        **bearer(api_key_for(acme, alice, scopes=["datasets:write"])),
    )
    assert response.status_code == 400
    assert "Line 1: a number has more than 4300 digits" in response.json()["detail"]


class CountingStr(str):
    """A column name that counts the comparisons made with it."""

    comparisons = 0
    __hash__ = str.__hash__

    def __eq__(self, other):
        CountingStr.comparisons += 1
        return str.__eq__(self, other)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_it_imports_a_wide_row_with_work_linear_in_its_width(acme_scope, alice, dataset, fmt):
    """Mapping 1,000 columns compares each name about twice (a dict and a set lookup), not
    once per other column: with a list lookup per column, 1,000 columns cost 500,000
    comparisons and 50,000 columns (a 750 KB file) took 139 s."""
    width = 1000
    names = [f"col{i}" for i in range(width)]
    if fmt == "csv":
        data = (",".join(names) + "\n" + ",".join(str(i) for i in range(width)) + "\n").encode()
    else:
        data = (json.dumps(dict(zip(names, range(width), strict=True))) + "\n").encode()
    mapping = {CountingStr(name): "input" for name in names}
    CountingStr.comparisons = 0
    _import(acme_scope, alice, dataset, f"wide.{fmt}", data, mapping=mapping)
    assert CountingStr.comparisons <= 3 * width
    (example,) = Example.objects.filter(dataset=dataset)
    assert len(example.input) == width


def test_it_parses_a_long_json_value_in_work_linear_in_its_size(monkeypatch):
    """A value spanning many chunks is re-parsed after reading as much again as is pending,
    not after every chunk: the characters handed to the JSON parser stay within a small
    multiple of the file's size (one chunk at a time, this 1.2 MB file costs ~700 MB)."""
    scanned = 0

    class CountingDecoder(json.JSONDecoder):
        def raw_decode(self, s, idx=0):
            nonlocal scanned
            scanned += len(s) - idx
            return super().raw_decode(s, idx)

    monkeypatch.setattr(parsing.json, "JSONDecoder", CountingDecoder)
    data = ("[" + json.dumps({"q": "x" * 1_200_000}) + ', {"q": 2}]').encode()
    rows = parse(data, "json", size=1024)
    assert [len(str(values["q"])) for _, values in rows] == [1_200_000, 1]
    assert scanned <= 4 * len(data)


def test_it_splits_long_lines_across_many_chunks():
    line = json.dumps({"q": "y" * 300_000})
    data = (line + "\n" + line + "\n").encode()
    rows = parse(data, "jsonl", size=1000)
    assert [(number, len(values["q"])) for number, values in rows] == [(1, 300_000), (2, 300_000)]
