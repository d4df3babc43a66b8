"""Security review: an API key reads only the areas its scopes name.

A key made for one job (traces:write in an application, prompts:read for serving) must not
read datasets, providers or experiments: a key without the scope gets 403, never data.
"""

from __future__ import annotations

import pytest
from django.urls import get_resolver

from apps.teams.api_base import TeamScopedAPIMixin
from tests.conftest import bearer
from tests.isolation_world import build_world


@pytest.fixture
def world(acme, alice, bob):
    return build_world(acme, alice, bob)


def _paths(world):
    return {
        "datasets": ("/api/v1/datasets/", f"/api/v1/datasets/{world.objects['dataset'].pk}/"),
        "dataset export": (f"/api/v1/datasets/{world.objects['dataset'].pk}/export/",),
        "providers": ("/api/v1/providers/", f"/api/v1/providers/{world.objects['provider'].pk}/"),
        "experiments": (
            "/api/v1/experiments/",
            f"/api/v1/experiments/{world.objects['experiment'].pk}/results/",
            f"/api/v1/experiments/{world.objects['experiment'].pk}/comparison/",
        ),
        "evaluators": ("/api/v1/evaluators/",),
    }


@pytest.mark.django_db
def test_it_refuses_reads_to_a_key_without_the_areas_scope(
    world, acme, alice, api_client, api_key_for
):
    raw = api_key_for(acme, alice, scopes=["traces:write"])
    for area, paths in _paths(world).items():
        for path in paths:
            response = api_client.get(path, **bearer(raw))
            assert response.status_code == 403, (area, path, response.status_code)


@pytest.mark.django_db
def test_it_lets_the_read_scope_or_the_areas_write_scope_read_it(
    world, acme, alice, api_client, api_key_for
):
    scopes = {
        "prompts:read": "prompts:read",
        "datasets": "datasets:write",
        "dataset export": "datasets:write",
        "providers": "admin",
        "experiments": "experiments:write",
        "evaluators": "experiments:write",
    }
    paths_by_area = _paths(world)
    # The general read scope (the SDK's) reads every area.
    paths_by_area["prompts:read"] = tuple(p for ps in _paths(world).values() for p in ps)
    for area, paths in paths_by_area.items():
        raw = api_key_for(acme, alice, scopes=[scopes[area]], name=f"k {area}")
        for path in paths:
            response = api_client.get(path, **bearer(raw))
            assert response.status_code == 200, (area, path, response.status_code)


def test_it_gives_every_readable_team_api_view_a_scope():
    """A GET on any team API view names a scope a key must hold (none falls open)."""
    offenders = []

    def walk(resolver, prefix=""):
        for entry in resolver.url_patterns:
            if hasattr(entry, "url_patterns"):
                walk(entry, prefix + str(entry.pattern))
                continue
            cls = getattr(entry.callback, "cls", None) or getattr(
                entry.callback, "view_class", None
            )
            if cls is None or not issubclass(cls, TeamScopedAPIMixin) or not hasattr(cls, "get"):
                continue
            if not (cls.read_scope or cls.write_scope or cls.required_scopes.get("GET")):
                offenders.append(prefix + str(entry.pattern))

    walk(get_resolver())
    assert not offenders, offenders
