"""The base of every team API view: it resolves the team and enters its scope.

The team comes from the API key, or, for a signed-in user, from `/api/v1/t/<team_slug>/`.
A key used under another team's URL, or a user outside the team, gets 404.
"""

from __future__ import annotations

from django.http import Http404
from rest_framework import exceptions, generics, viewsets
from rest_framework.views import APIView

from apps.core.tenancy import enter_team, leave_team
from apps.teams.models import ApiKey, Membership, Team, implied_scopes
from apps.teams.selectors import membership_for_slug

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def read_scope_of(write_scope: str | None) -> str | None:
    """The read scope of a write scope's area ("datasets:write" -> "datasets:read");
    `admin` reads what it writes."""
    if write_scope is None:
        return None
    area, _, access = write_scope.partition(":")
    return f"{area}:read" if access == "write" else write_scope


class TeamScopedAPIMixin:
    """Every team API view inherits this; tests fail for any API route that does not."""

    # The scopes an API key needs (apps.teams.models.ApiKeyScope). Reads need `read_scope`,
    # or, when it is None, the read scope of `write_scope`'s area; tests/teams walk every
    # route and check both against the route's area.
    read_scope: str | None = None
    write_scope: str | None = None
    # Per-action (viewsets) or per-method overrides: {"approve": "prompts:write"}.
    required_scopes: dict[str, str] = {}

    # Set by initial() before any handler runs; handlers may rely on it.
    team: Team = None  # type: ignore[assignment]
    membership: Membership | None = None
    api_key: ApiKey | None = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        slug = self.kwargs.pop("team_slug", None)
        self.team = self._resolve_team(request, slug)
        self._team_token = enter_team(self.team)
        self._throttle(request)
        self._check_scope(request)

    def check_throttles(self, request):
        """Deferred: APIView.initial() calls this before the team is known; `_throttle`
        runs them once it is, so an outsider naming a team spends none of its allowance."""

    def _throttle(self, request):
        super().check_throttles(request)

    def finalize_response(self, request, response, *args, **kwargs):
        token = getattr(self, "_team_token", None)
        if token is not None:
            leave_team(token)
            self._team_token = None
        return super().finalize_response(request, response, *args, **kwargs)

    def _resolve_team(self, request, slug):
        if isinstance(request.auth, ApiKey):
            self.api_key = request.auth
            if slug is not None and slug != request.auth.team.slug:
                raise Http404
            return request.auth.team
        if slug is None:
            raise exceptions.NotAuthenticated(
                "Send an API key (Authorization: Bearer pyd_…) or use /api/v1/t/<team>/."
            )
        membership = membership_for_slug(slug=slug, user=request.user)
        if membership is None:
            raise Http404
        self.membership = membership
        return membership.team

    def required_scope(self, request) -> str | None:
        """The scope a key needs for this request: a per-action or per-method override, else
        the view's read scope for reads (or the read of its write scope's area) and its
        write scope for writes."""
        action = getattr(self, "action", None)
        for key in (action, request.method):
            if key and key in self.required_scopes:
                return self.required_scopes[key]
        if request.method in SAFE_METHODS:
            return self.read_scope or read_scope_of(self.write_scope)
        return self.write_scope

    def _check_scope(self, request):
        if self.api_key is None:
            return
        scope = self.required_scope(request)
        if scope is None:
            if request.method not in SAFE_METHODS and not hasattr(self, request.method.lower()):
                return  # a method the view does not have: DRF answers 405
            # A view that names no scope for what it does takes no key (fail closed).
            raise exceptions.PermissionDenied("API keys cannot use this endpoint.")
        if not self.api_key.has_scope(scope):
            if scope in implied_scopes(self.api_key.scopes):
                raise exceptions.PermissionDenied(
                    f"This API key has the '{scope}' scope, but its person's role in the "
                    "team no longer allows it."
                )
            raise exceptions.PermissionDenied(f"This API key lacks the '{scope}' scope.")

    @property
    def actor(self):
        """Who acts, as services expect it: the API key, or the signed-in user."""
        return self.api_key if self.api_key is not None else self.request.user


class TeamAPIView(TeamScopedAPIMixin, APIView):
    pass


class TeamGenericAPIView(TeamScopedAPIMixin, generics.GenericAPIView):
    pass


class TeamViewSet(TeamScopedAPIMixin, viewsets.GenericViewSet):
    pass
