"""The base of every team API view: it resolves the team and enters its scope.

The team comes from the API key, or, for a signed-in user, from `/api/v1/t/<team_slug>/`.
A key used under another team's URL, or a user outside the team, gets 404.
"""

from __future__ import annotations

from django.http import Http404
from rest_framework import exceptions, generics, viewsets
from rest_framework.views import APIView

from apps.core.tenancy import enter_team, leave_team
from apps.teams.models import ApiKey, ApiKeyScope, Membership, Team
from apps.teams.selectors import membership_for_slug

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class TeamScopedAPIMixin:
    """Every team API view inherits this; tests fail for any API route that does not."""

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
        self._check_scope(request)

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
        action = getattr(self, "action", None)
        for key in (action, request.method):
            if key and key in self.required_scopes:
                return self.required_scopes[key]
        return self.read_scope if request.method in SAFE_METHODS else self.write_scope

    def _check_scope(self, request):
        if self.api_key is None:
            return
        scope = self.required_scope(request)
        if scope is None and request.method in SAFE_METHODS and self.write_scope:
            # No read scope of its own: a read needs the general read scope or the area's
            # write scope, so a key made for one job (traces:write in an application)
            # cannot read datasets, providers or experiments.
            if self.api_key.has_scope(self.write_scope):
                return
            scope = ApiKeyScope.PROMPTS_READ
        if scope is not None and not self.api_key.has_scope(scope):
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
