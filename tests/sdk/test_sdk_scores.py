"""Scoring from the SDK against the live server: client.score (sync and async), a retry
stored once, refusals raised with their field, and score_current_span inside @trace."""

from __future__ import annotations

import promptyard
import pytest
from promptyard import AsyncPromptyard, Promptyard, ScoreRejected, tracing

from apps.core.tenancy import team_scope
from apps.traces.models import TraceScore
from tests.async_helper import run_async

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key(acme, alice, api_key_for):
    return api_key_for(acme, alice, scopes=["traces:write"], name="app")


@pytest.fixture
def traced(live_server, key):
    """Send one trace from a decorated function through the real exporter; its ids."""
    tracing.configure_tracing(api_key=key, base_url=live_server.url, schedule_delay_millis=50)
    ids = {}
    try:

        @promptyard.trace(name="answer")
        def answer(question):
            ids["trace"] = promptyard.current_trace_id()
            ids["span"] = promptyard.current_span_id()
            assert promptyard.score_current_span("confidence", 0.75, comment="self-rated")
            assert promptyard.score_current_span("topic", "billing")
            return "42"

        answer("why?")
        assert promptyard.flush_tracing()
    finally:
        tracing.shutdown_tracing()
    return ids


def _stored(team):
    with team_scope(team):
        return {s.name: s for s in TraceScore.objects.all()}


def test_score_current_span_travels_with_the_span(acme, traced):
    stored = _stored(acme)
    assert set(stored) == {"confidence", "topic"}
    confidence = stored["confidence"]
    assert (confidence.trace_hex, confidence.span_hex) == (traced["trace"], traced["span"])
    assert (confidence.value, confidence.comment, confidence.source) == (0.75, "self-rated", "sdk")
    assert stored["topic"].category == "billing"


def test_score_current_span_outside_a_span_does_nothing():
    assert promptyard.score_current_span("thumbs", True) is False


def test_client_score_attaches_feedback_by_trace_id(live_server, acme, key, traced):
    with Promptyard(api_key=key, base_url=live_server.url) as client:
        first = client.score(trace_id=traced["trace"], name="thumbs", value=True, author="u-1")
        assert first["value"] is True and first["source"] == "sdk"
        # The same id again (a retry after a lost answer) updates, never duplicates.
        client.score(
            trace_id=traced["trace"], name="thumbs", value=False, author="u-1", score_id=first["id"]
        )
        with pytest.raises(ScoreRejected) as missing:
            client.score(trace_id="f" * 32, name="thumbs", value=True)
        assert (missing.value.status, missing.value.field) == (404, "trace_id")
        with pytest.raises(ScoreRejected) as bad:
            client.score(trace_id=traced["trace"], name="", value=True)
        assert bad.value.field == "name"
    with team_scope(acme):
        thumbs = TraceScore.objects.filter(name="thumbs")
        assert [(s.value, s.author) for s in thumbs] == [(0.0, "u-1")]


def test_the_async_client_scores_too(live_server, acme, key, traced):
    async def go():
        async with AsyncPromptyard(api_key=key, base_url=live_server.url) as client:
            return await client.score(
                trace_id=traced["trace"], span_id=traced["span"], name="rating", value=4
            )

    body = run_async(go)
    assert body["span_id"] == traced["span"] and body["value"] == 4
    assert _stored(acme)["rating"].kind == "number"
