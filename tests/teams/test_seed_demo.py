"""`manage.py seed_demo`: the demo teams and accounts, each app's demo data, idempotent."""

import types

from django.apps import apps
from django.core.management import call_command

from apps.accounts.models import User
from apps.core.tenancy import TeamOwned, current_team
from apps.teams.management.commands import seed_demo
from apps.teams.models import Membership, Team


def _roles(slug):
    return {
        m.user.email: m.role
        for m in Membership.objects.unscoped().filter(team__slug=slug).select_related("user")
    }


def _row_counts():
    return {
        m._meta.label: m.objects.unscoped().count()
        for m in apps.get_models()
        if issubclass(m, TeamOwned)
    }


def test_it_creates_the_demo_teams_and_calls_each_apps_seed(db, monkeypatch, capsys):
    calls = []

    def seed(team, users):
        calls.append((team.slug, current_team().slug, sorted(users)))

    fake = types.SimpleNamespace(seed=seed)
    monkeypatch.setattr(seed_demo, "app_demo_modules", lambda: iter([("fake", fake)]))
    call_command("seed_demo")
    call_command("seed_demo")

    assert _roles("acme") == {
        "alice@acme.test": "owner",
        "bob@acme.test": "editor",
        "carol@acme.test": "viewer",
        "erin@acme.test": "annotator",
    }
    assert _roles("globex") == {"dave@globex.test": "owner"}
    assert User.objects.count() == 5 and Team.objects.count() == 2
    assert User.objects.get(email="bob@acme.test").check_password(seed_demo.DEMO_PASSWORD)
    assert calls == [("acme", "acme", ["alice", "bob", "carol", "erin"])] * 2
    out = capsys.readouterr().out
    assert seed_demo.DEMO_PASSWORD in out and "alice@acme.test" in out


def test_it_keeps_a_changed_password(db, monkeypatch):
    monkeypatch.setattr(seed_demo, "app_demo_modules", lambda: iter([]))
    call_command("seed_demo")
    alice = User.objects.get(email="alice@acme.test")
    alice.set_password("my-own-secret-phrase")
    alice.save()
    call_command("seed_demo")
    alice.refresh_from_db()
    assert alice.check_password("my-own-secret-phrase")


def test_it_finds_only_apps_with_a_demo_module():
    found = dict(seed_demo.app_demo_modules())
    for label, module in found.items():
        assert callable(module.seed), label
    assert "teams" not in found and "core" not in found


def test_it_is_idempotent_with_every_apps_real_demo_data(db):
    call_command("seed_demo")
    first = _row_counts()
    call_command("seed_demo")
    assert _row_counts() == first
