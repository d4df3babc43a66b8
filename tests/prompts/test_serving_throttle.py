"""The serving path's per-team throttle: 429 with Retry-After past the team's fetches per
second, no query for it, another team untouched, a team's own limit, both mounts."""

from __future__ import annotations

import pytest

from apps.teams.services import team_set_limits
from tests.conftest import bearer
from tests.sdk.world import make_prompt, unprotect

SERVE = "/api/v1/prompts/greeting/?tag=production"


@pytest.fixture
def served(acme, alice, api_key_for, settings, throttle_clock):
    settings.PROMPTYARD_SERVING_RATE = "3/s"
    unprotect(acme, alice)
    make_prompt(acme, alice, templates=("Hello {{ name }}",))
    return api_key_for(acme, alice, scopes=["prompts:read"], environment="production")


def _throttled(response) -> dict:
    assert response.status_code == 429, response.content
    assert response["Retry-After"] == "1"
    body = response.json()
    assert (body["code"], body["limit"]["name"], body["retry_after"]) == ("throttled", "serving", 1)
    return body


def test_it_answers_429_with_retry_after_past_the_teams_fetches(api_client, served):
    for _ in range(3):
        assert api_client.get(SERVE, **bearer(served)).status_code == 200
    body = _throttled(api_client.get(SERVE, **bearer(served)))
    assert "team 'acme' allows 3 fetches per second" in body["detail"]
    # The snapshot is a tagged fetch too.
    _throttled(api_client.get("/api/v1/prompts/?tag=production", **bearer(served)))


def test_the_throttle_costs_the_warm_fetch_no_query(api_client, served, django_assert_num_queries):
    api_client.get(SERVE, **bearer(served))  # warms the key and the answer
    with django_assert_num_queries(0):
        assert api_client.get(SERVE, **bearer(served)).status_code == 200
        assert api_client.get(SERVE, **bearer(served)).status_code == 200
        _throttled(api_client.get(SERVE, **bearer(served)))


def test_another_teams_fetches_go_on(api_client, served, globex, dave, api_key_for):
    unprotect(globex, dave)
    make_prompt(globex, dave, templates=("Hola {{ name }}",))
    theirs = api_key_for(globex, dave, scopes=["prompts:read"])
    for _ in range(3):
        api_client.get(SERVE, **bearer(served))
    _throttled(api_client.get(SERVE, **bearer(served)))
    for _ in range(3):
        assert api_client.get(SERVE, **bearer(theirs)).status_code == 200


def test_a_teams_own_limit_raises_it(api_client, served, acme, alice):
    team_set_limits(team=acme, actor=alice, limits={"limit_serving_per_second": 6})
    assert [api_client.get(SERVE, **bearer(served)).status_code for _ in range(7)] == [
        *[200] * 6,
        429,
    ]


def test_the_bucket_refills_at_the_rate(api_client, served, throttle_clock):
    for _ in range(3):
        api_client.get(SERVE, **bearer(served))
    _throttled(api_client.get(SERVE, **bearer(served)))
    throttle_clock.advance(0.34)  # one fetch's worth
    assert api_client.get(SERVE, **bearer(served)).status_code == 200
    _throttled(api_client.get(SERVE, **bearer(served)))


def test_members_on_the_team_url_share_the_teams_serving_bucket(api_client, served, alice):
    for _ in range(2):
        assert api_client.get(SERVE, **bearer(served)).status_code == 200
    api_client.force_login(alice)
    team_url = "/api/v1/t/acme/prompts/greeting/?tag=production"
    assert api_client.get(team_url).status_code == 200
    _throttled(api_client.get(team_url))


def test_a_fetch_that_falls_back_to_the_full_path_is_charged_once(api_client, served):
    # An unknown prompt leaves the fast path (it reports the 404 the usual way).
    for _ in range(3):
        response = api_client.get("/api/v1/prompts/nobody/?tag=production", **bearer(served))
        assert response.status_code == 404
    _throttled(api_client.get(SERVE, **bearer(served)))


def test_managing_prompts_is_not_charged_to_serving(api_client, served, acme, alice, api_key_for):
    writer = api_key_for(acme, alice, scopes=["prompts:read", "prompts:write"])
    for _ in range(5):  # the Hub's paginated list on the same path
        assert api_client.get("/api/v1/prompts/", **bearer(writer)).status_code == 200
    assert api_client.get(SERVE, **bearer(served)).status_code == 200
