"""Fetch telemetry: counted in memory, flushed in batches into FetchStat (adding up), and
the Environments page's drift and silence flags."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.tenancy import team_scope
from apps.prompts import telemetry
from apps.prompts.environments import environment_rows
from apps.prompts.models import FetchStat
from tests.conftest import bearer
from tests.sdk.world import make_prompt, move, unprotect

SERVE = "/api/v1/prompts/greeting/"


@pytest.fixture
def world(acme, alice, api_key_for):
    unprotect(acme, alice)
    telemetry.reset()
    prompt, versions = make_prompt(acme, alice, templates=("Hello {{ name }}", "Hi {{ name }}"))
    prod = api_key_for(acme, alice, environment="production", name="prod app")
    staging = api_key_for(acme, alice, environment="staging", name="staging app")
    yield {"team": acme, "prompt": prompt, "versions": versions, "prod": prod, "staging": staging}
    telemetry.reset()


def _rows(team, **kwargs):
    with team_scope(team):
        return {(r.environment, r.tag): r for r in environment_rows(**kwargs)}


def test_it_counts_fetches_in_memory_and_flushes_them_as_one_upsert(api_client, world):
    etag = api_client.get(SERVE, **bearer(world["prod"]))["ETag"]
    api_client.get(SERVE, HTTP_IF_NONE_MATCH=etag, **bearer(world["prod"]))  # a 304 counts too
    api_client.get(SERVE + "?version=2", **bearer(world["prod"]))
    api_client.get(SERVE, **bearer(world["staging"]))
    assert telemetry.pending() == 4 and not FetchStat.objects.unscoped().exists()
    assert telemetry.flush() == 3
    with team_scope(world["team"]):
        stats = {
            (s.environment, s.tag, s.version_number): s.fetch_count for s in FetchStat.objects.all()
        }
    assert stats == {("production", "production", 1): 2, ("production", "", 2): 1,
                     ("staging", "production", 1): 1}  # fmt: skip
    api_client.get(SERVE, **bearer(world["prod"]))
    telemetry.flush()
    with team_scope(world["team"]):
        row = FetchStat.objects.get(environment="production", tag="production")
    assert row.fetch_count == 3 and row.last_fetched_at >= row.first_fetched_at


def test_people_browsing_the_api_are_not_counted(api_client, world, carol):
    api_client.force_login(carol)
    api_client.get("/api/v1/t/acme/prompts/greeting/")
    assert telemetry.pending() == 0


def test_the_snapshot_counts_every_prompt_it_serves(api_client, world, acme, alice):
    make_prompt(acme, alice, name="farewell", templates=("Bye",))
    api_client.get("/api/v1/prompts/?tag=production", **bearer(world["prod"]))
    telemetry.flush()
    with team_scope(acme):
        assert sorted(FetchStat.objects.values_list("prompt__name", flat=True)) == [
            "farewell",
            "greeting",
        ]


def test_it_flushes_after_a_response_when_due(api_client, world, monkeypatch):
    api_client.get(SERVE, **bearer(world["prod"]))
    assert telemetry.pending() == 1
    monkeypatch.setattr(telemetry, "_next_flush", 0.0)
    api_client.get(SERVE, **bearer(world["prod"]))  # request_finished flushes
    assert telemetry.pending() == 0
    assert FetchStat.objects.unscoped().get().fetch_count == 2


def test_a_failed_flush_keeps_the_counts(world, api_client, monkeypatch):
    api_client.get(SERVE, **bearer(world["prod"]))

    def broken(rows):
        raise RuntimeError("database away")

    monkeypatch.setattr(telemetry, "_upsert", broken)
    with pytest.raises(RuntimeError):
        telemetry.flush()
    assert telemetry.pending() == 1


def test_it_flags_an_environment_still_serving_the_old_version(api_client, world, alice):
    api_client.get(SERVE, **bearer(world["prod"]))
    api_client.get(SERVE, **bearer(world["staging"]))
    telemetry.flush()
    rows = _rows(world["team"])
    assert not rows[("production", "production")].drift
    move(world["team"], alice, world["prompt"], world["versions"][1])
    rows = _rows(world["team"])
    prod = rows[("production", "production")]
    assert prod.drift and (prod.last_version, prod.current_version) == (1, 2)
    assert [k.name for k in prod.behind] == ["prod app"]
    # production picks up the move; staging has not fetched since.
    api_client.get(SERVE, **bearer(world["prod"]))
    telemetry.flush()
    rows = _rows(world["team"])
    assert not rows[("production", "production")].drift
    assert rows[("production", "production")].last_version == 2
    assert rows[("staging", "production")].drift


def test_it_flags_an_environment_that_stopped_fetching(api_client, world):
    api_client.get(SERVE, **bearer(world["prod"]))
    telemetry.flush()
    later = timezone.now() + timedelta(days=2)
    row = _rows(world["team"], now=later)[("production", "production")]
    assert row.silent and not row.drift  # silence is its own flag


def test_the_page_shows_drift(client, world, alice, api_client):
    api_client.get(SERVE, **bearer(world["prod"]))
    move(world["team"], alice, world["prompt"], world["versions"][1])
    client.force_login(alice)
    response = client.get("/t/acme/prompts/environments/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Drift" in html and "still serving v1 (prod app)" in html and "1 drifting" in html
    filtered = client.get("/t/acme/prompts/environments/?problems=1", HTTP_HX_REQUEST="true",
                          HTTP_HX_TARGET="environment-rows")  # fmt: skip
    assert b"<h1>" not in filtered.content and b"greeting" in filtered.content


def test_the_page_is_empty_before_any_fetch(client, world, carol):
    client.force_login(carol)
    response = client.get("/t/acme/prompts/environments/")
    assert b"No application has fetched a prompt yet" in response.content


def test_it_writes_counters_in_one_order_whatever_order_they_were_counted_in(
    api_client, world, monkeypatch
):
    """Two processes flushing the same rows must lock them in the same order: a crosswise
    pair is a deadlock PostgreSQL breaks only after a second, with that process's fetches
    waiting behind it (seen as 1 s p99 spikes in benchmarks/prompt_fetch.py)."""
    written: list[list[tuple]] = []
    monkeypatch.setattr(telemetry, "_upsert", lambda rows: written.append(list(rows)))
    orders = []
    for urls in (
        (SERVE, SERVE + "?version=2", SERVE + "?tag=staging"),
        (SERVE + "?tag=staging", SERVE + "?version=2", SERVE),
    ):
        for url in urls:
            api_client.get(url, **bearer(world["prod"]))
        telemetry.flush()
        orders.append([telemetry._conflict_key(row) for row in written[-1]])
    assert orders[0] == orders[1] == sorted(orders[0])
    assert len(orders[0]) >= 2
