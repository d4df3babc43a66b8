"""Online evaluators: the rules, what they covered and spent today, their last errors; a
form to add one; pause and resume."""

from __future__ import annotations

import json

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.core.errors import ServiceError, ValidationFailed
from apps.core.web import refusal_as_message, render_page, role_allows, team_url
from apps.teams.models import PERM_EDIT
from apps.traces import hooks
from apps.traces import selectors as trace_selectors
from apps.traces.dashboard import charts
from apps.traces.online import selectors, services

FIELDS = (
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
)


def _page(request, *, values=None, error=None, error_field=None, status=200):
    context = {
        "rules": selectors.rules_with_today(),
        "can_edit": role_allows(request, PERM_EDIT),
        "evaluators": selectors.evaluator_choices(),
        "values": values or {"sample_rate": "0.1", "daily_calls": "1000"},
        "error": error,
        "error_field": error_field,
    }
    return render_page(request, "traces/online.html", context, status=status)


def online_rules(request):
    if request.method != "POST":
        return _page(request)
    values = {k: request.POST.get(k, "") for k in FIELDS}
    try:
        evaluator = selectors.evaluator_for_field(values["evaluator"])
        try:
            attributes = json.loads(values["attributes"]) if values["attributes"].strip() else {}
        except ValueError:
            raise ValidationFailed(
                'Attribute filters are JSON: {"name": "value"}.', field="attributes"
            ) from None
        rule = services.online_rule_create(
            team=request.team,
            actor=request.user,
            name=values["name"],
            evaluator=evaluator,
            prompt_name=values["prompt_name"],
            prompt_version_number=values["prompt_version_number"],
            function_name=values["function_name"],
            function_version=values["function_version"],
            trace_name=values["trace_name"],
            attributes=attributes,
            sample_rate=values["sample_rate"],
            daily_calls=values["daily_calls"],
            daily_cost=values["daily_cost"],
        )
    except ServiceError as exc:
        return _page(request, values=values, error=exc.message, error_field=exc.field)
    messages.success(request, f"Rule {rule.name} scores new traces from now on.")
    return redirect(team_url(request, "traces:online"))


@require_POST
def online_rule_pause(request, rule_id):
    rule = selectors.rule_get(rule_id)
    paused = request.POST.get("paused") != "0"
    with refusal_as_message(request):
        services.online_rule_set_paused(
            team=request.team, actor=request.user, rule=rule, paused=paused
        )
        messages.success(request, f"Rule {rule.name} {'paused' if paused else 'resumed'}.")
    return redirect(team_url(request, "traces:online"))


def online_rule_detail(request, rule_id):
    """A rule: its judge's calibration against people over time, and a sample of its
    judged traces to send to a queue."""
    rule = selectors.rule_get(rule_id)
    calibration = selectors.judge_calibration(rule)
    chart = charts.line_chart(
        title="Agreement with people",
        starts=[d.day for d in calibration.days],
        series={
            "agreement": [d.agreement for d in calibration.days],
            "kappa": [max(d.kappa, 0.0) if d.kappa is not None else None for d in calibration.days],
        },
        fmt=lambda v: f"{v:.2f}",
        time_format="%m-%d",
    )
    queues = trace_selectors.queue_choices(
        hooks.span_queues(), team=request.team, actor=request.user
    )
    context = {
        "rule": rule,
        "calibration": calibration,
        "chart": chart if calibration.days else None,
        "queues": queues if role_allows(request, PERM_EDIT) else None,
    }
    return render_page(request, "traces/online_rule.html", context)


@require_POST
def online_rule_sample(request, rule_id):
    rule = selectors.rule_get(rule_id)
    with refusal_as_message(request):
        queue = trace_selectors.queue_for_field(
            hooks.span_queues(), request.POST.get("queue_id"), team=request.team, actor=request.user
        )
        added = services.judged_sample_add(
            team=request.team,
            actor=request.user,
            rule=rule,
            queue=queue,
            count=request.POST.get("count"),
        )
        messages.success(request, f"Sent {added} item(s) to the queue {queue.name}.")
    return redirect(team_url(request, "traces:online_rule", rule_id=rule.pk))
