"""Reads of providers, always inside the team scope."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.core.errors import NotFound
from apps.llm.models import ProviderConfig


def providers_for_team() -> QuerySet[ProviderConfig]:
    return ProviderConfig.objects.order_by("-is_demo", "name")


def provider_get(provider_id: Any) -> ProviderConfig:
    try:
        return ProviderConfig.objects.get(pk=int(provider_id))
    except (ProviderConfig.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such provider.") from None
