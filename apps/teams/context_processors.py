"""Navigation data every page needs: the user's teams. Inbox counts load separately
(`teams:nav_counts`) so their queries are not paid by every page."""

from apps.teams.selectors import memberships_of


def team_navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"user_memberships": memberships_of(user)}
