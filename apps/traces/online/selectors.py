"""Reading online rules and what they did today (team-scoped)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.core.errors import NotFound, ValidationFailed
from apps.experiments.models import Evaluator
from apps.experiments.stats import cohen_kappa, percent_agreement
from apps.traces.models import (
    OnlineRule,
    OnlineRuleDay,
    ScoreKind,
    ScoreSource,
    Trace,
    TraceScore,
)


def rules_with_today() -> list[OnlineRule]:
    """The team's rules, each with `today` (its spending row for today, or None)."""
    rules = list(OnlineRule.objects.select_related("evaluator").order_by("name"))
    days = {
        d.rule_id: d
        for d in OnlineRuleDay.objects.filter(
            rule__in=[r.pk for r in rules], day=timezone.now().date()
        )
    }
    for rule in rules:
        rule.today = days.get(rule.pk)  # type: ignore[attr-defined]
    return rules


def rule_with_today(rule: OnlineRule) -> OnlineRule:
    """The rule with `today` (its spending row for today, or None), as rules_with_today."""
    rule.today = OnlineRuleDay.objects.filter(  # type: ignore[attr-defined]
        rule=rule, day=timezone.now().date()
    ).first()
    return rule


def rule_get(rule_id: object) -> OnlineRule:
    text = str(rule_id)
    rule = OnlineRule.objects.filter(pk=int(text)).first() if text.isdigit() else None
    if rule is None:
        raise NotFound("No such rule.")
    return rule


def evaluator_choices() -> list[Evaluator]:
    return list(Evaluator.objects.order_by("name")[:500])


def evaluator_for_field(value: object, *, field: str = "evaluator") -> Evaluator:
    text = str(value or "")
    evaluator = Evaluator.objects.filter(pk=int(text)).first() if text.isdigit() else None
    if evaluator is None:
        raise ValidationFailed("Choose one of the team's evaluators.", field=field)
    return evaluator


# --- judge calibration -------------------------------------------------------------------

CALIBRATION_DAYS = 30


@dataclass
class CalibrationDay:
    day: date
    pairs: int
    agreement: float | None
    kappa: float | None


@dataclass
class Calibration:
    """How an online judge agrees with people on the traces both judged: per day of the
    judge's verdict, and over the whole window."""

    days: list[CalibrationDay]
    pairs: int
    agreement: float | None
    kappa: float | None
    judged: int  # the judge's verdicts in the window
    unreviewed: int  # of those, on traces no person has judged yet


def judge_calibration(
    rule: OnlineRule, *, now: datetime | None = None, days: int = CALIBRATION_DAYS
) -> Calibration:
    """Agreement (percent) and Cohen's kappa of the rule's pass/fail verdicts against human
    verdicts (a person's verdict on the trace page or from a queue, on the trace or any of
    its spans; the latest when a trace has several) on the same traces. Two queries."""
    since = (now or timezone.now()) - timedelta(days=days)
    judged = {
        trace_pk: (passed, created.date())
        for trace_pk, passed, created in TraceScore.objects.filter(
            name=rule.name,
            source=ScoreSource.LLM,
            kind=ScoreKind.BOOLEAN,
            created_at__gte=since,
        ).values_list("trace_id", "value", "created_at")
    }
    human: dict[int, float | None] = {}
    for trace_pk, value in (
        TraceScore.objects.filter(
            trace_id__in=list(judged), source=ScoreSource.HUMAN, kind=ScoreKind.BOOLEAN
        )
        .order_by("updated_at", "id")
        .values_list("trace_id", "value")
    ):
        human[trace_pk] = value  # the latest wins
    by_day: dict[date, list[tuple[object, object]]] = defaultdict(list)
    for trace_pk, (passed, day) in judged.items():
        if trace_pk in human:
            by_day[day].append((bool(passed), bool(human[trace_pk])))
    all_pairs = [pair for pairs in by_day.values() for pair in pairs]
    return Calibration(
        days=[
            CalibrationDay(
                day=day,
                pairs=len(pairs),
                agreement=percent_agreement(pairs),
                kappa=cohen_kappa(pairs),
            )
            for day, pairs in sorted(by_day.items())
        ],
        pairs=len(all_pairs),
        agreement=percent_agreement(all_pairs),
        kappa=cohen_kappa(all_pairs),
        judged=len(judged),
        unreviewed=len(judged) - len(human),
    )


def judged_unreviewed_traces(
    rule: OnlineRule, count: int, *, days: int = CALIBRATION_DAYS
) -> list[Trace]:
    """Up to `count` traces the rule's judge scored in the window and no person has yet,
    chosen at random (a fair sample of what the judge sees)."""
    since = timezone.now() - timedelta(days=days)
    reviewed = TraceScore.objects.filter(trace=OuterRef("pk"), source=ScoreSource.HUMAN)
    judged = TraceScore.objects.filter(
        trace=OuterRef("pk"), name=rule.name, source=ScoreSource.LLM, created_at__gte=since
    )
    return list(
        Trace.objects.filter(Exists(judged))
        .exclude(Exists(reviewed))
        .defer("input_preview", "output_preview")
        .order_by("?")[:count]
    )
