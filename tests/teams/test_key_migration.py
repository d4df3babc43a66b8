"""The data migration of issue 14 on keys made before it: read scopes that keep what each
key could do, and no key without a person (or whose person left) still working."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.core.tenancy import team_scope
from apps.teams.models import ApiKey, Membership
from apps.teams.services import api_key_create

MIGRATION = "0003_apikey_person_and_read_scopes"


def _migrate_forwards():
    """Run the migration's data step on today's rows with the models as it knew them."""
    state = MigrationExecutor(connection).loader.project_state(("teams", MIGRATION))
    module = importlib.import_module(f"apps.teams.migrations.{MIGRATION}")
    module.forwards(state.apps, None)


def _key(team, actor, name, scopes):
    with team_scope(team):
        key, _ = api_key_create(team=team, actor=actor, name=name, scopes=scopes)
    return key


@pytest.mark.django_db
def test_old_keys_keep_what_they_could_read(acme, alice):
    serving = _key(acme, alice, "sdk", ["prompts:read"])
    tracing = _key(acme, alice, "otel", ["traces:write"])
    writer = _key(acme, alice, "ci", ["datasets:write", "prompts:write"])
    _migrate_forwards()
    for key in (serving, tracing, writer):
        key.refresh_from_db()
    assert serving.scopes == ["datasets:read", "experiments:read", "prompts:read"]
    assert tracing.scopes == ["traces:read", "traces:write"]
    assert writer.scopes == ["datasets:write", "prompts:write"]  # writes read their own area
    assert serving.revoked_at is None and tracing.revoked_at is None


@pytest.mark.django_db
def test_keys_without_a_person_or_whose_person_left_are_revoked_with_the_reason(acme, alice, bob):
    orphan = _key(acme, alice, "made by a key", ["admin"])
    ApiKey.objects.unscoped().filter(pk=orphan.pk).update(created_by=None)  # as before
    left = _key(acme, alice, "bob's", ["prompts:read"])
    ApiKey.objects.unscoped().filter(pk=left.pk).update(created_by=bob)
    Membership.objects.unscoped().filter(team=acme, user=bob).delete()
    kept = _key(acme, alice, "alice's", ["prompts:read"])
    _migrate_forwards()
    for key in (orphan, left, kept):
        key.refresh_from_db()
    assert orphan.revoked_at is not None and "No person behind this key" in orphan.revoked_reason
    assert left.revoked_at is not None and left.revoked_reason == "Bob left the team"
    assert kept.revoked_at is None and kept.revoked_reason == ""
