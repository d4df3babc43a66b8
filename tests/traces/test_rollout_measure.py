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
from apps.traces.models import Status, Trace
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
