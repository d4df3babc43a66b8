"""POST /api/v1/scores/ (one and a batch) and GET: validation naming the field,
idempotency by the client's id, tenancy, scopes."""

from __future__ import annotations

import pytest

from apps.core.tenancy import team_scope
from apps.traces.models import TraceScore
from tests.conftest import bearer
from tests.traces.helpers import hex_id, ingest, raw_span

pytestmark = pytest.mark.django_db

TRACE = hex_id(1, 16)
ROOT = hex_id(101, 8)
CHILD = hex_id(201, 8)


@pytest.fixture
def trace(acme, alice):
    ingest(
        acme,
        alice,
        [
            raw_span(TRACE, ROOT, name="answer"),
            raw_span(TRACE, CHILD, parent=ROOT, name="chat", start_ms=1),
        ],
    )
    return TRACE


@pytest.fixture
def writer(acme, alice, api_key_for):
    return api_key_for(acme, alice, scopes=["traces:write"], name="app")


def _post(api_client, raw, body):
    return api_client.post("/api/v1/scores/", body, format="json", **bearer(raw))


def _scores(team):
    with team_scope(team):
        return list(TraceScore.objects.order_by("id"))


def test_it_records_boolean_number_and_category_scores(api_client, acme, trace, writer):
    thumbs = _post(api_client, writer, {"trace_id": trace, "name": "thumbs", "value": True})
    assert thumbs.status_code == 201, thumbs.json()
    assert thumbs.json()["value"] is True and thumbs.json()["kind"] == "boolean"
    rating = _post(
        api_client,
        writer,
        {
            "trace_id": trace.upper(),
            "span_id": CHILD,
            "name": "rating",
            "value": 4.5,
            "comment": "close",
            "author": "user-42",
            "source": "sdk",
        },
    )
    assert rating.status_code == 201, rating.json()
    assert rating.json()["span_id"] == CHILD and rating.json()["value"] == 4.5
    tone = _post(api_client, writer, {"trace_id": trace, "name": "tone", "value": "polite"})
    assert tone.json()["value"] == "polite" and tone.json()["kind"] == "category"
    stored = _scores(acme)
    assert [(s.name, s.kind, s.value, s.category) for s in stored] == [
        ("thumbs", "boolean", 1.0, ""),
        ("rating", "number", 4.5, ""),
        ("tone", "category", None, "polite"),
    ]
    assert stored[1].author == "user-42" and stored[1].source == "sdk"
    assert stored[0].source == "api" and stored[0].created_by_id is not None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "thumbs", "value": True}, "trace_id"),
        ({"trace_id": "xyz", "name": "thumbs", "value": True}, "trace_id"),
        ({"trace_id": TRACE, "span_id": "12", "name": "thumbs", "value": True}, "span_id"),
        ({"trace_id": TRACE, "name": "", "value": True}, "name"),
        ({"trace_id": TRACE, "name": "x" * 101, "value": True}, "name"),
        ({"trace_id": TRACE, "name": "thumbs"}, "value"),
        ({"trace_id": TRACE, "name": "thumbs", "value": {"a": 1}}, "value"),
        ({"trace_id": TRACE, "name": "thumbs", "value": "NaN" and float("inf")}, "value"),
        ({"trace_id": TRACE, "name": "thumbs", "value": 3, "kind": "boolean"}, "value"),
        ({"trace_id": TRACE, "name": "thumbs", "value": 3, "kind": "huge"}, "kind"),
        ({"trace_id": TRACE, "name": "thumbs", "value": 3, "source": "robot"}, "source"),
        ({"trace_id": TRACE, "name": "thumbs", "value": 3, "colour": "red"}, "colour"),
        ({"trace_id": TRACE, "name": "thumbs", "value": 3, "comment": 7}, "comment"),
    ],
)
def test_it_refuses_bad_scores_naming_the_field(api_client, acme, trace, writer, body, field):
    if body.get("value") == float("inf"):
        # JSON has no infinity: send it the way Python's json module would.
        import json

        response = api_client.post(
            "/api/v1/scores/",
            json.dumps(body),
            content_type="application/json",
            **bearer(writer),
        )
        assert response.status_code == 400
        return
    response = _post(api_client, writer, body)
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert _scores(acme) == []


def test_a_batch_is_all_or_nothing_and_names_the_row(api_client, acme, trace, writer):
    good = {"trace_id": trace, "name": "thumbs", "value": False}
    response = _post(api_client, writer, {"scores": [good, {**good, "value": None}, good]})
    assert response.status_code == 400
    assert "scores[1].value" in response.json()["errors"]
    missing = _post(api_client, writer, [good, {**good, "trace_id": hex_id(99, 16)}])
    assert missing.status_code == 404
    assert "scores[1].trace_id" in missing.json()["errors"]
    assert _scores(acme) == []
    ok = _post(api_client, writer, [good, {**good, "span_id": ROOT, "name": "helpful"}])
    assert ok.status_code == 200, ok.json()
    assert ok.json()["created"] == 2 and len(_scores(acme)) == 2


def test_it_is_idempotent_by_the_clients_id(api_client, acme, trace, writer):
    body = {"id": "fb-1", "trace_id": trace, "name": "thumbs", "value": True}
    assert _post(api_client, writer, body).status_code == 201
    again = _post(api_client, writer, body)
    assert again.status_code == 200 and again.json()["id"] == "fb-1"
    changed = _post(api_client, writer, {**body, "value": False, "comment": "changed my mind"})
    assert changed.status_code == 200
    (score,) = _scores(acme)
    assert (score.value, score.comment) == (0.0, "changed my mind")
    other = _post(api_client, writer, {**body, "name": "helpful"})
    assert other.status_code == 409 and "id" in other.json()["errors"]
    batch = _post(api_client, writer, [body, {**body, "id": "fb-2"}, {**body, "id": "fb-2"}])
    assert batch.status_code == 400 and "scores[2].id" in batch.json()["errors"]
    assert len(_scores(acme)) == 1


def test_a_span_must_belong_to_the_trace(api_client, acme, trace, writer):
    response = _post(
        api_client, writer, {"trace_id": trace, "span_id": hex_id(7, 8), "name": "x", "value": 1}
    )
    assert response.status_code == 404 and "span_id" in response.json()["errors"]


def test_another_teams_trace_is_a_404(
    api_client, acme, alice, trace, writer, globex, dave, api_key_for
):
    raw = api_key_for(globex, dave, scopes=["admin"])
    response = _post(api_client, raw, {"trace_id": trace, "name": "thumbs", "value": True})
    assert response.status_code == 404
    assert _scores(acme) == []
    # acme's own score stays out of globex's list, and its id is acme's alone.
    body = {"id": "shared", "trace_id": trace, "name": "thumbs", "value": True}
    assert _post(api_client, writer, body).status_code == 201
    assert api_client.get("/api/v1/scores/", **bearer(raw)).json()["results"] == []
    assert _post(api_client, raw, body).status_code == 404


def test_scopes_write_with_traces_write_and_read_with_traces_read(
    api_client, acme, alice, trace, api_key_for
):
    body = {"trace_id": trace, "name": "thumbs", "value": True}
    reader = api_key_for(acme, alice, scopes=["traces:read"], name="reader")
    sender = api_key_for(acme, alice, scopes=["traces:write"], name="sender")
    prompts = api_key_for(acme, alice, scopes=["prompts:write"], name="prompts")
    assert _post(api_client, reader, body).status_code == 403
    assert _post(api_client, prompts, body).status_code == 403
    assert _post(api_client, sender, body).status_code == 201
    assert api_client.get("/api/v1/scores/", **bearer(sender)).status_code == 403
    listed = api_client.get("/api/v1/scores/", {"name": "thumbs"}, **bearer(reader)).json()
    assert [s["name"] for s in listed["results"]] == ["thumbs"]


def test_a_viewer_cannot_score(client, acme, carol, trace):
    client.force_login(carol)
    response = client.post(
        "/api/v1/t/acme/scores/",
        {"trace_id": trace, "name": "thumbs", "value": True},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert _scores(acme) == []


def test_a_signed_in_editor_scores_under_the_team_url(client, acme, bob, trace):
    client.force_login(bob)
    response = client.post(
        "/api/v1/t/acme/scores/",
        {"trace_id": trace, "name": "thumbs", "value": True},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert _scores(acme)[0].created_by_id == bob.pk


def test_retention_deletes_a_traces_scores(api_client, acme, trace, writer):
    from datetime import timedelta

    from django.utils import timezone

    from apps.traces.services import traces_purge_team

    _post(api_client, writer, {"trace_id": trace, "name": "thumbs", "value": True})
    acme.trace_retention_days = 1
    acme.save()
    assert traces_purge_team(team=acme, now=timezone.now() + timedelta(days=30)) == 1
    assert _scores(acme) == []
