"""Playground run history, read-only: what was run, by whom, with what result."""

from __future__ import annotations

from rest_framework import mixins
from rest_framework.response import Response

from apps.core.pagination import StandardPagination
from apps.playground import selectors
from apps.playground.serializers import PlaygroundRunSerializer
from apps.teams.api_base import TeamGenericAPIView

READ = "prompts:read"


class PlaygroundRunListView(mixins.ListModelMixin, TeamGenericAPIView):
    serializer_class = PlaygroundRunSerializer
    pagination_class = StandardPagination
    read_scope = READ

    def get_queryset(self):
        return selectors.run_list()

    def get(self, request):
        return self.list(request)


class PlaygroundRunDetailView(TeamGenericAPIView):
    serializer_class = PlaygroundRunSerializer
    read_scope = READ

    def get(self, request, playground_run_id):
        run = selectors.run_get(playground_run_id)
        return Response(self.get_serializer(run).data)
