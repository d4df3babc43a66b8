"""Navigation data every page needs: the user's teams and inbox counts."""

from apps.teams.models import Membership


def team_navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    team = getattr(request, "team", None)
    context = {
        "user_memberships": Membership.objects.unscoped()
        .select_related("team")
        .filter(user=user)
        .order_by("team__name"),
        "nav_counts": {},
    }
    if team is not None:
        from apps.teams.navigation import inbox_counts

        context["nav_counts"] = inbox_counts(request)
    return context
