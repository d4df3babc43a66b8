"""A rollout measured online: its arms compared from production traces, and the guardrail
that aborts it when the candidate errs more beyond the margin, with significance."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from apps.core.tenancy import team_scope
from apps.prompts import services
from apps.prompts.models import RolloutStatus, TagEvent
from apps.teams.models import AuditEvent
from apps.traces.models import ScoreSource, Status, Trace, TraceScore
from apps.traces.rollouts import rollout_comparison
from tests.conftest import bearer
from tests.isolation_world import text_prompt


@pytest.fixture
def rollout(acme, alice):
    with team_scope(acme):
        prompt, (v1, v2) = text_prompt(
            team=acme, actor=alice, name="support",
            versions=[("Answer {{ q }}", "one"), ("Reply {{ q }}", "two")],
        )  # fmt: skip
        services.tag_move(team=acme, actor=alice, prompt=prompt, tag_name="beta", version=v1)
        return services.rollout_start(
            team=acme, actor=alice, prompt=prompt, tag_name="beta", candidate=v2, percent=50,
            guardrail_margin=0.02,
        )  # fmt: skip


def inject(team, version: int, n: int, errors: int, *, ms=300.0, cost="0.001", before=False):
    """n production traces of `support` v`version`, the first `errors` of them failed."""
    start = timezone.now() - (timedelta(hours=1) if before else timedelta(0))
    with team_scope(team):
        Trace.objects.bulk_create(
            Trace(
                team=team,
                trace_id=uuid.uuid4().hex,
                name="answer",
                start_time=start + timedelta(milliseconds=i),
                end_time=start + timedelta(milliseconds=i + ms),
                duration_ms=ms + (i % 7) * 10,
                status=Status.ERROR if i < errors else Status.OK,
                prompt_name="support",
                prompt_version_number=version,
                cost=Decimal(cost),
            )
            for i in range(n)
        )


def run_guardrails(settings):
    from apps.traces.tasks import rollout_guardrails_check

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    with TestCase.captureOnCommitCallbacks(execute=True):
        return rollout_guardrails_check.enqueue().return_value


def test_the_guardrail_aborts_on_injected_errors_and_says_why(acme, rollout, settings):
    inject(acme, 1, 400, 8)  # 2 % errors on the current version
    inject(acme, 2, 200, 60)  # 30 % on the candidate
    assert run_guardrails(settings) == {"checked": 1, "aborted": 1}
    rollout.refresh_from_db()
    assert (rollout.status, rollout.percent) == (RolloutStatus.ABORTED, 0)
    assert rollout.end_reason.startswith("Guardrail: v2 errs in 30.0 % of 200 calls")
    assert "beyond the 2.0-point margin" in rollout.end_reason
    with team_scope(acme):
        event = TagEvent.objects.get(rollout=rollout, rollout_percent=0)
        assert event.actor_label == "system" and "Guardrail" in event.reason
    assert AuditEvent.objects.unscoped().filter(verb="prompt.rollout_guardrail_abort").exists()


def test_the_guardrail_holds_without_significance_or_enough_traces(acme, rollout, settings):
    inject(acme, 1, 10, 0)
    inject(acme, 2, 10, 5)  # 50 % errors, but only ten calls a side
    assert run_guardrails(settings) == {"checked": 1, "aborted": 0}
    inject(acme, 1, 400, 8)  # 2 %
    inject(acme, 2, 300, 9)  # ~3 %: not shown worse beyond two points
    assert run_guardrails(settings) == {"checked": 1, "aborted": 0}
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.ACTIVE


def test_the_guardrail_ignores_traces_from_before_the_rollout(acme, rollout, settings):
    inject(acme, 1, 400, 8)
    inject(acme, 2, 200, 0)
    inject(acme, 2, 500, 500, before=True)  # the candidate's failures before it rolled out
    assert run_guardrails(settings)["aborted"] == 0


def test_the_page_and_the_api_compare_the_arms(
    client, api_client, acme, alice, rollout, api_key_for
):
    inject(acme, 1, 300, 6, ms=200.0, cost="0.0010")
    inject(acme, 2, 100, 1, ms=400.0, cost="0.0020")
    client.force_login(alice)
    html = client.get(
        reverse("prompts:rollout", kwargs={"team_slug": "acme", "rollout_id": rollout.pk})
    ).content.decode()
    assert 'id="rollout-measure"' in html
    assert '<td class="arm-traces">300</td>' in html and '<td class="arm-traces">100</td>' in html
    assert "2.0 %" in html and "1.0 %" in html
    assert "Waiting" not in html and "Guardrail:" in html

    key = api_key_for(acme, alice, scopes=["prompts:read"])
    body = api_client.get(reverse("api:rollout", kwargs={"rollout_id": rollout.pk}),
                          **bearer(key)).json()  # fmt: skip
    current, candidate = body["comparison"]["arms"]
    assert (current["version"], current["traces"], current["errors"]) == (1, 300, 6)
    assert (candidate["version"], candidate["traces"], candidate["errors"]) == (2, 100, 1)
    assert candidate["latency_p50_ms"] > current["latency_p50_ms"]
    assert candidate["cost_per_call"] == pytest.approx(0.002)
    assert body["comparison"]["latency_difference_ms"]["difference"] == pytest.approx(200, abs=1)
    assert body["comparison"]["guardrail"]["abort"] is False


def score(team, version: int, name: str, values: list[float], *, kind="boolean"):
    """One score per trace on `values[i]` of the arm's traces (oldest first)."""
    with team_scope(team):
        traces = list(
            Trace.objects.filter(prompt_name="support", prompt_version_number=version).order_by(
                "start_time", "id"
            )[: len(values)]
        )
        TraceScore.objects.bulk_create(
            TraceScore(
                team=team, trace=t, trace_hex=t.trace_id, name=name, kind=kind, value=v,
                source=ScoreSource.API,
            )
            for t, v in zip(traces, values, strict=True)
        )  # fmt: skip


def test_it_compares_the_arms_scores_on_the_page_and_the_api(
    client, api_client, acme, alice, rollout, api_key_for
):
    inject(acme, 1, 100, 0)
    inject(acme, 2, 100, 0)
    score(acme, 1, "thumbs", [1.0] * 80 + [0.0] * 20)  # 80 % on the current version
    score(acme, 2, "thumbs", [1.0] * 40 + [0.0] * 10)  # 80 % on 50 candidate traces
    score(acme, 1, "relevance", [0.5, 0.7, 0.6], kind="number")
    score(acme, 2, "relevance", [0.9, 0.8], kind="number")
    key = api_key_for(acme, alice, scopes=["prompts:read"])
    body = api_client.get(reverse("api:rollout", kwargs={"rollout_id": rollout.pk}),
                          **bearer(key)).json()  # fmt: skip
    scores = {s["name"]: s for s in body["comparison"]["scores"]}
    thumbs = scores["thumbs"]
    assert thumbs["kind"] == "boolean"
    assert (thumbs["current"]["traces"], thumbs["candidate"]["traces"]) == (100, 50)
    assert thumbs["current"]["mean"] == pytest.approx(0.8)
    assert thumbs["difference"]["difference"] == pytest.approx(0.0)
    assert thumbs["verdict"] == "no detectable difference at this sample size"
    relevance = scores["relevance"]
    assert relevance["kind"] == "number"
    assert relevance["candidate"]["mean"] == pytest.approx(0.85)
    assert relevance["difference"]["difference"] == pytest.approx(0.85 - 0.6)

    client.force_login(alice)
    html = client.get(
        reverse("prompts:rollout", kwargs={"team_slug": "acme", "rollout_id": rollout.pk})
    ).content.decode()
    assert 'id="rollout-scores"' in html and 'data-score="thumbs"' in html
    assert "80 %" in html and "(50 traces)" in html


def test_it_scores_a_trace_once_as_the_mean_of_its_values(acme, rollout):
    inject(acme, 1, 3, 0)
    inject(acme, 2, 3, 0)
    score(acme, 2, "thumbs", [1.0, 1.0, 1.0])
    score(acme, 2, "thumbs", [0.0])  # a second verdict on the first trace
    with team_scope(acme):
        figures = {f.name: f for f in rollout_comparison(rollout).scores}
    assert figures["thumbs"].candidate_n == 3
    assert figures["thumbs"].candidate_mean == pytest.approx((0.5 + 1 + 1) / 3)


def test_the_guardrail_aborts_on_a_score_worse_beyond_the_margin(
    api_client, acme, alice, rollout, api_key_for, settings
):
    inject(acme, 1, 200, 0)
    inject(acme, 2, 200, 0)
    score(acme, 1, "thumbs", [1.0] * 180 + [0.0] * 20)  # 90 % liked
    score(acme, 2, "thumbs", [1.0] * 100 + [0.0] * 100)  # 50 % liked
    assert run_guardrails(settings)["aborted"] == 0  # errors alike, score not watched

    key = api_key_for(acme, alice, scopes=["prompts:write"])
    url = reverse("api:rollout-guardrail", kwargs={"rollout_id": rollout.pk})
    refused = api_client.post(url, {"guardrail_margin": 2}, format="json", **bearer(key))
    assert refused.status_code == 400 and "guardrail_margin" in refused.content.decode()
    answer = api_client.post(
        url, {"guardrail_margin": 0.05, "guardrail_score": "thumbs"}, format="json", **bearer(key)
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["guardrail_score"] == "thumbs"
    assert AuditEvent.objects.unscoped().filter(verb="prompt.rollout_guardrail").exists()

    assert run_guardrails(settings) == {"checked": 1, "aborted": 1}
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.ABORTED
    assert "'thumbs' averages 50 on v2 (200 traces) against 90 on v1" in rollout.end_reason


def test_the_score_guardrail_waits_for_enough_scored_traces(acme, alice, rollout, settings):
    inject(acme, 1, 100, 0)
    inject(acme, 2, 100, 0)
    score(acme, 1, "thumbs", [1.0] * 10)
    score(acme, 2, "thumbs", [0.0] * 10)
    with team_scope(acme):
        services.rollout_guardrail_set(
            team=acme, actor=alice, rollout=rollout, margin=0.02, score="thumbs"
        )
    assert run_guardrails(settings)["aborted"] == 0
    rollout.refresh_from_db()
    with team_scope(acme):
        reason = rollout_comparison(rollout).guardrail.reason
    assert "Waiting for 30 traces scored 'thumbs' on each arm." in reason


def test_it_sets_the_guardrail_from_the_page_and_refuses_a_viewer(
    client, acme, alice, carol, rollout
):
    url = reverse(
        "prompts:rollout_guardrail", kwargs={"team_slug": "acme", "rollout_id": rollout.pk}
    )
    client.force_login(carol)
    client.post(url, {"margin": "5", "score": "thumbs"})
    rollout.refresh_from_db()
    assert rollout.guardrail_score == ""
    client.force_login(alice)
    page = client.post(url, {"margin": "five", "score": "thumbs"}, follow=True).content.decode()
    assert "Margin: &#x27;five&#x27; is not a number of points." in page
    client.post(url, {"margin": "5", "score": "thumbs"})
    rollout.refresh_from_db()
    assert (rollout.guardrail_margin, rollout.guardrail_score) == (0.05, "thumbs")
    page = client.get(
        reverse("prompts:rollout", kwargs={"team_slug": "acme", "rollout_id": rollout.pk})
    ).content.decode()
    assert 'id="guardrail-form"' in page and 'or its <span class="mono">thumbs</span>' in page
