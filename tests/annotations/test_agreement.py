"""Agreement figures checked against values worked out by hand."""

import pytest

from apps.annotations import services
from apps.annotations.agreement import annotator_agreement, evaluator_agreement
from tests.annotations.factories import make_experiment

# Judge verdict vs human verdict on ten items.
JUDGE = [True, True, True, True, False, False, False, True, False, True]
HUMAN = [True, True, True, False, False, False, True, True, False, False]
# Agree on items 1,2,3,5,6,8,9 -> 7/10 = 0.70.
# Judge passes 6/10, humans 5/10: chance agreement 0.6*0.5 + 0.4*0.5 = 0.50.
# kappa = (0.70 - 0.50) / (1 - 0.50) = 0.40.


def _queue_of(acme, alice, verdicts_per_annotator, *, judge=None, per_item=1):
    n = len(next(iter(verdicts_per_annotator.values())))
    cells = [
        {"variant": "v1", "example": i, "scores": {"judge": judge[i]} if judge else {}}
        for i in range(n)
    ]
    experiment, _, _ = make_experiment(acme, alice, variants=("v1",), cells=cells)
    queue = services.queue_create(
        team=acme, actor=alice, name=f"q{per_item}", annotators_per_item=per_item
    )
    services.queue_fill_from_experiment(
        team=acme, actor=alice, queue=queue, experiment=experiment, mode="all"
    )
    items = list(queue.items.order_by("position"))
    for user, verdicts in verdicts_per_annotator.items():
        services.items_assign(team=acme, actor=alice, queue=queue, users=[user], items=items)
        for item, passed in zip(items, verdicts, strict=True):
            services.annotation_save(
                team=acme, actor=user, item=item, passed=passed, reasoning="because"
            )
    return queue, items


def test_it_measures_an_evaluator_against_humans(acme_scope, alice, erin):
    queue, _ = _queue_of(acme_scope, alice, {erin: HUMAN}, judge=JUDGE)
    [judge] = evaluator_agreement(team=acme_scope, queue=queue)
    assert judge.name == "judge"
    assert judge.n == 10
    assert judge.percent == pytest.approx(0.70)
    assert judge.kappa == pytest.approx(0.40)
    # Team-wide figure is the same with one queue.
    assert evaluator_agreement(team=acme_scope)[0].kappa == pytest.approx(0.40)


def test_it_measures_agreement_between_annotators(acme_scope, alice, bob, erin):
    # erin P P F F P, bob P F F F P: agree 4/5 = 0.80; erin passes 3/5, bob 2/5:
    # chance 0.6*0.4 + 0.4*0.6 = 0.48; kappa = (0.80 - 0.48) / 0.52 = 0.6153846...
    erin_v = [True, True, False, False, True]
    bob_v = [True, False, False, False, True]
    queue, items = _queue_of(acme_scope, alice, {erin: erin_v, bob: bob_v}, per_item=2)
    overall, pairs = annotator_agreement(queue=queue)
    assert overall.n == 5
    assert overall.percent == pytest.approx(0.80)
    assert overall.kappa == pytest.approx(0.32 / 0.52)
    assert [p.name for p in pairs] == ["erin@acme.test & bob@acme.test"] or [
        p.name for p in pairs
    ] == ["bob@acme.test & erin@acme.test"]
    # The one disagreement is disputed, the rest done.
    statuses = [i.status for i in queue.items.order_by("position")]
    assert statuses == ["done", "disputed", "done", "done", "done"]


def test_it_leaves_disputes_out_until_an_owner_decides(acme_scope, alice, bob, erin):
    judge = [True, True]
    queue, items = _queue_of(
        acme_scope, alice, {erin: [True, True], bob: [True, False]}, judge=judge, per_item=2
    )
    [before] = evaluator_agreement(team=acme_scope, queue=queue)
    assert (before.n, before.percent) == (1, 1.0)
    services.item_decide(team=acme_scope, actor=alice, item=items[1], passed=False)
    [after] = evaluator_agreement(team=acme_scope, queue=queue)
    # Now two items: judge pass/human pass, judge pass/human fail -> 50 %.
    assert (after.n, after.percent) == (2, 0.5)
