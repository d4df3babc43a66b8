"""Demo data: the demo team's provider points at the bundled demo-echo server."""

from __future__ import annotations

from django.conf import settings

from apps.core.tenancy import team_scope
from apps.llm.models import ProviderConfig, ProviderKind
from apps.llm.services import provider_create

DEMO_NAME = "demo-echo"
DEMO_LABEL = "demo-echo — deterministic test server, not an LLM"
# Illustrative prices, so cost columns show something; demo-echo itself costs nothing.
DEMO_PRICES = {"demo-echo": {"input": 0.5, "output": 1.5}}


def ensure_demo_provider(*, team, actor) -> ProviderConfig:
    """The team's demo-echo provider, created once (idempotent)."""
    with team_scope(team):
        existing = ProviderConfig.objects.filter(is_demo=True).order_by("pk").first()
        if existing is not None:
            return existing
        return provider_create(
            team=team,
            actor=actor,
            name=DEMO_NAME,
            kind=ProviderKind.OPENAI_COMPATIBLE,
            base_url=settings.PROMPTYARD_DEMO_ECHO_URL,
            models=["demo-echo"],
            prices=DEMO_PRICES,
            is_demo=True,
            timeout_seconds=30,
            max_retries=3,
        )


def seed(team, users):
    ensure_demo_provider(team=team, actor=users["alice"])
