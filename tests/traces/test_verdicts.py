"""Annotation where the trace is: a verdict from the trace page, queue verdicts on the
trace, and the explorer's review filter."""

from __future__ import annotations

import re

import pytest

from apps.core.tenancy import team_scope
from apps.traces.models import Span, TraceScore
from tests.traces.helpers import hex_id, ingest, raw_span

pytestmark = pytest.mark.django_db


def _trace(team, actor, n):
    trace_id = hex_id(n, 16)
    ingest(
        team,
        actor,
        [
            raw_span(trace_id, hex_id(n, 8), name=f"run-{n}", start_ms=n),
            raw_span(
                trace_id,
                hex_id(100 + n, 8),
                parent=hex_id(n, 8),
                name="chat",
                start_ms=n + 1,
                attrs={"gen_ai.request.model": "m", "gen_ai.completion": "hi"},
            ),
        ],
    )
    return trace_id


def _verdicts(team):
    with team_scope(team):
        return list(TraceScore.objects.filter(source="human").order_by("id"))


def test_a_fail_needs_reasoning_and_a_second_save_revises(client, acme, alice):
    trace_id = _trace(acme, alice, 1)
    client.force_login(alice)
    url = f"/t/acme/traces/{trace_id}/verdict/"
    refused = client.post(url, {"passed": "fail", "reasoning": " "}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 200 and "a Fail needs reasoning" in refused.content.decode()
    assert _verdicts(acme) == []
    client.post(url, {"passed": "fail", "reasoning": "made up a date"}, HTTP_HX_REQUEST="true")
    saved = client.post(url, {"passed": "pass"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Verdict saved" in saved and "verdict: true" in saved
    (verdict,) = _verdicts(acme)
    assert (verdict.name, verdict.value, verdict.span_hex, verdict.author) == (
        "verdict",
        1.0,
        "",
        alice.email,
    )


def test_a_span_verdict_and_the_page_shows_it(client, acme, alice, bob):
    trace_id = _trace(acme, alice, 1)
    client.force_login(bob)
    response = client.post(
        f"/t/acme/traces/{trace_id}/verdict/",
        {"passed": "fail", "reasoning": "rude", "span_id": hex_id(101, 8)},
    )
    assert response.status_code == 302
    page = client.get(f"/t/acme/traces/{trace_id}/").content.decode()
    assert "verdict: false" in page and "rude" in page and f"span {hex_id(101, 8)[:8]}" in page
    assert 'aria-label="Verdict on this trace"' in page


def test_a_viewer_cannot_give_a_verdict(client, acme, alice, carol):
    trace_id = _trace(acme, alice, 1)
    client.force_login(carol)
    assert "Save verdict" not in client.get(f"/t/acme/traces/{trace_id}/").content.decode()
    response = client.post(f"/t/acme/traces/{trace_id}/verdict/", {"passed": "pass"})
    assert response.status_code == 403 and _verdicts(acme) == []


def test_a_queue_verdict_shows_on_the_trace(client, acme, alice):
    from apps.annotations.services import annotation_save, queue_add_spans, queue_create

    trace_id = _trace(acme, alice, 1)
    with team_scope(acme):
        queue = queue_create(team=acme, actor=alice, name="Support review")
        span = Span.objects.get(span_id=hex_id(101, 8))
        (item,) = queue_add_spans(team=acme, actor=alice, queue=queue, spans=[span])
        annotation_save(team=acme, actor=alice, item=item, passed="fail", reasoning="wrong")
    (verdict,) = _verdicts(acme)
    assert (verdict.name, verdict.value, verdict.span_hex) == (
        "queue: Support review",
        0.0,
        span.span_id,
    )
    with team_scope(acme):
        annotation_save(team=acme, actor=alice, item=item, passed="pass", reasoning="")
    (revised,) = _verdicts(acme)
    assert revised.value == 1.0
    client.force_login(alice)
    page = client.get(f"/t/acme/traces/{trace_id}/").content.decode()
    assert "queue: Support review: true" in page


def test_the_explorer_filters_by_review(client, acme, alice):
    from apps.traces.scores.services import verdict_save
    from apps.traces.selectors import trace_get

    ids = [_trace(acme, alice, n) for n in (1, 2, 3)]
    with team_scope(acme):
        verdict_save(team=acme, actor=alice, trace=trace_get(ids[0]), passed=True)
        verdict_save(team=acme, actor=alice, trace=trace_get(ids[1]), passed=False, reasoning="x")
    client.force_login(alice)

    def names(review):
        page = client.get("/t/acme/traces/", {"review": review}).content.decode()
        return sorted(set(re.findall(r">(run-\d)</a>", page)))

    assert names("annotated") == ["run-1", "run-2"]
    assert names("not_yet") == ["run-3"]
    assert names("failed") == ["run-2"]
    assert names("") == ["run-1", "run-2", "run-3"]


def test_a_verdict_under_a_queues_rules_lands_in_the_queue(client, acme, alice):
    from apps.annotations.models import Annotation
    from apps.annotations.services import queue_create

    trace_id = _trace(acme, alice, 1)
    with team_scope(acme):
        lenient = queue_create(team=acme, actor=alice, name="Lenient", fail_needs_reasoning=False)
        strict = queue_create(team=acme, actor=alice, name="Strict")
    client.force_login(alice)
    page = client.get(f"/t/acme/traces/{trace_id}/").content.decode()
    assert "Queue Lenient (Fail without reasoning allowed)" in page
    url = f"/t/acme/traces/{trace_id}/verdict/"
    refused = client.post(
        url, {"passed": "fail", "queue_id": strict.pk}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "asks for reasoning with every Fail" in refused and "Verdict saved" not in refused
    saved = client.post(
        url,
        {"passed": "fail", "queue_id": lenient.pk, "span_id": hex_id(101, 8)},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "Verdict saved" in saved and "queue: Lenient: false" in saved
    with team_scope(acme):
        (annotation,) = Annotation.objects.select_related("item__span")
        assert annotation.item.queue_id == lenient.pk
        assert annotation.item.span.span_id == hex_id(101, 8) and not annotation.passed


def test_a_queues_extra_fields_are_offered_and_kept_from_the_trace_page(client, acme, alice):
    """Same form as in the queue: the chosen queue's extra fields are on the trace page,
    checked by the queue's rules and stored with the verdict."""
    from apps.annotations.models import Annotation
    from apps.annotations.services import queue_create

    trace_id = _trace(acme, alice, 1)
    fields = [
        {"name": "tone", "kind": "label", "choices": ["polite", "rude"], "required": True},
        {"name": "stars", "kind": "number", "min": 1, "max": 5},
    ]
    with team_scope(acme):
        queue = queue_create(team=acme, actor=alice, name="Tone", form_fields=fields)
    client.force_login(alice)
    page = client.get(f"/t/acme/traces/{trace_id}/").content.decode()
    assert f'name="q{queue.pk}_tone"' in page and '<option value="rude">rude</option>' in page
    assert f'name="q{queue.pk}_stars"' in page and 'min="1.0" max="5.0"' in page
    url = f"/t/acme/traces/{trace_id}/verdict/"
    base = {"passed": "fail", "reasoning": "curt", "queue_id": queue.pk}
    missing = client.post(url, base, HTTP_HX_REQUEST="true").content.decode()
    assert "Tone: this field is required." in missing
    wrong = client.post(
        url,
        {**base, f"q{queue.pk}_tone": "rude", f"q{queue.pk}_stars": "9"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "Stars: at most 5." in wrong
    saved = client.post(
        url,
        {**base, f"q{queue.pk}_tone": "rude", f"q{queue.pk}_stars": "2"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "Verdict saved" in saved
    with team_scope(acme):
        (annotation,) = Annotation.objects.all()
        assert annotation.fields == {"tone": "rude", "stars": 2}
