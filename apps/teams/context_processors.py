"""Navigation data every page needs: the user's teams. Inbox counts load separately
(`teams:nav_counts`) so their queries are not paid by every page."""

from apps.teams.models import Membership


def team_navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    context = {
        "user_memberships": Membership.objects.unscoped()
        .select_related("team")
        .filter(user=user)
        .order_by("team__name"),
    }
    return context
