"""Online evaluators: defining rules, and the worker's run over newly ingested traces.

Ingestion never sees a rule: the worker (`online_rules_run`, every 15 s from run_all)
reads each active rule's traces created since its cursor, once they have settled (their
exports had SETTLE to arrive), and for each one the filters match and the sample takes:
1. advances the cursor with a conditional UPDATE that fails once the rule is paused, so a
   pause stops the rule before its next trace (a call already in flight finishes);
2. reserves one call, and for a judge with a cost budget its worst-case cost, in the day's
   row (conditional UPDATEs: the budget holds across workers), or stops for the day;
3. evaluates and stores the score (source `llm` for a judge, `rule` for a built-in check;
   idempotent per rule and trace), or records the error.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.core.tenancy import team_scope
from apps.experiments.evaluators import (
    SOURCE_LLM,
    BoundJudge,
    EvalContext,
    EvalOutcome,
    evaluate,
    get_kind,
)
from apps.experiments.evaluators.judge import render_judge_messages, resolve_judge
from apps.experiments.ledger import CAPPED_OUTPUT_TOKENS, CostLedger
from apps.experiments.models import Evaluator
from apps.llm.gateway import cost_bound
from apps.prompts.rendering import RenderError
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import PERM_EDIT, Team
from apps.teams.permissions import actor_person_id, require
from apps.traces import hooks, partitions
from apps.traces import selectors as trace_selectors
from apps.traces.models import OnlineRule, OnlineRuleDay, ScoreKind, ScoreSource, Span, Trace
from apps.traces.online.selectors import judged_unreviewed_traces
from apps.traces.scores.fields import NAME_MAX, ScoreIn
from apps.traces.scores.services import scores_record

SETTLE = timedelta(seconds=5)
BATCH = 200
LAST_ERRORS = 5


# --- defining rules -----------------------------------------------------------------------


def _clean(
    *,
    name: str,
    sample_rate: Any,
    daily_calls: Any,
    daily_cost: Any,
    attributes: Any,
    prompt_version_number: Any,
) -> dict[str, Any]:
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed(f"Name the rule (1 to {NAME_MAX} characters).", field="name")
    try:
        rate = float(sample_rate)
    except (TypeError, ValueError):
        raise ValidationFailed(
            "The sampling rate is a number from 0 to 1.", field="sample_rate"
        ) from None
    if not 0 < rate <= 1:
        raise ValidationFailed(
            "The sampling rate is more than 0 and at most 1.", field="sample_rate"
        )
    try:
        calls = int(daily_calls)
    except (TypeError, ValueError):
        raise ValidationFailed(
            "The daily call budget is a whole number.", field="daily_calls"
        ) from None
    if calls < 0 or calls > 10_000_000:
        raise ValidationFailed("The daily call budget is 0 to 10,000,000.", field="daily_calls")
    cost = None
    if daily_cost not in (None, ""):
        try:
            cost = Decimal(str(daily_cost))
        except ArithmeticError:
            raise ValidationFailed(
                "The daily cost budget is an amount in dollars.", field="daily_cost"
            ) from None
        if not cost.is_finite() or cost < 0 or cost > 1_000_000:
            raise ValidationFailed("The daily cost budget is $0 to $1,000,000.", field="daily_cost")
    attributes = attributes or {}
    if (
        not isinstance(attributes, dict)
        or not all(
            isinstance(k, str) and isinstance(v, str | int | float | bool)
            for k, v in attributes.items()
        )
        or len(attributes) > 20
    ):
        raise ValidationFailed(
            "Attribute filters are up to 20 pairs of a name and a plain value.", field="attributes"
        )
    version = None
    if prompt_version_number not in (None, ""):
        try:
            version = int(str(prompt_version_number).lstrip("v"))
        except ValueError:
            raise ValidationFailed(
                "A prompt version is a number.", field="prompt_version_number"
            ) from None
        if version < 1:
            raise ValidationFailed("A prompt version is a number.", field="prompt_version_number")
    return {
        "name": name,
        "sample_rate": rate,
        "daily_calls": calls,
        "daily_cost": cost,
        "attributes": attributes,
        "prompt_version_number": version,
    }


@transaction.atomic
def online_rule_create(
    *,
    team: Team,
    actor: Actor,
    name: str,
    evaluator: Evaluator,
    prompt_name: str = "",
    prompt_version_number: Any = None,
    function_name: str = "",
    function_version: str = "",
    trace_name: str = "",
    attributes: Any = None,
    sample_rate: Any = 1.0,
    daily_calls: Any = 1000,
    daily_cost: Any = None,
) -> OnlineRule:
    """A rule over traffic from now on (its cursor starts at the team's newest trace)."""
    require(actor, PERM_EDIT, team)
    cleaned = _clean(
        name=name,
        sample_rate=sample_rate,
        daily_calls=daily_calls,
        daily_cost=daily_cost,
        attributes=attributes,
        prompt_version_number=prompt_version_number,
    )
    if evaluator.team_id != team.pk:
        raise ValidationFailed("Choose one of the team's evaluators.", field="evaluator")
    if (
        # The team is explicit: the actor's, checked above.
        OnlineRule.objects.unscoped().filter(team=team, name=cleaned["name"]).exists()
    ):
        raise ValidationFailed("A rule with that name exists.", field="name")
    newest = (
        # The team is explicit: the actor's, checked above.
        Trace.objects.unscoped()
        .filter(team=team)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()  # this team's
    )
    rule = OnlineRule(
        team=team,
        evaluator=evaluator,
        prompt_name=(prompt_name or "").strip(),
        function_name=(function_name or "").strip(),
        function_version=(function_version or "").strip(),
        trace_name=(trace_name or "").strip(),
        cursor=newest or 0,
        created_by_id=actor_person_id(actor),
        **cleaned,
    )
    rule.full_clean(exclude=["team", "evaluator", "created_by"])
    rule.save()
    audit_record(
        team=team,
        actor=actor,
        verb="online_rule.create",
        target=rule,
        after={"name": rule.name, "evaluator": evaluator.name, "sample_rate": rule.sample_rate},
    )
    return rule


def online_rule_set_paused(
    *, team: Team, actor: Actor, rule: OnlineRule, paused: bool
) -> OnlineRule:
    """Pause (the worker stops before its next trace) or resume (from the traffic of now:
    what arrived while paused is skipped, as it would be by a rule created now)."""
    require(actor, PERM_EDIT, team)
    updates: dict[str, Any] = {"paused": bool(paused)}
    if not paused and rule.paused:
        newest = (
            # The team is explicit: the actor's, checked above.
            Trace.objects.unscoped()
            .filter(team=team)
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
        )  # this team's
        updates["cursor"] = max(rule.cursor, newest or 0)
    OnlineRule.objects.unscoped().filter(team=team, pk=rule.pk).update(**updates)  # this team's
    rule.refresh_from_db()
    audit_record(
        team=team,
        actor=actor,
        verb="online_rule.pause" if paused else "online_rule.resume",
        target=rule,
    )
    return rule


# --- the worker -----------------------------------------------------------------------------


def _sampled(rule_pk: int, trace_id: str, rate: float) -> bool:
    """Whether the sample takes this trace: a hash of (rule, trace id), so the choice is
    uniform, independent between rules, and the same every time it is asked."""
    digest = hashlib.sha256(f"{rule_pk}:{trace_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def _matches(rule: OnlineRule, trace: Trace) -> bool:
    return (
        (not rule.prompt_name or trace.prompt_name == rule.prompt_name)
        and (
            rule.prompt_version_number is None
            or trace.prompt_version_number == rule.prompt_version_number
        )
        and (not rule.function_name or trace.function_name == rule.function_name)
        and (not rule.function_version or trace.function_version == rule.function_version)
        and (not rule.trace_name or trace.name == rule.trace_name)
    )


def _root(trace: Trace) -> Span | None:
    margin = 1_000_000
    return (
        Span.objects.filter(
            trace=trace,
            start_ns__gte=partitions.to_ns(trace.start_time) - margin,
            start_ns__lte=partitions.to_ns(trace.end_time) + margin,
        )
        .order_by("start_ns", "id")
        .only("parent_span_id", "attributes", "resource", "input_text", "output_text", "span_id")
        .first()
    )


def _attributes_match(rule: OnlineRule, root: Span | None) -> bool:
    if not rule.attributes:
        return True
    # The span's own attributes, over its resource's (deployment.environment, service.name).
    attrs = {**(root.resource or {}), **(root.attributes or {})} if root is not None else {}
    return all(attrs.get(key) == value for key, value in rule.attributes.items())


def _context(trace: Trace, root: Span | None) -> EvalContext:
    output = (root.output_text if root is not None else "") or trace.output_preview
    question = (root.input_text if root is not None else "") or trace.input_preview
    return EvalContext(
        output=output,
        input={"input": question},
        latency_ms=int(trace.duration_ms),
        cost=float(trace.cost) if trace.cost is not None else None,
        input_tokens=trace.input_tokens,
        output_tokens=trace.output_tokens,
    )


def _reserve(rule: OnlineRule, day: OnlineRuleDay, bound: float) -> bool:
    """One call, and `bound` dollars when the rule has a cost budget, or False (a stop)."""
    days = OnlineRuleDay.objects.filter(pk=day.pk)
    if not days.filter(calls__lt=rule.daily_calls).update(calls=F("calls") + 1):
        return False
    if rule.daily_cost is not None:
        amount = Decimal(str(bound))
        if not days.filter(cost__lte=rule.daily_cost - amount).update(cost=F("cost") + amount):
            days.update(calls=F("calls") - 1)
            return False
    return True


def _record_error(rule: OnlineRule, trace: Trace, message: str, now: datetime) -> None:
    entry = {"at": now.isoformat(), "trace_id": trace.trace_id, "message": message[:500]}
    rule.last_errors = [entry, *(rule.last_errors or [])][:LAST_ERRORS]
    OnlineRule.objects.filter(pk=rule.pk).update(
        errors=F("errors") + 1, last_errors=rule.last_errors
    )


def _evaluate(
    rule: OnlineRule, judge: BoundJudge | None, ctx: EvalContext, day: OnlineRuleDay
) -> tuple[EvalOutcome, float, float] | None:
    """(outcome, reserved, cost) of one evaluation; None when the budget stops it."""
    evaluator = rule.evaluator
    assert evaluator is not None  # the worker runs rules that have one
    if judge is None:
        if not _reserve(rule, day, 0.0):
            return None
        return evaluate(evaluator.kind, evaluator.params, ctx), 0.0, 0.0
    settings = judge.settings
    if settings.max_tokens is None:
        settings = settings.replace(max_tokens=CAPPED_OUTPUT_TOKENS)
    try:
        messages = render_judge_messages(judge.version, ctx)
    except RenderError:
        messages = []
    bound = (
        cost_bound(judge.provider, settings, messages, output_tokens=settings.max_tokens or 0)
        or 0.0
    )
    if not _reserve(rule, day, bound):
        return None
    ledger = CostLedger(cap=bound + 1e-6) if rule.daily_cost is not None else None
    judge.settings = settings
    outcome, cost = asyncio.run(judge.ajudge_with_cost(ctx, ledger=ledger))
    return outcome, bound, cost


def _run_rule(rule: OnlineRule, now: datetime, limit: int) -> int:
    team = rule.team
    traces = list(
        Trace.objects.filter(pk__gt=rule.cursor, created_at__lte=now - SETTLE)
        .order_by("pk")
        .defer("input_preview")[:limit]
    )
    if not traces:
        return 0
    evaluator = rule.evaluator
    if evaluator is None:  # deleted since the pass began
        return 0
    is_judge = get_kind(evaluator.kind).source == SOURCE_LLM
    judge: BoundJudge | None = None
    if is_judge:
        try:
            judge = resolve_judge(evaluator.params)
        except ValidationFailed as exc:
            _record_error(rule, traces[0], exc.message, now)
            OnlineRule.objects.filter(pk=rule.pk).update(cursor=traces[-1].pk)
            return 0
    day, _ = OnlineRuleDay.objects.get_or_create(team=team, rule=rule, day=now.date())
    scored = 0
    for trace in traces:
        matched = _matches(rule, trace)
        root = _root(trace) if matched else None
        matched = matched and _attributes_match(rule, root)
        taken = matched and _sampled(rule.pk, trace.trace_id, rule.sample_rate)
        # The cursor moves only while the rule is active: a pause stops the run here.
        if not OnlineRule.objects.filter(pk=rule.pk, paused=False).update(
            cursor=trace.pk, matched=F("matched") + int(matched), sampled=F("sampled") + int(taken)
        ):
            break
        if not taken:
            continue
        result = _evaluate(rule, judge, _context(trace, root), day)
        if result is None:
            OnlineRuleDay.objects.filter(pk=day.pk).update(budget_stops=F("budget_stops") + 1)
            continue
        outcome, reserved, cost = result
        if rule.daily_cost is not None and judge is not None:
            OnlineRuleDay.objects.filter(pk=day.pk).update(
                cost=F("cost") - Decimal(str(reserved)) + Decimal(str(cost))
            )
        elif cost:
            OnlineRuleDay.objects.filter(pk=day.pk).update(cost=F("cost") + Decimal(str(cost)))
        if outcome.is_error:
            _record_error(rule, trace, outcome.explanation, now)
            continue
        boolean = outcome.passed is not None
        item = ScoreIn(
            trace_hex=trace.trace_id,
            span_hex="",
            name=rule.name,
            kind=ScoreKind.BOOLEAN if boolean else ScoreKind.NUMBER,
            value=(1.0 if outcome.passed else 0.0) if boolean else outcome.value,
            category="",
            comment=(outcome.explanation or "")[:2000],
            source=ScoreSource.LLM if is_judge else ScoreSource.RULE,
            author=f"{evaluator.name} v{evaluator.version}"[:200],
            client_id=f"online:{rule.pk}:{trace.trace_id}",
            where="",
        )
        scores_record(team=team, actor=None, items=[item], check_permission=False)
        OnlineRule.objects.filter(pk=rule.pk).update(scored=F("scored") + 1)
        scored += 1
    return scored


def online_rules_run(*, now: datetime | None = None, limit: int = BATCH) -> dict[int, int]:
    """One pass of every active rule of every team: {rule pk: traces scored}."""
    now = now or timezone.now()
    out = {}
    rules = (
        # The worker runs every team's rules; each is then read and written in its team's scope.
        OnlineRule.objects.unscoped()
        .filter(paused=False, evaluator__isnull=False)
        .select_related("team", "evaluator")
        .order_by("pk")
    )
    for rule in rules:
        with team_scope(rule.team):
            out[rule.pk] = _run_rule(rule, now, limit)
    return out


SAMPLE_MAX = 200


def judged_sample_add(*, team: Team, actor: Actor, rule: OnlineRule, queue: Any, count: Any) -> int:
    """Send `count` traces the rule's judge scored, and no person has, to an annotation
    queue (their model calls, or their root span): the human verdicts that come back are
    what the judge's calibration is measured on. Returns the items added."""
    require(actor, PERM_EDIT, team)
    try:
        count = int(count)
    except (TypeError, ValueError):
        raise ValidationFailed("How many traces? A whole number.", field="count") from None
    if not 1 <= count <= SAMPLE_MAX:
        raise ValidationFailed(f"Send 1 to {SAMPLE_MAX} traces at a time.", field="count")
    sender = hooks.span_queues()
    if sender is None:
        raise ValidationFailed("Annotation queues are not available.", field="queue_id")
    traces = judged_unreviewed_traces(rule, count)
    if not traces:
        raise ValidationFailed(
            "Every trace this judge scored lately has a person's verdict already.", field="count"
        )
    spans = [span for trace in traces for span in trace_selectors.spans_to_annotate(trace, None)]
    items = sender.send(team=team, actor=actor, queue=queue, spans=spans)
    audit_record(
        team=team,
        actor=actor,
        verb="online_rule.sample_to_queue",
        target=rule,
        after={"traces": len(traces), "items": len(items), "queue": getattr(queue, "name", "")},
    )
    return len(items)
