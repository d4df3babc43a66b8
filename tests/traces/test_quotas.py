"""Per-team ingestion quotas at /v1/traces: spans per second and bytes per second with a
burst allowance, 429 + Retry-After past them with nothing of the batch stored, another
team untouched, a team's own limit, a cap on one team's concurrent writes, and the real
OpenTelemetry exporter waiting out the 429 so that nothing is lost."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from google.protobuf import json_format
from opentelemetry.sdk.trace.export import SpanExportResult

from apps.core import throttling
from apps.core.tenancy import team_scope
from apps.teams.services import team_set_limits
from apps.teams.throttles import TRACE_BYTES, TRACE_SPANS
from apps.traces import quotas
from apps.traces.models import Span
from apps.traces.services import IngestBusy
from tests.conftest import bearer
from tests.traces.helpers import collecting_provider, encoded_request, exporter_to

URL = "/v1/traces"
RESOURCE_EXHAUSTED = 8


def _spans(count: int):
    def build(tracer):
        for i in range(count):
            with tracer.start_as_current_span(f"step {i}"):
                pass

    return build


def _batch(count: int) -> bytes:
    return encoded_request(_spans(count)).SerializeToString()


def _post(client, raw_key, body: bytes, **extra):
    return client.post(
        URL, data=body, content_type="application/x-protobuf", **bearer(raw_key), **extra
    )


def _post_json(client, raw_key, count: int):
    document = json.loads(json_format.MessageToJson(encoded_request(_spans(count))))
    for rs in document["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                import base64

                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64decode(span[key]).hex()
    return client.post(
        URL, data=json.dumps(document), content_type="application/json", **bearer(raw_key)
    )


def _unread(*args, **kwargs):
    raise AssertionError("the body was parsed")


def _stored(team) -> int:
    with team_scope(team):
        return Span.objects.count()


@pytest.fixture
def keys(acme, alice, globex, dave, api_key_for):
    return {
        "acme": api_key_for(acme, alice, scopes=["traces:write"]),
        "globex": api_key_for(globex, dave, scopes=["traces:write"]),
    }


@pytest.fixture
def ten_spans_a_burst(settings, throttle_clock):
    """5 spans a second, bursts of 10 (2 s at the rate)."""
    settings.PROMPTYARD_TRACE_SPANS_RATE = "5/s"
    settings.PROMPTYARD_TRACE_BURST_SECONDS = 2


def test_it_answers_429_past_the_teams_spans_per_second(
    client, acme, globex, keys, ten_spans_a_burst
):
    assert _post(client, keys["acme"], _batch(8)).status_code == 200
    refused = _post_json(client, keys["acme"], 5)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"  # 3 spans short at 5 a second
    status = refused.json()
    assert status["code"] == RESOURCE_EXHAUSTED
    assert "5 spans per second (bursts of 10)" in status["message"]
    assert "nothing of this batch was stored" in status["message"]
    assert _stored(acme) == 8
    # Another team's share is its own.
    assert _post(client, keys["globex"], _batch(8)).status_code == 200
    assert _stored(globex) == 8


def test_the_burst_refills_at_the_rate(client, acme, keys, ten_spans_a_burst, throttle_clock):
    assert _post(client, keys["acme"], _batch(10)).status_code == 200
    assert _post(client, keys["acme"], _batch(2)).status_code == 429
    throttle_clock.advance(0.4)
    assert _post(client, keys["acme"], _batch(2)).status_code == 200
    assert _stored(acme) == 12


def test_it_answers_429_past_the_teams_bytes_per_second(
    client, acme, keys, settings, throttle_clock
):
    body = _batch(3)
    settings.PROMPTYARD_TRACE_BYTES_RATE = f"{len(body) + len(body) // 2}/s"
    settings.PROMPTYARD_TRACE_BURST_SECONDS = 1
    assert _post(client, keys["acme"], body).status_code == 200
    refused = _post(client, keys["acme"], body)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    assert b"bytes per second" in refused.content
    assert _stored(acme) == 3
    # The spans of the refused batch were not charged either.
    spans_rate = TRACE_SPANS.rate_for(acme)
    assert throttling.available(f"team:{acme.pk}:trace_spans", spans_rate) == spans_rate.burst - 3


def test_a_batch_larger_than_the_burst_is_413_not_an_endless_429(
    client, acme, keys, ten_spans_a_burst
):
    response = _post(client, keys["acme"], _batch(11))
    assert response.status_code == 413
    assert b"send smaller batches" in response.content
    assert _stored(acme) == 0


def test_a_teams_own_limit_raises_its_quota(client, acme, alice, keys, ten_spans_a_burst):
    with team_scope(acme):
        team_set_limits(team=acme, actor=alice, limits={"limit_trace_spans_per_second": 10})
    assert _post(client, keys["acme"], _batch(12)).status_code == 200
    assert _post(client, keys["acme"], _batch(8)).status_code == 200
    assert _post(client, keys["acme"], _batch(1)).status_code == 429
    assert _stored(acme) == 20


def test_a_batch_the_store_refuses_gives_its_quota_back(
    client, acme, keys, ten_spans_a_burst, monkeypatch
):
    def busy(**kwargs):
        raise IngestBusy("Too many trace writes in progress; retry shortly.")

    monkeypatch.setattr("apps.traces.views.otlp.spans_ingest", busy)
    response = _post(client, keys["acme"], _batch(8))
    assert response.status_code == 503
    for limit in (TRACE_SPANS, TRACE_BYTES):
        rate = limit.rate_for(acme)
        assert throttling.available(f"team:{acme.pk}:{limit.name}", rate) == rate.burst


def test_a_team_cannot_hold_every_request_thread(client, acme, globex, keys, settings, monkeypatch):
    settings.PROMPTYARD_TRACE_TEAM_MAX_EXPORTS = 2
    quotas._slots.clear()
    with ExitStack() as stack:
        held = [stack.enter_context(quotas.team_ingest_slot(acme)) for _ in range(2)]
        assert held == [True, True]  # two of acme's exports are in progress
        # A third is refused before its body is even read.
        monkeypatch.setattr("apps.traces.otlp.parse_request", _unread)
        refused = _post(client, keys["acme"], _batch(2))
        assert refused.status_code == 429
        assert refused["Retry-After"] == "1"
        monkeypatch.undo()
        assert _post(client, keys["globex"], _batch(2)).status_code == 200
    assert _post(client, keys["acme"], _batch(2)).status_code == 200
    assert (_stored(acme), _stored(globex)) == (2, 2)


def test_an_empty_byte_bucket_refuses_before_reading_the_body(
    client, acme, keys, settings, throttle_clock, monkeypatch
):
    body = _batch(2)
    settings.PROMPTYARD_TRACE_BYTES_RATE = f"{len(body)}/s"
    settings.PROMPTYARD_TRACE_BURST_SECONDS = 1
    assert _post(client, keys["acme"], body).status_code == 200
    monkeypatch.setattr("apps.traces.otlp.parse_request", _unread)
    assert _post(client, keys["acme"], body).status_code == 429


def _big_batch(count: int) -> bytes:
    """`count` spans carrying 4 KB each: a batch past quotas.ESTIMATE_MIN_BYTES."""

    def build(tracer):
        for i in range(count):
            with tracer.start_as_current_span(f"step {i}") as span:
                span.set_attribute("input.value", "x" * 4096)

    body = encoded_request(build).SerializeToString()
    assert len(body) >= quotas.ESTIMATE_MIN_BYTES
    return body


def test_it_refuses_a_repeated_big_batch_before_parsing_it(
    client, acme, globex, keys, settings, throttle_clock, monkeypatch
):
    settings.PROMPTYARD_TRACE_SPANS_RATE = "10/s"
    settings.PROMPTYARD_TRACE_BURST_SECONDS = 2  # bursts of 20
    assert _post(client, keys["acme"], _big_batch(20)).status_code == 200
    # The bucket is empty and acme's last batch of this size held 20 spans: the next one
    # is refused without being parsed, told when 20 spans fit.
    with monkeypatch.context() as patched:
        patched.setattr("apps.traces.otlp.parse_request", _unread)
        refused = _post(client, keys["acme"], _big_batch(20))
        assert refused.status_code == 429
        assert refused["Retry-After"] == "2"
        # A google.rpc.Status in protobuf, as the exporter sent: its message is plain UTF-8.
        assert b"held about 20 spans last time); nothing of this batch was stored" in (
            refused.content
        )
    # Another team has no such history: its batch is read as usual.
    assert _post(client, keys["globex"], _big_batch(20)).status_code == 200
    # Once the estimate fits, the batch is read and counted again.
    throttle_clock.advance(2)
    assert _post(client, keys["acme"], _big_batch(20)).status_code == 200
    assert (_stored(acme), _stored(globex)) == (40, 20)


def test_a_small_batch_is_never_refused_on_an_estimate(
    client, acme, keys, settings, throttle_clock
):
    settings.PROMPTYARD_TRACE_SPANS_RATE = "10/s"
    settings.PROMPTYARD_TRACE_BURST_SECONDS = 2
    assert _post(client, keys["acme"], _big_batch(19)).status_code == 200
    # One span is left: a small batch is counted, not estimated, and fits.
    assert _post(client, keys["acme"], _batch(1)).status_code == 200


def test_a_flood_of_wrong_keys_meets_429(client, db, throttle_rates, throttle_clock):
    throttle_rates(api_bad_key="3/min")
    statuses = [_post(client, f"pyd_deadbeef_{i}", _batch(1)).status_code for i in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    refused = _post(client, "pyd_deadbeef_x", _batch(1))
    assert int(refused["Retry-After"]) >= 1


@pytest.mark.django_db(transaction=True)
def test_the_real_exporter_waits_out_a_429_and_nothing_is_lost(
    live_server, acme, alice, api_key_for, settings, caplog
):
    settings.PROMPTYARD_TRACE_SPANS_RATE = "3/s"
    settings.PROMPTYARD_TRACE_BURST_SECONDS = 1
    exporter = exporter_to(live_server.url, api_key_for(acme, alice, scopes=["traces:write"]))
    provider, collected = collecting_provider()
    _spans(6)(provider.get_tracer("tests"))
    provider.shutdown()
    first, second = collected.spans[:3], collected.spans[3:]
    assert exporter.export(first) == SpanExportResult.SUCCESS
    # The bucket is empty: the server answers 429 + Retry-After: 1, the exporter waits
    # and sends the batch again, and only then reports success.
    assert exporter.export(second) == SpanExportResult.SUCCESS
    retries = [r.getMessage() for r in caplog.records if "Transient error" in r.getMessage()]
    assert retries and all("retrying in 1.00s" in message for message in retries)
    assert _stored(acme) == 6
