"""The read API: /api/v1/traces/ and /api/v1/traces/<trace_id>/."""

from __future__ import annotations

import pytest

from tests.conftest import bearer
from tests.traces.helpers import hex_id, ingest, raw_span

pytestmark = pytest.mark.django_db


def _trace(team, actor, n=1):
    trace_id = hex_id(n, 16)
    root = hex_id(100 + n, 8)
    ingest(
        team,
        actor,
        [
            raw_span(trace_id, root, name=f"run-{n}", attrs={"input.value": "secret question"}),
            raw_span(trace_id, hex_id(200 + n, 8), parent=root, name="chat", start_ms=1),
        ],
    )
    return trace_id


def test_it_lists_traces_newest_first_with_filters(api_client, acme, alice, api_key_for):
    _trace(acme, alice, 1)
    _trace(acme, alice, 2)
    raw = api_key_for(acme, alice, scopes=["traces:read"])
    body = api_client.get("/api/v1/traces/", **bearer(raw)).json()
    assert {t["name"] for t in body["results"]} == {"run-1", "run-2"}
    assert "count" not in body  # cursor pages: no COUNT(*)
    only = api_client.get("/api/v1/traces/", {"name": "run-2"}, **bearer(raw)).json()
    assert [t["name"] for t in only["results"]] == ["run-2"]


def test_it_returns_a_trace_with_its_spans(api_client, acme, alice, api_key_for):
    trace_id = _trace(acme, alice)
    raw = api_key_for(acme, alice, scopes=["traces:read"])
    body = api_client.get(f"/api/v1/traces/{trace_id}/", **bearer(raw)).json()
    assert body["trace_id"] == trace_id
    assert [s["name"] for s in body["spans"]] == ["run-1", "chat"]
    assert body["spans"][1]["parent_span_id"] == body["spans"][0]["span_id"]


def test_it_serves_signed_in_members_under_the_team_url(client, acme, alice, carol):
    trace_id = _trace(acme, alice)
    client.force_login(carol)
    assert client.get(f"/api/v1/t/acme/traces/{trace_id}/").status_code == 200


def test_it_never_shows_spans_to_another_teams_key(
    api_client, acme, alice, globex, dave, api_key_for
):
    trace_id = _trace(acme, alice)
    raw = api_key_for(globex, dave, scopes=["traces:write", "admin"])
    assert api_client.get("/api/v1/traces/", **bearer(raw)).json()["results"] == []
    assert api_client.get(f"/api/v1/traces/{trace_id}/", **bearer(raw)).status_code == 404
    assert api_client.get(f"/api/v1/t/acme/traces/{trace_id}/", **bearer(raw)).status_code == 404


def test_it_needs_the_traces_scope_to_read(api_client, acme, alice, api_key_for):
    _trace(acme, alice)
    raw = api_key_for(acme, alice, scopes=["prompts:read"])
    assert api_client.get("/api/v1/traces/", **bearer(raw)).status_code == 403
    sender = api_key_for(acme, alice, scopes=["traces:write"], name="sender")
    assert api_client.get("/api/v1/traces/", **bearer(sender)).status_code == 403
