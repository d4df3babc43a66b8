"""The tenant walk restricted to the Hub's routes, so it runs even while other apps'
routes are still missing their isolation sources."""

import pytest

from tests.conftest import bearer
from tests.isolation_world import build_world
from tests.test_tenant_isolation import (
    METHODS,
    _assert_not_leaked,
    _call,
    _fill,
    _routes,
    _walkable,
)


def hub_routes():
    return [r for r in _routes() if _walkable(r) and ("prompts/" in r or "promotions/" in r)]


@pytest.fixture
def world(acme, alice, bob, globex):
    return build_world(acme, alice, bob)


@pytest.mark.django_db(transaction=True)
def test_it_hides_hub_pages_and_api_from_another_team(
    client, api_client, world, dave, api_key_for, globex
):
    from apps.teams.models import ApiKeyScope

    routes = hub_routes()
    assert any(r.startswith("t/") for r in routes) and any(r.startswith("api/") for r in routes)
    client.force_login(dave)
    raw = api_key_for(globex, dave, scopes=list(ApiKeyScope.values))
    for route in routes:
        if "team_slug" not in route:  # /api/v1/...: the team comes from globex's key
            url = _fill(route, world, "")
            responses = {m: _call(api_client, m, url, **bearer(raw)) for m in METHODS}
            _assert_not_leaked(route, url, responses)
            continue
        for slug in ("acme", "globex"):
            if slug == "globex" and route.count("<") == 1:
                continue
            url = _fill(route, world, slug)
            _assert_not_leaked(route, url, {m: _call(client, m, url) for m in METHODS})
