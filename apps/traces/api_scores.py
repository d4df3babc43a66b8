"""The scores API: POST /api/v1/scores/ (one score, or a batch) and GET (newest first).

Scores are written with traces:write (the application that sends a trace sends its
feedback) and read with traces:read. A trace or span of another team is a 404, as one
that does not exist."""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.core.pagination import NewestFirstCursorPagination
from apps.core.query import query_params
from apps.teams.api_base import TeamGenericAPIView
from apps.teams.models import ApiKeyScope
from apps.traces.models import ScoreKind, ScoreSource, TraceScore
from apps.traces.scores import fields, selectors, services


class ScoreSerializer(serializers.ModelSerializer):
    trace_id = serializers.CharField(source="trace_hex")
    span_id = serializers.CharField(source="span_hex")
    id = serializers.CharField(source="client_id")
    value = serializers.SerializerMethodField()

    class Meta:
        model = TraceScore
        fields = [
            "id",
            "trace_id",
            "span_id",
            "name",
            "kind",
            "value",
            "comment",
            "source",
            "author",
            "created_at",
            "updated_at",
        ]

    def get_value(self, score) -> bool | float | str | None:
        return score.json_value


class ScoreInSerializer(serializers.Serializer):
    """One score (documentation of the body; services/fields.py reads it)."""

    id = serializers.CharField(
        required=False,
        max_length=fields.CLIENT_ID_MAX,
        help_text="Your id for this score: sending it again updates the same score.",
    )
    trace_id = serializers.RegexField(r"^[0-9a-fA-F]{32}$", help_text="OTLP trace id (hex).")
    span_id = serializers.RegexField(
        r"^[0-9a-fA-F]{16}$", required=False, help_text="OTLP span id (hex); omit for the trace."
    )
    name = serializers.CharField(max_length=fields.NAME_MAX)
    value = serializers.JSONField(help_text="true/false, a number, or a category (string).")
    kind = serializers.ChoiceField(choices=ScoreKind.values, required=False)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=fields.COMMENT_MAX)
    # The body's field is called source, a name DRF's Field also uses (its stubs object).
    source = serializers.ChoiceField(choices=ScoreSource.values, required=False)  # type: ignore[assignment]
    author = serializers.CharField(required=False, allow_blank=True, max_length=fields.AUTHOR_MAX)


class ScoreBatchInSerializer(serializers.Serializer):
    scores = serializers.ListField(
        child=ScoreInSerializer(), min_length=1, max_length=fields.BATCH_MAX
    )


class ScoreBatchOutSerializer(serializers.Serializer):
    scores = ScoreSerializer(many=True)
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


class ScoreFilters(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True)
    source = serializers.ChoiceField(choices=ScoreSource.values, required=False)  # type: ignore[assignment]
    trace_id = serializers.RegexField(r"^[0-9a-fA-F]{32}$", required=False)
    since = serializers.DateTimeField(required=False)


class NewestFirst(NewestFirstCursorPagination):
    ordering = ("-created_at", "-id")


class ScoreListAPI(TeamGenericAPIView):
    read_scope = ApiKeyScope.TRACES_READ
    write_scope = ApiKeyScope.TRACES_WRITE
    serializer_class = ScoreSerializer
    pagination_class = NewestFirst
    not_found_methods = ("post",)  # a trace or span id of the body that is not the team's
    conflict_methods = ("post",)  # an id that already scores another trace, span or name

    @extend_schema(parameters=[ScoreFilters], responses=ScoreSerializer(many=True))
    def get(self, request):
        filters = query_params(ScoreFilters, request)
        page = self.paginate_queryset(selectors.scores_filtered(filters))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="ScoreWrite",
            serializers=[ScoreInSerializer, ScoreBatchInSerializer],
            resource_type_field_name=None,
        ),
        responses={
            200: PolymorphicProxySerializer(
                component_name="ScoreWritten",
                serializers=[ScoreSerializer, ScoreBatchOutSerializer],
                resource_type_field_name=None,
            ),
            201: ScoreSerializer,
        },
    )
    def post(self, request):
        """One score (201 when new, 200 when its id was stored already: updated), or a
        batch as {"scores": [...]} or a list (200, all or none)."""
        items, batch = fields.scores_parse(request.data)
        recorded = services.scores_record(team=self.team, actor=self.actor, items=items)
        if not batch:
            only = recorded[0]
            return Response(ScoreSerializer(only.score).data, status=201 if only.created else 200)
        created = sum(1 for r in recorded if r.created)
        return Response(
            {
                "scores": ScoreSerializer([r.score for r in recorded], many=True).data,
                "created": created,
                "updated": len(recorded) - created,
            }
        )
