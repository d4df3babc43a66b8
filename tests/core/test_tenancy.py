"""Tenancy by construction: every model with a team is TeamOwned and fails closed."""

import pytest
from django.apps import apps
from django.db import models

from apps.core.tenancy import TeamOwned, TeamScopedManager, TenancyError, team_scope
from apps.teams.models import Membership, Team


def _team_models():
    for model in apps.get_models():
        if model._meta.abstract or model._meta.proxy:
            continue
        try:
            field = model._meta.get_field("team")
        except Exception:
            continue
        yield model, field


def test_it_finds_the_team_models():
    names = {m._meta.label for m, _ in _team_models()}
    assert {"teams.Membership", "teams.ApiKey", "teams.Invite", "teams.AuditEvent"} <= names


@pytest.mark.parametrize("model", [m for m, _ in _team_models()], ids=lambda m: m._meta.label)
def test_it_scopes_every_model_with_a_team(model):
    field = model._meta.get_field("team")
    assert isinstance(field, models.ForeignKey) and field.related_model is Team, (
        f"{model._meta.label}.team must be a ForeignKey to teams.Team"
    )
    assert issubclass(model, TeamOwned), f"{model._meta.label} must inherit TeamOwned"
    assert isinstance(model._default_manager, TeamScopedManager), (
        f"{model._meta.label}'s default manager must be the scoped manager"
    )
    for name in ("objects",):
        manager = getattr(model, name, None)
        assert manager is None or isinstance(manager, TeamScopedManager), (
            f"{model._meta.label}.{name} must be the scoped manager"
        )
    # Any other manager declared on the model must be scoped too: no quiet back door.
    for manager in model._meta.managers:
        assert isinstance(manager, TeamScopedManager), (
            f"{model._meta.label}.{manager.name} is not a TeamScopedManager"
        )


@pytest.mark.django_db
@pytest.mark.parametrize("model", [m for m, _ in _team_models()], ids=lambda m: m._meta.label)
def test_it_fails_closed_outside_a_scope(model):
    with pytest.raises(TenancyError):
        model.objects.count()


def test_it_filters_to_the_scoped_team(acme, globex, alice, dave):
    with team_scope(acme):
        assert set(Membership.objects.values_list("user__email", flat=True)) == {
            "alice@acme.test",
            "bob@acme.test",
            "carol@acme.test",
            "erin@acme.test",
        }
        assert not Membership.objects.filter(user=dave).exists()
    with team_scope(globex):
        assert list(Membership.objects.values_list("user__email", flat=True)) == [
            "dave@globex.test"
        ]
    assert Membership.objects.unscoped().count() == 5


def test_it_refuses_to_save_a_row_into_another_teams_scope(acme, globex, dave):
    membership = Membership.objects.unscoped().get(user=dave)
    with team_scope(acme), pytest.raises(TenancyError):
        membership.save()


def test_it_fills_the_team_from_the_scope(acme, dave):
    with team_scope(acme):
        membership = Membership(user=dave, role="viewer")
        membership.save()
    assert membership.team_id == acme.pk


def test_it_needs_a_team_to_enter_a_scope():
    with pytest.raises(TenancyError), team_scope(None):
        pass
