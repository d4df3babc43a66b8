"""Read API for function versions: `promptyard.function_version("answer_question", 3)`."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.teams.api_base import TeamGenericAPIView
from apps.teams.models import ApiKeyScope
from apps.traces.functions import selectors
from apps.traces.models import FunctionVersion


class FunctionVersionSerializer(serializers.ModelSerializer):
    settings = serializers.JSONField()

    class Meta:
        model = FunctionVersion
        fields = ["name", "number", "version_hash", "source", "settings", "first_seen"]
        read_only_fields = fields


class FunctionVersionListAPI(TeamGenericAPIView):
    read_scope = ApiKeyScope.TRACES_READ
    serializer_class = FunctionVersionSerializer

    @extend_schema(responses=FunctionVersionSerializer(many=True))
    def get(self, request, function_name):
        name = selectors.function_name_resolve(function_name)
        page = self.paginate_queryset(selectors.function_versions(name))
        return self.get_paginated_response(FunctionVersionSerializer(page, many=True).data)


class FunctionVersionDetailAPI(TeamGenericAPIView):
    read_scope = ApiKeyScope.TRACES_READ
    serializer_class = FunctionVersionSerializer

    def get(self, request, function_name, number):
        version = selectors.function_version_get(function_name, number)
        return Response(FunctionVersionSerializer(version).data)
