"""Provider API: members and keys with `experiments:read` (experiments name a provider) list
providers; only admins (and `admin` keys) change or test them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from apps.core.pagination import StandardPagination
from apps.llm import selectors, services
from apps.llm.serializers import (
    ConnectionResultSerializer,
    ProviderSerializer,
    TeamDefaultsSerializer,
)
from apps.teams.api_base import TeamGenericAPIView

READ_SCOPE = "experiments:read"
ADMIN_SCOPE = "admin"


class ProviderListView(mixins.ListModelMixin, TeamGenericAPIView):
    serializer_class = ProviderSerializer
    pagination_class = StandardPagination
    read_scope = READ_SCOPE
    write_scope = ADMIN_SCOPE

    def get_queryset(self):
        return selectors.providers_for_team()

    def get(self, request):
        return self.list(request)

    @extend_schema(responses={201: ProviderSerializer})
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("clear_key", None)
        provider = services.provider_create(team=self.team, actor=self.actor, **data)
        return Response(self.get_serializer(provider).data, status=status.HTTP_201_CREATED)


class ProviderDetailView(TeamGenericAPIView):
    serializer_class = ProviderSerializer
    read_scope = READ_SCOPE
    write_scope = ADMIN_SCOPE
    conflict_methods = ("delete",)  # a provider saved experiments used stays

    def get_object(self):
        return selectors.provider_get(self.kwargs["provider_id"])

    def get(self, request, provider_id):
        return Response(self.get_serializer(self.get_object()).data)

    def _update(self, request, partial):
        provider = self.get_object()
        serializer = self.get_serializer(provider, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        provider = services.provider_update(
            team=self.team, actor=self.actor, provider=provider, **serializer.validated_data
        )
        return Response(self.get_serializer(provider).data)

    def patch(self, request, provider_id):
        return self._update(request, partial=True)

    def put(self, request, provider_id):
        return self._update(request, partial=False)

    def delete(self, request, provider_id):
        services.provider_delete(team=self.team, actor=self.actor, provider=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProviderTestView(TeamGenericAPIView):
    serializer_class = ConnectionResultSerializer
    write_scope = ADMIN_SCOPE

    @extend_schema(request=None, responses=ConnectionResultSerializer)
    def post(self, request, provider_id):
        provider = selectors.provider_get(provider_id)
        result = services.provider_test_connection(
            team=self.team, actor=self.actor, provider=provider
        )
        return Response(result)


def _defaults(team) -> dict:
    provider = team.default_provider if team.default_provider_id else None
    return {
        "default_provider": team.default_provider_id,
        "default_provider_name": provider.name if provider is not None else "",
        "default_model": team.default_model if provider is not None else "",
    }


class TeamDefaultsView(TeamGenericAPIView):
    """GET the team's default provider and model (whoever reads providers); PUT/PATCH sets
    them (admin scope).
    `{"default_provider": null}` clears them."""

    serializer_class = TeamDefaultsSerializer
    read_scope = READ_SCOPE
    write_scope = ADMIN_SCOPE

    def get(self, request):
        return Response(_defaults(self.team))

    def _update(self, request, partial):
        serializer = self.get_serializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        provider_id = data.get("default_provider", self.team.default_provider_id)
        provider = selectors.provider_for_field(provider_id, field="default_provider")
        model = data.get("default_model", self.team.default_model if partial else "")
        team = services.team_defaults_set(
            team=self.team, actor=self.actor, provider=provider, model=model
        )
        return Response(_defaults(team))

    def put(self, request):
        return self._update(request, partial=False)

    def patch(self, request):
        return self._update(request, partial=True)
