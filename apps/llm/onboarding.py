"""The first step of a new team: where a page needs a model and the team has no provider,
offer demo-echo (labelled as a test server) or a real provider. The playground and the
experiment pages include `llm/_setup_offer.html` with this context."""

from __future__ import annotations

from apps.core.web import role_allows
from apps.llm.defaults import default_label
from apps.llm.models import ProviderConfig
from apps.teams.models import PERM_ADMIN
from apps.teams.selectors import team_managers


def setup_offer_context(request) -> dict:
    """{"setup_offer": bool, ...}: the offer shows while the team has no provider."""
    team = request.team
    has_provider = ProviderConfig.objects.exists()
    context = {
        "setup_offer": not has_provider,
        "team_default_label": default_label(team),
        "can_add_provider": role_allows(request, PERM_ADMIN),
    }
    if not has_provider and not context["can_add_provider"]:
        context["setup_managers"] = team_managers(team)
    return context
