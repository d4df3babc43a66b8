"""Budget caps hold: model calls and cost, reserved before each call."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.core.errors import ValidationFailed
from apps.core.tenancy import team_scope
from apps.optimisation.models import Evaluation, Reflection, RunStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_never_makes_more_model_calls_than_its_cap(demo_world):
    # 20 train + 20 validation for the start, 20 held back for the best's validation: 8
    # calls are left for the search, fewer than a round with a full train measurement needs.
    run = demo_world.finished(max_calls=68, max_rounds=10)
    requests = demo_world.server.stats()["chat_requests"]
    with team_scope(demo_world.team):
        stored = Evaluation.objects.filter(run=run).count()
        stored += Reflection.objects.filter(run=run).count()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert requests <= 68
    assert run.calls_used == stored == requests
    assert "model calls" in run.status_detail
    assert run.rounds_done < 10


def test_it_never_spends_more_than_its_cost_cap(demo_world):
    # demo-echo's illustrative prices: a call costs ~$0.00005 but reserves its worst case,
    # ~$0.0007 (400 output tokens), so the cap binds before the search is over.
    run = demo_world.finished(max_cost="0.003", max_rounds=10)
    with team_scope(demo_world.team):
        costs = [e.cost or 0 for e in Evaluation.objects.filter(run=run)]
        costs += [r.cost or 0 for r in Reflection.objects.filter(run=run)]
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert sum(costs, Decimal(0)) <= Decimal("0.003")
    assert run.cost_used <= Decimal("0.003")
    assert "cost cap" in run.status_detail, run.status_detail


def test_it_refuses_a_call_budget_too_small_to_measure_the_start(demo_world):
    with pytest.raises(ValidationFailed) as refused:
        demo_world.run(max_calls=10)
    assert refused.value.field == "max_calls"
