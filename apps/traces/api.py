"""Read API for traces: list (cursor-paginated, no COUNT) and one trace with its spans."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from apps.teams.api_base import TeamGenericAPIView
from apps.teams.models import ApiKeyScope
from apps.traces import selectors
from apps.traces.models import Span, Trace


class TraceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Trace
        fields = [
            "trace_id",
            "name",
            "start_time",
            "end_time",
            "duration_ms",
            "status",
            "span_count",
            "model",
            "prompt_name",
            "prompt_version_number",
            "function_name",
            "function_version",
            "input_preview",
            "output_preview",
            "input_tokens",
            "output_tokens",
            "cost",
        ]


class SpanSerializer(serializers.ModelSerializer):
    class Meta:
        model = Span
        fields = [
            "span_id",
            "parent_span_id",
            "name",
            "kind",
            "start_ns",
            "end_ns",
            "duration_ms",
            "status_code",
            "status_message",
            "attributes",
            "events",
            "resource",
            "model",
            "input_text",
            "output_text",
            "input_tokens",
            "output_tokens",
            "cost",
            "prompt_name",
            "prompt_version_number",
            "function_name",
            "function_version",
        ]


class TraceDetailSerializer(TraceSerializer):
    spans = SpanSerializer(many=True, read_only=True)

    class Meta(TraceSerializer.Meta):
        fields = [*TraceSerializer.Meta.fields, "spans"]


class NewestFirst(CursorPagination):
    ordering = ("-start_time", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


FILTER_PARAMETERS = [
    OpenApiParameter(name, str, description=description)
    for name, description in (
        ("range", "1h, 24h, 7d or 30d"),
        ("start", "ISO datetime, inclusive"),
        ("end", "ISO datetime, inclusive"),
        ("name", "root span name"),
        ("status", "ok, error or unset"),
        ("model", "model name"),
        ("prompt", "prompt name"),
        ("version", "prompt version number"),
        ("function", "traced function name"),
        ("function_version", "traced function version (source hash)"),
        ("q", "search in input and output"),
    )
]


class TraceListAPI(TeamGenericAPIView):
    # traces:read, not traces:write: an application that sends traces cannot read them back.
    read_scope = ApiKeyScope.TRACES_READ
    serializer_class = TraceSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        return selectors.traces_filtered(self.request.query_params)

    @extend_schema(parameters=FILTER_PARAMETERS)
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class TraceDetailAPI(TeamGenericAPIView):
    read_scope = ApiKeyScope.TRACES_READ
    serializer_class = TraceDetailSerializer

    def get(self, request, trace_id):
        trace = selectors.trace_get(trace_id)
        data = TraceSerializer(trace).data
        data["spans"] = SpanSerializer(selectors.trace_spans(trace), many=True).data
        return Response(data)
