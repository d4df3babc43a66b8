"""Online evaluators and the quality dashboard through the API.

Rules are read with traces:read and defined, paused and resumed with experiments:write
(a rule runs the team's evaluators on live traffic and spends its model budget, like an
experiment; an application's ingest key, traces:write, cannot). The dashboard answers the
charts' numbers as JSON, read from the same pre-aggregated buckets as its pages."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.query import query_params
from apps.teams.api_base import TeamGenericAPIView
from apps.teams.models import ApiKeyScope
from apps.traces.dashboard import selectors as dashboard_selectors
from apps.traces.models import OnlineRule
from apps.traces.online import selectors, services


class OnlineRuleSerializer(serializers.ModelSerializer):
    evaluator = serializers.SerializerMethodField()
    today = serializers.SerializerMethodField()

    class Meta:
        model = OnlineRule
        fields = [
            "id",
            "name",
            "evaluator",
            "prompt_name",
            "prompt_version_number",
            "function_name",
            "function_version",
            "trace_name",
            "attributes",
            "sample_rate",
            "daily_calls",
            "daily_cost",
            "paused",
            "matched",
            "sampled",
            "scored",
            "errors",
            "last_errors",
            "today",
            "created_at",
        ]
        read_only_fields = fields

    def get_evaluator(self, rule) -> dict | None:
        evaluator = rule.evaluator
        if evaluator is None:
            return None
        return {"id": evaluator.pk, "name": evaluator.name, "kind": evaluator.kind}

    def get_today(self, rule) -> dict:
        """Today's spending: calls made and reserved cost, against the budget."""
        day = getattr(rule, "today", None)
        return {
            "calls": day.calls if day is not None else 0,
            "cost": float(day.cost) if day is not None else 0.0,
        }


class OnlineRuleInSerializer(serializers.Serializer):
    """A rule (documentation of the body; the service validates and names what is wrong)."""

    name = serializers.CharField(max_length=100)
    evaluator = serializers.IntegerField(help_text="One of the team's evaluators, by id.")
    prompt_name = serializers.CharField(required=False, allow_blank=True, default="")
    prompt_version_number = serializers.IntegerField(required=False, allow_null=True, default=None)
    function_name = serializers.CharField(required=False, allow_blank=True, default="")
    function_version = serializers.CharField(required=False, allow_blank=True, default="")
    trace_name = serializers.CharField(required=False, allow_blank=True, default="")
    attributes = serializers.DictField(
        required=False, default=dict, help_text="Root span attribute == value, up to 20."
    )
    sample_rate = serializers.FloatField(required=False, default=1.0)
    daily_calls = serializers.IntegerField(required=False, default=1000)
    daily_cost = serializers.DecimalField(
        max_digits=12, decimal_places=6, required=False, allow_null=True, default=None
    )


class OnlineRulePauseSerializer(serializers.Serializer):
    paused = serializers.BooleanField()


class OnlineRuleListAPI(TeamGenericAPIView):
    read_scope = ApiKeyScope.TRACES_READ
    write_scope = ApiKeyScope.EXPERIMENTS_WRITE
    serializer_class = OnlineRuleSerializer
    pagination_class = None

    @extend_schema(responses=OnlineRuleSerializer(many=True))
    def get(self, request):
        return Response(OnlineRuleSerializer(selectors.rules_with_today(), many=True).data)

    @extend_schema(request=OnlineRuleInSerializer, responses={201: OnlineRuleSerializer})
    def post(self, request):
        body = OnlineRuleInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        rule = services.online_rule_create(
            team=self.team,
            actor=self.actor,
            name=data["name"],
            evaluator=selectors.evaluator_for_field(data["evaluator"]),
            prompt_name=data["prompt_name"],
            prompt_version_number=data["prompt_version_number"],
            function_name=data["function_name"],
            function_version=data["function_version"],
            trace_name=data["trace_name"],
            attributes=data["attributes"],
            sample_rate=data["sample_rate"],
            daily_calls=data["daily_calls"],
            daily_cost=data["daily_cost"],
        )
        return Response(
            OnlineRuleSerializer(selectors.rule_with_today(rule)).data,
            status=status.HTTP_201_CREATED,
        )


class OnlineRuleDetailAPI(TeamGenericAPIView):
    read_scope = ApiKeyScope.TRACES_READ
    write_scope = ApiKeyScope.EXPERIMENTS_WRITE
    serializer_class = OnlineRuleSerializer

    @extend_schema(responses=OnlineRuleSerializer)
    def get(self, request, rule_id: int):
        return Response(
            OnlineRuleSerializer(selectors.rule_with_today(selectors.rule_get(rule_id))).data
        )


class OnlineRulePauseAPI(TeamGenericAPIView):
    """Pause a rule (the worker stops before its next trace) or resume it (from the
    traffic of now)."""

    read_scope = ApiKeyScope.TRACES_READ
    write_scope = ApiKeyScope.EXPERIMENTS_WRITE
    serializer_class = OnlineRuleSerializer

    @extend_schema(request=OnlineRulePauseSerializer, responses=OnlineRuleSerializer)
    def post(self, request, rule_id: int):
        rule = selectors.rule_get(rule_id)  # another team's rule: 404 before the body
        body = OnlineRulePauseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rule = services.online_rule_set_paused(
            team=self.team, actor=self.actor, rule=rule, paused=body.validated_data["paused"]
        )
        return Response(OnlineRuleSerializer(selectors.rule_with_today(rule)).data)


# --- the dashboard ----------------------------------------------------------------------


class DashboardFilters(serializers.Serializer):
    range = serializers.ChoiceField(
        choices=list(dashboard_selectors.RANGES), required=False, default="7d"
    )
    prompt = serializers.CharField(required=False, help_text="One prompt: a line per version.")
    function = serializers.CharField(
        required=False, help_text="One traced function: a line per code version."
    )

    def validate(self, attrs):
        if attrs.get("prompt") and attrs.get("function"):
            raise serializers.ValidationError({"function": "Ask for a prompt or a function."})
        return attrs


class DashboardPointSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    traces = serializers.IntegerField()
    error_rate = serializers.FloatField(allow_null=True)
    latency_p50_ms = serializers.FloatField(allow_null=True)
    latency_p95_ms = serializers.FloatField(allow_null=True)
    tokens = serializers.IntegerField()
    cost = serializers.FloatField()
    scores = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text="Per score name: the mean (numbers) or pass rate (booleans).",
    )


class DashboardSeriesSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The line's name on the charts (v3, a prompt…).")
    prompt_name = serializers.CharField()
    prompt_version = serializers.IntegerField()
    function_name = serializers.CharField()
    function_version = serializers.CharField()
    first_seen = serializers.DateTimeField()
    totals = DashboardPointSerializer()
    points = DashboardPointSerializer(many=True, help_text="Only buckets with traffic.")


class DashboardSerializer(serializers.Serializer):
    range = serializers.CharField()
    period = serializers.CharField()
    starts = serializers.ListField(child=serializers.DateTimeField())
    totals = DashboardPointSerializer()
    series = DashboardSeriesSerializer(many=True)
    score_names = serializers.ListField(child=serializers.CharField())
    version_changes = serializers.ListField(
        child=serializers.DictField(), help_text="[{at, label}]: a version's first bucket."
    )


def _point(start, totals) -> dict:
    return {
        "start": start,
        "traces": totals.traces,
        "error_rate": totals.error_rate,
        "latency_p50_ms": totals.p50,
        "latency_p95_ms": totals.p95,
        "tokens": totals.tokens,
        "cost": totals.cost,
        "scores": {name: totals.score(name) for name in sorted(totals.scores)},
    }


class DashboardAPI(TeamGenericAPIView):
    """Volume, error rate, latency p50/p95, tokens, cost and scores over time: the team's
    (a line per prompt or function), a prompt's (per version) or a function's."""

    read_scope = ApiKeyScope.TRACES_READ
    serializer_class = DashboardSerializer
    not_found_methods = ("get",)  # a prompt or function with no traces at all

    @extend_schema(parameters=[DashboardFilters], responses=DashboardSerializer)
    def get(self, request):
        filters = query_params(DashboardFilters, request)
        if filters.get("prompt"):
            kind, name = "prompt", filters["prompt"]
        elif filters.get("function"):
            kind, name = "function", filters["function"]
        else:
            kind, name = "team", ""
        dash = dashboard_selectors.dashboard(
            kind=kind, name=name, params={"range": filters["range"]}
        )
        series = [
            {
                "name": line.label,
                "prompt_name": line.key[0] or (name if kind == "prompt" else ""),
                "prompt_version": line.key[1],
                "function_name": line.key[2] or (name if kind == "function" else ""),
                "function_version": line.key[3],
                "first_seen": line.first_seen,
                "totals": _point(line.first_seen, line.totals),
                "points": [_point(start, line.points[start]) for start in sorted(line.points)],
            }
            for line in dash.series
        ]
        body = {
            "range": dash.range,
            "period": dash.period,
            "starts": dash.starts,
            "totals": _point(dash.starts[0] if dash.starts else None, dash.totals),
            "series": series,
            "score_names": dash.score_names,
            "version_changes": [{"at": at, "label": label} for at, label in dash.markers],
        }
        return Response(DashboardSerializer(body).data)
