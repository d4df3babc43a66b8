"""One message for every page a role may not open: what the person cannot do, their role,
and who can. A page refused for a role answers 403 with it (never 404, which stays for
other teams' objects); a button the role cannot use is hidden or disabled with the reason."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from apps.teams.models import PERM_ADMIN, PERM_ANNOTATE, PERM_EDIT, PERM_OWN, PERM_VIEW

WHO_CAN = {
    PERM_VIEW: "every member",
    PERM_ANNOTATE: "annotators, editors, admins and owners",
    PERM_EDIT: "editors, admins and owners",
    PERM_ADMIN: "admins and owners",
    PERM_OWN: "owners",
}


def refusal(request, perm: str, action: str) -> str:
    """ "As a viewer, you cannot create prompts: editors, admins and owners can." """
    membership = getattr(request, "membership", None)
    role = membership.get_role_display().lower() if membership is not None else "visitor"
    article = "an" if role[:1] in "aeiou" else "a"
    return f"As {article} {role}, you cannot {action}: {WHO_CAN.get(perm, 'others')} can."


def require_role_for(request, perm: str, action: str) -> None:
    """403 with `refusal(...)` unless the member's role grants `perm` on the URL's team."""
    membership = getattr(request, "membership", None)
    if membership is None or not membership.allows(perm):
        raise PermissionDenied(refusal(request, perm, action))
