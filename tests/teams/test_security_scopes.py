"""Read scopes that say what they read: every API route, every scope, one table.

The walk reads the URLconf (like tests/test_tenant_isolation.py), so a new route is checked
without anyone remembering: a route whose area is not in AREAS fails until it is added.
For every route and method it checks the scope the view asks for against its area's read
or write scope, then sends the request with one key per scope: a key whose scopes (with
what they include) lack the route's scope gets 403 naming it, before anything is done; a
key that holds it is let through on reads.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from apps.teams.api_base import TeamScopedAPIMixin
from apps.teams.models import ApiKeyScope, implied_scopes
from tests.conftest import bearer
from tests.isolation_world import build_world
from tests.test_tenant_isolation import _fill

# The first segment of a route under /api/v1/ names its area.
AREAS = {
    "members": "admin",
    "api-keys": "admin",
    "invites": "admin",
    "audit-events": "admin",
    "limits": "admin",
    "prompts": "prompts",
    "promotions": "prompts",
    "rollouts": "prompts",
    "webhooks": "admin",
    "playground": "prompts",
    "datasets": "datasets",
    "experiments": "experiments",
    "evaluators": "experiments",
    "ci": "experiments",
    "providers": "providers",
    "traces": "traces",
    "scores": "traces",
    "dashboard": "traces",
    "functions": "traces",
    "optimisations": "experiments",
    "online-rules": "online",
    "annotation-queues": "annotations",
    "annotation-items": "annotations",
    "annotations": "annotations",
}
# (read scope, write scope) of each area. Providers are read by whoever runs experiments
# on them and changed only by admins.
AREA_SCOPES = {
    "prompts": ("prompts:read", "prompts:write"),
    "datasets": ("datasets:read", "datasets:write"),
    "experiments": ("experiments:read", "experiments:write"),
    "traces": ("traces:read", "traces:write"),
    "annotations": ("annotations:read", "annotations:write"),
    "providers": ("experiments:read", "admin"),
    # Online rules are read with the traces and defined by who may run (and pay for)
    # evaluators: an application's ingest key (traces:write) cannot.
    "online": ("traces:read", "experiments:write"),
    "admin": ("admin", "admin"),
}
# What a key holding only one scope may do, written out (not derived from the code under
# test): a write scope includes the read of its own area, except traces:write, which sends
# traces and never reads them back; admin includes everything.
GRANTS = {
    "prompts:read": {"prompts:read"},
    "prompts:write": {"prompts:write", "prompts:read"},
    "datasets:read": {"datasets:read"},
    "datasets:write": {"datasets:write", "datasets:read"},
    "experiments:read": {"experiments:read"},
    "experiments:write": {"experiments:write", "experiments:read"},
    "traces:read": {"traces:read"},
    "traces:write": {"traces:write"},
    "annotations:read": {"annotations:read"},
    "annotations:write": {"annotations:write", "annotations:read"},
    "admin": set(ApiKeyScope.values),
}
METHODS = ("get", "post", "put", "patch", "delete")
PREFIX = "api/v1/"


def _api_routes():
    """(route, view class) of every API route mounted with the team from the key."""

    def walk(resolver, prefix=""):
        for entry in resolver.url_patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                yield from walk(entry, route)
            elif isinstance(entry, URLPattern):
                cls = getattr(entry.callback, "cls", None)
                if route.startswith(PREFIX) and not route.startswith(PREFIX + "t/"):
                    yield route, cls

    return list(walk(get_resolver()))


def _area(route: str) -> str:
    segment = route[len(PREFIX) :].split("/", 1)[0]
    assert segment in AREAS, (
        f"API route {route!r} has no area: add {segment!r} to AREAS in "
        "tests/teams/test_security_scopes.py with the scopes that read and write it."
    )
    return AREAS[segment]


def _methods(cls) -> dict[str, type]:
    """Each HTTP method the route answers, with the view class that decides its scope
    (the serving views hand their management methods to the Hub's views)."""
    hub = getattr(cls, "hub_view", None)
    methods = {}
    for method in METHODS:
        if method != "get" and hub is not None and hasattr(hub, method):
            methods[method] = hub
        elif hasattr(cls, method):
            methods[method] = cls
    return methods


def _required(cls, method: str) -> str | None:
    view = cls()
    view.kwargs = {}
    return view.required_scope(SimpleNamespace(method=method.upper()))


def test_every_api_route_asks_for_its_areas_read_and_write_scopes():
    routes = _api_routes()
    assert len(routes) > 30, "the walk found too few API routes"
    wrong = []
    for route, cls in routes:
        assert cls is not None and issubclass(cls, TeamScopedAPIMixin), route
        read, write = AREA_SCOPES[_area(route)]
        for method, view_cls in _methods(cls).items():
            expected = read if method == "get" else write
            asked = _required(view_cls, method)
            if asked != expected:
                wrong.append(
                    f"{method.upper()} {route}: asks {asked!r}, its area needs {expected!r}"
                )
    assert not wrong, "\n".join(wrong)


@pytest.fixture
def world(acme, alice, bob):
    return build_world(acme, alice, bob)


@pytest.mark.django_db
def test_every_scope_reads_and_writes_only_its_area(api_client, world, acme, alice, api_key_for):
    assert set(GRANTS) == set(ApiKeyScope.values), "a new scope needs its row in GRANTS"
    keys = {
        scope: api_key_for(acme, alice, scopes=[scope], name=f"only {scope}")
        for scope in ApiKeyScope.values
    }
    let_through, refused = 0, 0
    for route, cls in _api_routes():
        url = _fill(route, world, "")
        read, write = AREA_SCOPES[_area(route)]
        for method in _methods(cls):
            needed = read if method == "get" else write
            for scope, raw in keys.items():
                allowed = needed in GRANTS[scope]
                if allowed and method != "get":
                    continue  # writes by keys that may write are the areas' own tests
                response = getattr(api_client, method)(url, **bearer(raw))
                where = f"{method.upper()} {url} with a {scope} key"
                if allowed:
                    assert response.status_code not in (401, 403), (
                        f"{where}: refused ({response.status_code} {response.content[:200]!r})"
                    )
                    let_through += 1
                else:
                    assert response.status_code == 403, f"{where}: {response.status_code}"
                    assert f"'{needed}'" in response.json()["detail"], where
                    refused += 1
    assert let_through > 50 and refused > 300, (let_through, refused)


def test_a_scope_grants_what_the_table_says():
    for scope, grants in GRANTS.items():
        assert implied_scopes([scope]) == grants, scope


@pytest.mark.django_db
def test_traces_write_sends_but_does_not_read_traces(api_client, acme, alice, api_key_for):
    sender = api_key_for(acme, alice, scopes=["traces:write"])
    reader = api_key_for(acme, alice, scopes=["traces:read"], name="reader")
    assert api_client.get("/api/v1/traces/", **bearer(sender)).status_code == 403
    assert api_client.get("/api/v1/traces/", **bearer(reader)).status_code == 200
    body = {"resourceSpans": []}
    sent = api_client.post("/v1/traces", body, format="json", **bearer(sender))
    assert sent.status_code == 200, sent.content
    assert api_client.post("/v1/traces", body, format="json", **bearer(reader)).status_code == 403


@pytest.mark.django_db
def test_prompts_read_no_longer_reads_datasets_experiments_or_providers(
    api_client, acme, alice, api_key_for
):
    raw = api_key_for(acme, alice, scopes=["prompts:read"])
    for path in ("/api/v1/datasets/", "/api/v1/experiments/", "/api/v1/providers/"):
        response = api_client.get(path, **bearer(raw))
        assert response.status_code == 403, path
    assert api_client.get("/api/v1/prompts/", **bearer(raw)).status_code == 200
