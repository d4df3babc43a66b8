"""Reading online rules and what they did today (team-scoped)."""

from __future__ import annotations

from django.utils import timezone

from apps.core.errors import NotFound, ValidationFailed
from apps.experiments.models import Evaluator
from apps.traces.models import OnlineRule, OnlineRuleDay


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
        rule.today = days.get(rule.pk)
    return rules


def rule_get(rule_id) -> OnlineRule:
    rule = OnlineRule.objects.filter(pk=rule_id).first() if str(rule_id).isdigit() else None
    if rule is None:
        raise NotFound("No such rule.")
    return rule


def evaluator_choices() -> list[Evaluator]:
    return list(Evaluator.objects.order_by("name")[:500])


def evaluator_for_field(value, *, field: str = "evaluator") -> Evaluator:
    text = str(value or "")
    evaluator = Evaluator.objects.filter(pk=int(text)).first() if text.isdigit() else None
    if evaluator is None:
        raise ValidationFailed("Choose one of the team's evaluators.", field=field)
    return evaluator
