"""Online evaluators: the worker scores matching traces after ingestion, samples them by a
stable hash, stops at the day's budget, stops at once when paused, and records errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.tenancy import team_scope
from apps.traces.models import OnlineRule, OnlineRuleDay, TraceScore
from apps.traces.online.services import (
    online_rule_create,
    online_rule_set_paused,
    online_rules_run,
)
from tests.traces.helpers import hex_id, ingest, raw_span

pytestmark = pytest.mark.django_db


def _evaluator(team, actor, kind="valid_json", name="json ok", params=None):
    from apps.experiments.services import evaluator_create

    with team_scope(team):
        return evaluator_create(team=team, actor=actor, name=name, kind=kind, params=params)


def _traces(team, actor, count, *, start=1, prompt="reply", output='{"ok": true}'):
    spans = []
    for n in range(start, start + count):
        spans.append(
            raw_span(
                hex_id(n, 16),
                hex_id(n, 8),
                name="answer",
                start_ms=n,
                attrs={
                    "promptyard.prompt.name": prompt,
                    "promptyard.prompt.version": 1,
                    "output.value": output if n % 2 else "not json",
                    "deployment.environment": "production" if n % 3 else "staging",
                },
            )
        )
    for i in range(0, len(spans), 500):
        ingest(team, actor, spans[i : i + 500])


def _rule(team, actor, evaluator, **kwargs):
    with team_scope(team):
        return online_rule_create(
            team=team, actor=actor, name=kwargs.pop("name", "json"), evaluator=evaluator, **kwargs
        )


def _later():
    return timezone.now() + timedelta(minutes=1)  # past the settling delay


def _scores(team, name="json"):
    with team_scope(team):
        return list(TraceScore.objects.filter(name=name).order_by("trace_hex"))


def test_it_scores_matching_traces_after_ingestion_never_before(acme, alice):
    evaluator = _evaluator(acme, alice)
    _traces(acme, alice, 2, start=1)  # before the rule: not judged
    rule = _rule(acme, alice, evaluator, prompt_name="reply")
    _traces(acme, alice, 6, start=10)
    _traces(acme, alice, 3, start=30, prompt="other")
    assert _scores(acme) == []  # ingestion scored nothing
    assert online_rules_run(now=_later()) == {rule.pk: 6}
    scores = _scores(acme)
    assert [s.trace_hex for s in scores] == [hex_id(n, 16) for n in range(10, 16)]
    assert {s.source for s in scores} == {"rule"}
    assert [s.value for s in scores] == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]  # odd n: valid JSON
    assert online_rules_run(now=_later()) == {rule.pk: 0}  # each trace once
    rule.refresh_from_db()
    assert (rule.matched, rule.sampled, rule.scored, rule.coverage) == (6, 6, 6, 1.0)


def test_it_waits_for_a_trace_to_settle(acme, alice):
    rule = _rule(acme, alice, _evaluator(acme, alice))
    _traces(acme, alice, 2)
    assert online_rules_run(now=timezone.now()) == {rule.pk: 0}
    assert online_rules_run(now=_later()) == {rule.pk: 2}


def test_sampling_takes_its_share_and_the_same_traces_every_time(acme, alice):
    evaluator = _evaluator(acme, alice)
    rule = _rule(acme, alice, evaluator, sample_rate=0.2, daily_calls=100_000)
    _traces(acme, alice, 1000)
    while online_rules_run(now=_later(), limit=500)[rule.pk]:
        pass
    chosen = {s.trace_hex for s in _scores(acme)}
    assert 150 <= len(chosen) <= 250  # 200 expected; binomial sd ~ 12.6
    # A second rule with the same rate chooses independently; the same rule, the same way.
    from apps.traces.online.services import _sampled

    again = {hex_id(n, 16) for n in range(1, 1001) if _sampled(rule.pk, hex_id(n, 16), 0.2)}
    assert again == chosen
    other = {hex_id(n, 16) for n in range(1, 1001) if _sampled(rule.pk + 1, hex_id(n, 16), 0.2)}
    assert len(other & chosen) < 100
    rule.refresh_from_db()
    assert (rule.matched, rule.sampled, rule.scored) == (1000, len(chosen), len(chosen))


def test_the_daily_call_budget_stops_it(acme, alice):
    rule = _rule(acme, alice, _evaluator(acme, alice), daily_calls=5)
    _traces(acme, alice, 12)
    assert online_rules_run(now=_later()) == {rule.pk: 5}
    with team_scope(acme):
        day = OnlineRuleDay.objects.get(rule=rule)
    assert (day.calls, day.budget_stops) == (5, 7)
    assert len(_scores(acme)) == 5
    # The next day has a fresh budget, for new traffic.
    _traces(acme, alice, 3, start=100)
    assert online_rules_run(now=_later() + timedelta(days=1)) == {rule.pk: 3}


def test_a_cost_budget_refuses_a_call_whose_worst_case_does_not_fit(acme, alice):
    from apps.traces.online import services

    rule = _rule(acme, alice, _evaluator(acme, alice), daily_cost="0.01")
    with team_scope(acme):
        day = OnlineRuleDay.objects.create(team=acme, rule=rule, day=timezone.now().date())
        assert services._reserve(rule, day, 0.004) and services._reserve(rule, day, 0.006)
        assert not services._reserve(rule, day, 0.0001)
        day.refresh_from_db()
    assert (day.calls, str(day.cost)) == (2, "0.01000000")  # the refused call is not counted


def test_pausing_stops_it_at_once_and_resuming_skips_the_paused_traffic(acme, alice):
    rule = _rule(acme, alice, _evaluator(acme, alice))
    _traces(acme, alice, 3)
    with team_scope(acme):
        online_rule_set_paused(team=acme, actor=alice, rule=rule, paused=True)
    assert online_rules_run(now=_later()) == {}
    with team_scope(acme):
        online_rule_set_paused(team=acme, actor=alice, rule=rule, paused=False)
    _traces(acme, alice, 2, start=50)
    assert online_rules_run(now=_later()) == {rule.pk: 2}


def test_a_pause_during_a_run_stops_before_the_next_trace(acme, alice, monkeypatch):
    from apps.traces.online import services

    rule = _rule(acme, alice, _evaluator(acme, alice))
    _traces(acme, alice, 5)
    real = services.evaluate
    calls = []

    def pausing(kind, params, ctx):
        calls.append(1)
        OnlineRule.objects.filter(pk=rule.pk).update(paused=True)  # someone pauses it now
        return real(kind, params, ctx)

    monkeypatch.setattr(services, "evaluate", pausing)
    assert online_rules_run(now=_later()) == {rule.pk: 1}
    assert len(calls) == 1


def test_an_environment_filter_reads_the_resource(acme, alice):
    rule = _rule(acme, alice, _evaluator(acme, alice), attributes={"service.name": "tests"})
    _traces(acme, alice, 3)
    online_rules_run(now=_later())
    rule.refresh_from_db()
    assert rule.matched == 3  # raw_span's resource is {"service.name": "tests"}


def test_attribute_filters_read_the_root_span(acme, alice):
    rule = _rule(
        acme, alice, _evaluator(acme, alice), attributes={"deployment.environment": "production"}
    )
    _traces(acme, alice, 9)
    online_rules_run(now=_later())
    assert len(_scores(acme)) == 6  # n % 3 != 0
    rule.refresh_from_db()
    assert rule.matched == 6


def test_a_judge_that_cannot_be_resolved_is_a_recorded_error(acme, alice):
    from apps.experiments.models import Evaluator

    with team_scope(acme):  # a judge whose prompt was since removed
        evaluator = Evaluator.objects.create(
            team=acme, name="judge", kind="llm_judge", params={"prompt": "nope", "version": 1}
        )
    rule = _rule(acme, alice, evaluator, name="judged")
    _traces(acme, alice, 2)
    assert online_rules_run(now=_later()) == {rule.pk: 0}
    rule.refresh_from_db()
    assert rule.errors == 1 and "does not exist" in rule.last_errors[0]["message"]


def test_an_llm_judge_scores_with_source_llm_within_its_cost_budget(acme, alice, demo_echo):
    from apps.prompts.services import prompt_create, version_create
    from tests.experiments.conftest import make_provider

    provider = make_provider(acme, alice, demo_echo)  # $0.001 a token: a budget bites fast
    with team_scope(acme):
        prompt = prompt_create(team=acme, actor=alice, name="judge")
        version_create(
            team=acme,
            actor=alice,
            prompt=prompt,
            kind="text",
            template='{"passed": true, "reasoning": "fine"}',
            model_settings={"provider_id": provider.pk, "model": "demo-echo", "max_tokens": 30},
            commit_message="judge",
        )
    evaluator = _evaluator(
        acme, alice, kind="llm_judge", name="judge", params={"prompt": "judge", "version": 1}
    )
    rule = _rule(acme, alice, evaluator, name="judged", daily_cost="0.1")
    _traces(acme, alice, 6)
    scored = online_rules_run(now=_later())[rule.pk]
    scores = _scores(acme, "judged")
    assert len(scores) == scored and {s.source for s in scores} == {"llm"}
    assert scores[0].value == 1.0 and scores[0].comment == "fine"
    with team_scope(acme):
        day = OnlineRuleDay.objects.get(rule=rule)
    # Every call reserved its worst case first: the day never went past its budget, and
    # the calls the budget could not fit were stopped, not made.
    assert 0 < day.cost <= rule.daily_cost
    assert scored + day.budget_stops == 6 and day.calls == scored
    assert scored >= 1 and day.budget_stops >= 1  # $0.10 fits a few worst cases, not six


def test_the_page_lists_rules_and_pauses_them(client, acme, alice, carol):
    rule = _rule(acme, alice, _evaluator(acme, alice), sample_rate=0.5)
    client.force_login(alice)
    page = client.get("/t/acme/traces/online/").content.decode()
    assert 'data-rule="json"' in page and "50 %" in page
    client.post(f"/t/acme/traces/online/{rule.pk}/pause/", {"paused": "1"})
    rule.refresh_from_db()
    assert rule.paused
    bad = client.post(
        "/t/acme/traces/online/",
        {"name": "x", "evaluator": rule.evaluator_id, "sample_rate": "2", "daily_calls": "10"},
    )
    assert bad.status_code == 200 and "at most 1" in bad.content.decode()
    made = client.post(
        "/t/acme/traces/online/",
        {
            "name": "y",
            "evaluator": rule.evaluator_id,
            "sample_rate": "0.1",
            "daily_calls": "10",
            "attributes": '{"env": "prod"}',
        },
    )
    assert made.status_code == 302
    client.force_login(carol)
    assert "Add rule" not in client.get("/t/acme/traces/online/").content.decode()
    assert (
        client.post(f"/t/acme/traces/online/{rule.pk}/pause/", {"paused": "0"}).status_code == 403
    )
    rule.refresh_from_db()
    assert rule.paused  # a viewer cannot resume it


def test_deleting_its_evaluator_leaves_the_rule_idle(client, acme, alice):
    from apps.experiments.services import evaluator_delete

    evaluator = _evaluator(acme, alice)
    rule = _rule(acme, alice, evaluator)
    _traces(acme, alice, 2)
    with team_scope(acme):
        evaluator_delete(team=acme, actor=alice, evaluator=evaluator)
    assert online_rules_run(now=_later()) == {}
    client.force_login(alice)
    assert "evaluator deleted" in client.get("/t/acme/traces/online/").content.decode()
    assert client.get(f"/t/acme/traces/online/{rule.pk}/").status_code == 200
