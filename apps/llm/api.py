"""Provider API: members and keys with `experiments:read` (experiments name a provider) list
providers; only admins (and `admin` keys) change or test them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from apps.core.pagination import StandardPagination
from apps.llm import selectors, services
from apps.llm.serializers import ConnectionResultSerializer, ProviderSerializer
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
