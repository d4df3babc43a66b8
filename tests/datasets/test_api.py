from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.datasets import selectors, services
from apps.datasets.models import Example
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def api(name, **kwargs):
    return reverse(f"api:{name}", kwargs=kwargs)


@pytest.fixture
def writer(acme, alice, api_key_for):
    return bearer(api_key_for(acme, alice, scopes=["datasets:write"]))


@pytest.fixture
def reader(acme, alice, api_key_for):
    return bearer(api_key_for(acme, alice, scopes=["datasets:read"]))


@pytest.fixture
def dataset(acme, alice):
    with team_scope(acme):
        return services.dataset_create(team=acme, actor=alice, name="tickets")


def test_it_creates_lists_updates_and_deletes_datasets(api_client, writer, acme):
    created = api_client.post(api("dataset-list"), {"name": "faq"}, format="json", **writer)
    assert created.status_code == 201 and created.json()["current_revision"] == 0
    dataset_id = created.json()["id"]
    listed = api_client.get(api("dataset-list"), **writer).json()
    assert [d["name"] for d in listed["results"]] == ["faq"]
    patched = api_client.patch(
        api("dataset-detail", dataset_id=dataset_id), {"description": "d"}, format="json", **writer
    )
    assert patched.json()["description"] == "d"
    duplicate = api_client.post(api("dataset-list"), {"name": "faq"}, format="json", **writer)
    assert duplicate.status_code == 400 and "already exists" in duplicate.json()["detail"]
    assert (
        api_client.delete(api("dataset-detail", dataset_id=dataset_id), **writer).status_code == 204
    )
    assert api_client.get(api("dataset-detail", dataset_id=dataset_id), **writer).status_code == 404


def test_it_reads_with_datasets_read_but_writes_only_with_datasets_write(
    api_client, reader, writer, dataset
):
    assert api_client.get(api("dataset-detail", dataset_id=dataset.pk), **reader).status_code == 200
    refused = api_client.post(
        api("dataset-examples", dataset_id=dataset.pk),
        {"input": {"q": "a"}},
        format="json",
        **reader,
    )
    assert refused.status_code == 403
    ok = api_client.post(
        api("dataset-examples", dataset_id=dataset.pk),
        {"input": {"q": "a"}},
        format="json",
        **writer,
    )
    assert ok.status_code == 201 and ok.json()["valid_from"] == 1


def test_it_lets_session_viewers_read_but_not_write(client, carol, dataset):
    client.force_login(carol)
    url = reverse(
        "team_api:dataset-examples", kwargs={"team_slug": "acme", "dataset_id": dataset.pk}
    )
    assert client.get(url).status_code == 200
    response = client.post(url, {"input": {"q": "a"}}, content_type="application/json")
    assert response.status_code == 403


def test_it_edits_deletes_and_lists_examples_by_revision(api_client, writer, dataset):
    url = api("dataset-examples", dataset_id=dataset.pk)
    first = api_client.post(url, {"input": {"q": "a"}, "expected": "x"}, format="json", **writer)
    example_id = first.json()["example_id"]
    bulk = api_client.post(
        api("dataset-examples-bulk", dataset_id=dataset.pk),
        {"rows": [{"input": {"q": str(i)}, "split": "test"} for i in range(60)]},
        format="json",
        **writer,
    )
    assert bulk.status_code == 201 and bulk.json()["number"] == 2 and bulk.json()["added"] == 60
    detail = api("dataset-example", dataset_id=dataset.pk, example_id=example_id)
    edited = api_client.patch(detail, {"expected": {"label": "y"}}, format="json", **writer)
    assert edited.status_code == 200 and edited.json()["expected"] == {"label": "y"}
    assert api_client.delete(detail, **writer).status_code == 204

    page = api_client.get(url, {"revision": 3}, **writer).json()
    assert page["count"] == 61 and len(page["results"]) == 50
    assert page["results"][0]["expected"] == {"label": "y"}
    assert api_client.get(url, {"revision": 1}, **writer).json()["results"][0]["expected"] == "x"
    assert api_client.get(url, **writer).json()["count"] == 60
    assert api_client.get(url, {"split": "test", "q": "59"}, **writer).json()["count"] == 1
    assert api_client.get(url, {"revision": 99}, **writer).status_code == 404
    old = api_client.get(detail, {"revision": 1}, **writer)
    assert old.status_code == 200 and old.json()["valid_to"] == 3
    assert api_client.get(detail, **writer).status_code == 404  # deleted in the current one
    revisions = api_client.get(api("dataset-revisions", dataset_id=dataset.pk), **writer).json()
    assert [
        (r["number"], r["added"], r["changed"], r["removed"]) for r in revisions["results"]
    ] == [
        (4, 0, 0, 1),
        (3, 0, 1, 0),
        (2, 60, 0, 0),
        (1, 1, 0, 0),
        (0, 0, 0, 0),
    ]


def test_it_refuses_a_bulk_create_with_one_bad_row_and_writes_nothing(api_client, writer, dataset):
    response = api_client.post(
        api("dataset-examples-bulk", dataset_id=dataset.pk),
        {"rows": [{"input": {"q": "a"}}, {"input": "not an object"}]},
        format="json",
        **writer,
    )
    assert response.status_code == 400 and "Row 2" in response.json()["detail"]
    with team_scope(dataset.team):
        assert Example.objects.filter(dataset=dataset).count() == 0


def test_it_uploads_a_csv_with_a_mapping(api_client, writer, dataset):
    data = b"ticket,label,who\nMy card,billing,ann\nLogin fails,auth,bob\n"
    response = api_client.post(
        api("dataset-upload", dataset_id=dataset.pk),
        {
            "file": SimpleUploadedFile("t.csv", data),
            "mapping": json.dumps({"ticket": "input", "label": "expected", "who": "metadata"}),
        },
        format="multipart",
        **writer,
    )
    assert response.status_code == 201, response.content
    assert response.json()["added"] == 2
    with team_scope(dataset.team):
        rows = list(selectors.examples_at_revision(dataset, 1))
    assert [(r.input, r.expected, r.metadata) for r in rows] == [
        ({"ticket": "My card"}, "billing", {"who": "ann"}),
        ({"ticket": "Login fails"}, "auth", {"who": "bob"}),
    ]


def test_it_previews_an_upload_without_writing(api_client, writer, dataset):
    data = "\n".join(json.dumps({"q": f"q{i}", "expected": i}) for i in range(30)).encode()
    response = api_client.post(
        api("dataset-upload", dataset_id=dataset.pk),
        {"file": SimpleUploadedFile("t.jsonl", data), "preview": "true"},
        format="multipart",
        **writer,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["columns"] == ["q", "expected"] and len(body["rows"]) == 20
    with team_scope(dataset.team):
        assert Example.objects.filter(dataset=dataset).count() == 0


def test_it_names_the_line_of_a_bad_upload_and_writes_nothing(api_client, writer, dataset):
    response = api_client.post(
        api("dataset-upload", dataset_id=dataset.pk),
        {"file": SimpleUploadedFile("t.jsonl", b'{"q": 1}\n{"q": 2}\n[3]\n')},
        format="multipart",
        **writer,
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "Line 3: expected a JSON object, found an array."
    with team_scope(dataset.team):
        assert Example.objects.filter(dataset=dataset).count() == 0


def test_it_refuses_an_upload_over_the_limit(api_client, writer, dataset, settings):
    settings.PROMPTYARD_IMPORT_MAX_BYTES = 1024
    response = api_client.post(
        api("dataset-upload", dataset_id=dataset.pk),
        {"file": SimpleUploadedFile("t.csv", b"q\n" + b"x\n" * 1000)},
        format="multipart",
        **writer,
    )
    assert response.status_code == 400 and "the limit is 1.0 KB" in response.json()["detail"]


def test_it_exports_a_revision(api_client, reader, acme, alice, dataset):
    with team_scope(acme):
        services.example_create(team=acme, actor=alice, dataset=dataset, input={"q": "=1+1"})
        services.example_create(team=acme, actor=alice, dataset=dataset, input={"q": "b"})
    jsonl = api_client.get(api("dataset-export", dataset_id=dataset.pk), {"revision": 1}, **reader)
    assert jsonl.status_code == 200
    lines = b"".join(jsonl.streaming_content).decode().splitlines()
    assert [json.loads(line)["input"] for line in lines] == [{"q": "=1+1"}]
    as_csv = api_client.get(api("dataset-export", dataset_id=dataset.pk), {"as": "csv"}, **reader)
    rows = list(csv.reader(io.StringIO(b"".join(as_csv.streaming_content).decode())))
    assert [row[1] for row in rows] == ["q", "'=1+1", "b"]


def test_it_hides_another_teams_dataset(api_client, globex, dave, api_key_for, dataset):
    raw = api_key_for(globex, dave, scopes=["datasets:write"])
    assert (
        api_client.get(api("dataset-detail", dataset_id=dataset.pk), **bearer(raw)).status_code
        == 404
    )
    assert api_client.get(api("dataset-list"), **bearer(raw)).json()["count"] == 0
