"""Read API for traces: list (cursor-paginated, no COUNT) and one trace with its spans."""

from __future__ import annotations

from datetime import datetime

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.core.pagination import NewestFirstCursorPagination
from apps.core.query import query_params
from apps.teams.api_base import TeamGenericAPIView
from apps.teams.models import ApiKeyScope
from apps.traces import selectors
from apps.traces.models import Span, Status, Trace


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
            "session_id",
            "user_id",
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


class NewestFirst(NewestFirstCursorPagination):
    ordering = ("-start_time", "-id")


class TraceFilters(serializers.Serializer):
    """The list's filters (query parameters), as the explorer page has them."""

    range = serializers.ChoiceField(choices=list(selectors.RANGES), required=False)
    start = serializers.DateTimeField(required=False, help_text="Inclusive.")
    end = serializers.DateTimeField(required=False, help_text="Inclusive.")
    name = serializers.CharField(required=False, allow_blank=True, help_text="Root span name.")
    status = serializers.ChoiceField(choices=Status.values, required=False)
    model = serializers.CharField(required=False, allow_blank=True)
    prompt = serializers.CharField(required=False, allow_blank=True, help_text="Prompt name.")
    version = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, help_text="Prompt version number."
    )
    function = serializers.CharField(
        required=False, allow_blank=True, help_text="Traced function name."
    )
    function_version = serializers.CharField(
        required=False, allow_blank=True, help_text="Traced function version (source hash)."
    )
    q = serializers.CharField(
        required=False, allow_blank=True, help_text="Search in input and output."
    )
    session = serializers.CharField(
        required=False, allow_blank=True, help_text="Session id (`session.id`)."
    )
    user = serializers.CharField(required=False, allow_blank=True, help_text="User id (`user.id`).")
    review = serializers.ChoiceField(
        choices=["annotated", "not_yet", "failed"],
        required=False,
        help_text="Human review: with a verdict, without one, or failed by a person.",
    )
    score = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=300,
        help_text="Has a score: name, name=value (true/false, a number, a category) or "
        "name<, <=, >, >= a number.",
    )


def _as_params(filters: dict) -> dict[str, str]:
    """Validated filters in the selector's terms (the explorer page's query strings)."""
    return {
        key: value.isoformat() if isinstance(value, datetime) else str(value)
        for key, value in filters.items()
    }


class TraceListAPI(TeamGenericAPIView):
    # traces:read, not traces:write: an application that sends traces cannot read them back.
    read_scope = ApiKeyScope.TRACES_READ
    serializer_class = TraceSerializer
    pagination_class = NewestFirst

    @extend_schema(parameters=[TraceFilters], responses=TraceSerializer(many=True))
    def get(self, request):
        filters = query_params(TraceFilters, request)
        page = self.paginate_queryset(selectors.traces_filtered(_as_params(filters)))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class TraceDetailAPI(TeamGenericAPIView):
    read_scope = ApiKeyScope.TRACES_READ
    serializer_class = TraceDetailSerializer

    def get(self, request, trace_id):
        trace = selectors.trace_get(trace_id)
        data = TraceSerializer(trace).data
        data["spans"] = SpanSerializer(selectors.trace_spans(trace), many=True).data
        return Response(data)
