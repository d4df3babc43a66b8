"""Walk every URL pattern as dave (team globex) against team acme's objects: expect 404.

New routes are covered without anyone remembering: the walk reads the URLconf. A route
whose kwargs have no source in tests/isolation_world.py fails until one is added; a route
that cannot be walked is listed in UNWALKABLE with the reason.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.conftest import bearer
from tests.isolation_world import KWARG_SOURCES, build_world

# Routes that take no team or object from the URL are not part of the walk (their team
# comes from the session or the API key); the rest must be walkable or listed here.
UNWALKABLE = {
    "admin/": "Django admin: staff only, outside tenancy (dave is not staff and is redirected).",
}

PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>\w+)>")


def _routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _routes(entry, route)
        elif isinstance(entry, URLPattern):
            yield route


def _walkable(route: str) -> bool:
    if any(route.startswith(skip) for skip in UNWALKABLE):
        return False
    return bool(PARAM.search(route))


def _fill(route: str, world, team_slug: str) -> str:
    def value(match):
        name = match.group("name")
        if name == "team_slug":
            return team_slug
        if name not in KWARG_SOURCES:
            raise AssertionError(
                f"Route {route!r} takes '{name}', which tests/isolation_world.py cannot fill: add a source "
                "for it (and build the object in the world), or list the route in UNWALKABLE with a reason."
            )
        try:
            return str(KWARG_SOURCES[name](world))
        except LookupError as exc:
            raise AssertionError(
                f"Route {route!r}: the isolation world has no {exc} object; build one."
            ) from None

    return "/" + PARAM.sub(value, route).replace("^", "").replace("$", "")


@pytest.fixture
def world(acme, alice, bob, globex):
    return build_world(acme, alice, bob)


METHODS = ("get", "post", "put", "patch", "delete")


def _assert_not_leaked(route, url, responses):
    codes = {method: r.status_code for method, r in responses.items()}
    bad = {m: c for m, c in codes.items() if c not in (404, 405)}
    assert not bad, f"{route} -> {url}: expected 404 for another team's object, got {bad}"
    assert 404 in codes.values(), f"{route} -> {url}: no method answered 404 ({codes})"


def _call(client, method, url, **extra):
    return getattr(client, method)(url, data={} if method == "get" else None, **extra)


@pytest.mark.django_db(transaction=True)
def test_it_hides_every_team_route_from_outsiders(client, world, dave):
    client.force_login(dave)
    routes = [
        r for r in _routes() if _walkable(r) and "team_slug" in r and not r.startswith("api/")
    ]
    assert routes, "no team routes found"
    for route in routes:
        # dave under acme's slug, and dave under his own slug reaching for acme's ids.
        for slug in ("acme", "globex"):
            if slug == "globex" and route.count("<") == 1:
                continue  # no object id: globex's own page, rightly visible to dave
            url = _fill(route, world, slug)
            _assert_not_leaked(route, url, {m: _call(client, m, url) for m in METHODS})


@pytest.mark.django_db(transaction=True)
def test_it_hides_every_api_object_from_another_teams_key(
    api_client, world, dave, globex, api_key_for
):
    from apps.teams.models import ApiKeyScope

    raw = api_key_for(globex, dave, scopes=list(ApiKeyScope.values))
    routes = [r for r in _routes() if _walkable(r) and r.startswith("api/v1/")]
    for route in routes:
        if route.count("<") == 1 and "team_slug" in route:
            url = _fill(route, world, "acme")  # globex's key under acme's URL
        elif "team_slug" in route:
            url = _fill(route, world, "globex")
        else:
            url = _fill(route, world, "")
        responses = {m: _call(api_client, m, url, **bearer(raw)) for m in METHODS}
        _assert_not_leaked(route, url, responses)


@pytest.mark.django_db(transaction=True)
def test_it_hides_every_api_object_from_another_teams_session(client, world, dave):
    client.force_login(dave)
    routes = [r for r in _routes() if _walkable(r) and r.startswith("api/v1/t/")]
    for route in routes:
        for slug in ("acme", "globex"):
            if slug == "globex" and route.count("<") == 1:
                continue
            url = _fill(route, world, slug)
            _assert_not_leaked(route, url, {m: _call(client, m, url) for m in METHODS})


def test_it_walks_all_api_views_through_the_team_base():
    """Every DRF view in the URLconf resolves its team through TeamScopedAPIMixin."""
    from rest_framework.views import APIView

    from apps.teams.api_base import TeamScopedAPIMixin

    exempt = {
        "SpectacularAPIView",
        "SpectacularSwaggerView",
        "SpectacularSwaggerSplitView",  # the same page, its script served apart (CSP)
        "SpectacularRedocView",
    }  # schema/docs, no team data
    offenders = []

    def walk(resolver):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                walk(entry)
                continue
            cls = getattr(entry.callback, "cls", None)
            if cls is not None and issubclass(cls, APIView) and cls.__name__ not in exempt:
                if not issubclass(cls, TeamScopedAPIMixin):
                    offenders.append(f"{entry.pattern} -> {cls.__name__}")

    walk(get_resolver())
    assert not offenders, f"API views outside the team base: {offenders}"
