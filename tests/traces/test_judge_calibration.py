"""Judge calibration: agreement and kappa of an online judge against people's verdicts on
the same traces, per day; and a sample of judged, unreviewed traces sent to a queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.tenancy import team_scope
from apps.experiments.stats import cohen_kappa
from apps.traces.models import OnlineRule, TraceScore
from apps.traces.online.selectors import judge_calibration
from tests.traces.helpers import hex_id, ingest, raw_span

pytestmark = pytest.mark.django_db


@pytest.fixture
def rule(acme, alice):
    from apps.experiments.models import Evaluator

    with team_scope(acme):
        evaluator = Evaluator.objects.create(
            team=acme, name="judge", kind="llm_judge", params={"prompt": "j", "version": 1}
        )
        return OnlineRule.objects.create(team=acme, name="helpful", evaluator=evaluator)


def _trace(team, actor, n):
    ingest(
        team,
        actor,
        [
            raw_span(
                hex_id(n, 16),
                hex_id(n, 8),
                name=f"t{n}",
                attrs={"gen_ai.request.model": "m", "gen_ai.completion": "hi"},
            )
        ],
    )


def _score(team, n, *, source, value, name, days_ago=0, span=""):
    from apps.traces.selectors import trace_get

    with team_scope(team):
        trace = trace_get(hex_id(n, 16))
        moment = timezone.now() - timedelta(days=days_ago)
        TraceScore.objects.create(
            team=team,
            trace=trace,
            trace_hex=trace.trace_id,
            span_hex=span,
            name=name,
            kind="boolean",
            value=1.0 if value else 0.0,
            source=source,
            created_at=moment,
            updated_at=moment,
        )


def test_agreement_and_kappa_per_day_match_a_direct_computation(acme, alice, rule):
    judge = {1: True, 2: True, 3: False, 4: False, 5: True, 6: True, 7: False, 8: True}
    people = {1: True, 2: False, 3: False, 4: True, 5: True, 6: True, 7: False}  # 8 unreviewed
    for n in judge:
        _trace(acme, alice, n)
        _score(acme, n, source="llm", value=judge[n], name="helpful", days_ago=0 if n <= 4 else 2)
        if n in people:
            _score(acme, n, source="human", value=people[n], name="verdict")
    _score(acme, 1, source="llm", value=False, name="other judge")  # another rule: ignored
    with team_scope(acme):
        calibration = judge_calibration(rule)
    pairs = [(judge[n], people[n]) for n in people]
    assert calibration.pairs == 7 and calibration.judged == 8 and calibration.unreviewed == 1
    assert calibration.agreement == pytest.approx(5 / 7)
    assert calibration.kappa == pytest.approx(cohen_kappa(pairs))
    recent, older = calibration.days[-1], calibration.days[0]
    assert (older.pairs, recent.pairs) == (3, 4)
    assert recent.agreement == pytest.approx(2 / 4)
    assert older.agreement == pytest.approx(1.0)


def test_the_latest_human_verdict_counts(acme, alice, rule):
    _trace(acme, alice, 1)
    _score(acme, 1, source="llm", value=True, name="helpful")
    _score(acme, 1, source="human", value=False, name="verdict", days_ago=1)
    _score(acme, 1, source="human", value=True, name="queue: review", span=hex_id(1, 8))
    with team_scope(acme):
        assert judge_calibration(rule).agreement == 1.0


def test_it_samples_judged_unreviewed_traces_into_a_queue(client, acme, alice, rule):
    from apps.annotations.models import QueueItem
    from apps.annotations.services import queue_create

    for n in range(1, 8):
        _trace(acme, alice, n)
        _score(acme, n, source="llm", value=True, name="helpful")
    _score(acme, 1, source="human", value=True, name="verdict")  # reviewed already
    with team_scope(acme):
        queue = queue_create(team=acme, actor=alice, name="Judge check")
    client.force_login(alice)
    page = client.get(f"/t/acme/traces/online/{rule.pk}/").content.decode()
    assert "Sample into queue" in page and "6 without a person" in page
    client.post(f"/t/acme/traces/online/{rule.pk}/sample/", {"count": "4", "queue_id": queue.pk})
    with team_scope(acme):
        items = list(QueueItem.objects.filter(queue=queue).select_related("span__trace"))
    assert len(items) == 4
    assert hex_id(1, 16) not in {item.span.trace.trace_id for item in items}
    # Verdicts given in the queue come back as calibration pairs.
    from apps.annotations.services import annotation_save

    with team_scope(acme):
        for item in items:
            annotation_save(team=acme, actor=alice, item=item, passed="pass")
        calibration = judge_calibration(rule)
    assert calibration.pairs == 5 and calibration.agreement == 1.0
    refused = client.post(
        f"/t/acme/traces/online/{rule.pk}/sample/", {"count": "0", "queue_id": queue.pk}
    )
    assert refused.status_code == 302


def test_the_rule_page_shows_the_trend(client, acme, alice, rule):
    for n in (1, 2):
        _trace(acme, alice, n)
        _score(acme, n, source="llm", value=True, name="helpful", days_ago=n)
        _score(acme, n, source="human", value=n == 1, name="verdict")
    client.force_login(alice)
    page = client.get(f"/t/acme/traces/online/{rule.pk}/").content.decode()
    assert "Agreement with people" in page and page.count("data-day=") == 2
