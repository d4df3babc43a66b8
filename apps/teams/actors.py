"""Who acts on a team's data: a signed-in person, or an API key acting for the person who
made it (within its scopes). Services and selectors take `actor: Actor`."""

from __future__ import annotations

from typing import TypeAlias

from apps.accounts.models import User
from apps.teams.models import ApiKey

Actor: TypeAlias = User | ApiKey
