"""HTML tenancy: any URL with a `team_slug` runs inside that team's scope, or 404s."""

from __future__ import annotations

from django.http import Http404

from apps.core.tenancy import enter_team, leave_team
from apps.teams.selectors import membership_for_slug


class TeamMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.team = None
        request.membership = None
        request._team_token = None
        try:
            return self.get_response(request)
        finally:
            if request._team_token is not None:
                leave_team(request._team_token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        slug = view_kwargs.get("team_slug")
        if slug is None or _is_api_view(view_func):
            return None  # API views resolve their team (from the key or the URL) themselves
        del view_kwargs["team_slug"]
        if not request.user.is_authenticated:
            from django.contrib.auth.views import redirect_to_login

            return redirect_to_login(request.get_full_path())
        membership = membership_for_slug(slug=slug, user=request.user)
        if membership is None:
            raise Http404("No such team.")
        request.team = membership.team
        request.membership = membership
        request._team_token = enter_team(membership.team)
        return None


def _is_api_view(view_func) -> bool:
    from rest_framework.views import APIView

    cls = getattr(view_func, "cls", None)
    return cls is not None and issubclass(cls, APIView)
