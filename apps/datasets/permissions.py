"""Who may change datasets: the editor role, or an API key with the `datasets:write` scope."""

from __future__ import annotations

from apps.teams.models import PERM_EDIT, ApiKeyScope
from apps.teams.permissions import require

READ_SCOPE = ApiKeyScope.DATASETS_READ
WRITE_SCOPE = ApiKeyScope.DATASETS_WRITE


def require_edit(actor, team) -> None:
    require(
        actor,
        PERM_EDIT,
        team,
        scope=WRITE_SCOPE,
        message="You need the editor role (or a key with datasets:write) to change datasets.",
    )
