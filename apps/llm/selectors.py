"""Reads of providers, always inside the team scope."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.core.errors import NotFound, ValidationFailed
from apps.llm.models import ProviderConfig
from apps.teams.models import Team


def providers_for_team() -> QuerySet[ProviderConfig]:
    return ProviderConfig.objects.order_by("-is_demo", "name")


def provider_id_check(provider_id: int, *, team: Team, field: str) -> None:
    """Refuse, naming `field`, a posted provider id that is not one of `team`'s providers."""
    if not ProviderConfig.objects.filter(team=team, pk=provider_id).exists():
        raise ValidationFailed("No such provider in this team.", field=field)


def provider_get(provider_id: Any) -> ProviderConfig:
    try:
        return ProviderConfig.objects.get(pk=int(provider_id))
    except (ProviderConfig.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such provider.") from None


def provider_for_field(provider_id: Any, *, field: str) -> ProviderConfig | None:
    """The team's provider a request names by id (None for none), or ValidationFailed
    naming `field`: another team's id reads as unknown."""
    if provider_id in (None, ""):
        return None
    try:
        return ProviderConfig.objects.get(pk=int(provider_id))
    except (ProviderConfig.DoesNotExist, TypeError, ValueError, OverflowError):
        raise ValidationFailed("Unknown provider.", field=field) from None
