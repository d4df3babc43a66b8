"""A new trace's summary is computed from the export itself and inserted once; it is the
summary the fold from stored spans makes, which traces seen before still go through."""

from __future__ import annotations

import time

import pytest

from apps.core.tenancy import team_scope
from apps.traces.models import Span, Trace
from apps.traces.services import TRACE_FOLD_FIELDS
from tests.traces.helpers import hex_id, ingest, raw_span

BASE = time.time_ns() - 60_000_000_000


def _spans(trace_id: str) -> list:
    llm = {
        "gen_ai.request.model": "gpt-test",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 500,
        "session.id": "s-1",
        "user.id": "u-1",
    }
    return [
        raw_span(
            trace_id,
            hex_id(2, 8),
            parent=hex_id(1, 8),
            name="chat",
            start_ms=5,
            attrs=llm,
            base_ns=BASE,
        ),
        raw_span(
            trace_id,
            hex_id(3, 8),
            parent=hex_id(1, 8),
            name="tool",
            start_ms=20,
            duration_ms=3,
            status="error",
            message="boom",
            base_ns=BASE,
        ),
        raw_span(
            trace_id,
            hex_id(1, 8),
            name="agent",
            duration_ms=40,
            attrs={"input.value": "question", "output.value": "answer"},
            base_ns=BASE,
        ),
    ]


def _summary(trace_id: str) -> dict:
    trace = Trace.objects.get(trace_id=trace_id)
    return {name: getattr(trace, name) for name in TRACE_FOLD_FIELDS}


@pytest.mark.django_db
def test_it_summarises_a_new_trace_as_the_fold_does(acme, alice, priced):
    one, two = hex_id(1, 16), hex_id(2, 16)
    ingest(acme, alice, _spans(one))  # new: summarised from the export
    spans = _spans(two)
    ingest(acme, alice, spans[:1])  # new, then folded from what is stored
    ingest(acme, alice, spans[1:])
    with team_scope(acme):
        first, second = _summary(one), _summary(two)
    assert first == second
    assert first["span_count"] == 3
    assert first["name"] == "agent"
    assert first["status"] == "error"
    assert (first["input_tokens"], first["output_tokens"]) == (1000, 500)
    assert first["cost"] is not None and first["cost"] > 0
    assert (first["session_id"], first["user_id"]) == ("s-1", "u-1")
    assert first["input_preview"] == "question"
    assert first["duration_ms"] == pytest.approx(40)


@pytest.mark.django_db
def test_it_counts_a_span_repeated_in_one_export_once(acme, alice):
    trace_id = hex_id(3, 16)
    span = raw_span(trace_id, hex_id(1, 8), name="only", base_ns=BASE)
    ingest(acme, alice, [span, span])
    with team_scope(acme):
        assert Span.objects.count() == 1
        assert Trace.objects.get().span_count == 1


@pytest.mark.django_db
def test_it_writes_a_new_traces_span_in_few_statements(acme, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ingest(acme, alice, [raw_span(hex_id(4, 16), hex_id(1, 8), base_ns=BASE)])
    with CaptureQueriesContext(connection) as captured:
        ingest(acme, alice, [raw_span(hex_id(5, 16), hex_id(1, 8), base_ns=BASE)])
    written = [q["sql"] for q in captured.captured_queries if "auth_permission" not in q["sql"]]
    # The write timeout, the trace's summary, the span, the dashboard's hour mark (and a
    # savepoint and its release here): no lock, read back or update of the summary.
    assert len(written) == 6, written
    assert not any("FOR UPDATE" in sql or sql.startswith("UPDATE") for sql in written)


@pytest.mark.django_db
def test_it_takes_an_export_of_more_traces_than_one_statement_holds(acme, alice):
    # 3,000 new traces go in three statements (TRACE_INSERT_BATCH): each summary is
    # written, and every span finds its trace.
    spans = [raw_span(hex_id(1_000 + i, 16), hex_id(1, 8), base_ns=BASE) for i in range(3_000)]
    assert ingest(acme, alice, spans) == 3_000
    with team_scope(acme):
        assert Trace.objects.count() == 3_000
        assert set(Trace.objects.values_list("span_count", flat=True)) == {1}
        assert Span.objects.filter(trace__isnull=False).count() == 3_000
