"""Big OTLP exports are accepted at once (counted and charged to the team's quota, kept
whole) and decoded and written by a task worker, exactly once; what cannot be stored is
said in the team's audit log, since the answer has gone."""

from __future__ import annotations

import json

import pytest
from django.test import TestCase

from apps.core import throttling
from apps.core.tenancy import team_scope
from apps.teams.models import AuditEvent
from apps.teams.throttles import TRACE_SPANS
from apps.traces import exports
from apps.traces.models import Span, TraceExport
from tests.conftest import bearer

URL = "/v1/traces"


def _body(count: int, *, trace: str = "ab" * 16, **extra) -> bytes:
    spans = [
        {
            "traceId": trace,
            "spanId": f"{n + 1:016x}",
            "name": f"step {n}",
            "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000000100000000",
            "attributes": [{"key": "input.value", "value": {"stringValue": f"q{n}"}}],
            **extra,
        }
        for n in range(count)
    ]
    document = {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}
    return json.dumps(document).encode()


@pytest.fixture
def deferring(settings):
    settings.PROMPTYARD_TRACE_DEFER_BYTES = 1000
    return settings


def _post(client, key, body: bytes, content_type="application/json"):
    client.raise_request_exception = False
    return client.post(URL, data=body, content_type=content_type, **bearer(key))


def _stored(team) -> int:
    with team_scope(team):
        return Span.objects.count()


@pytest.mark.django_db(transaction=True)
def test_a_big_export_is_accepted_at_once_and_written_once_by_a_worker(
    client, acme, alice, api_key_for, deferring, throttle_clock
):
    key = api_key_for(acme, alice, scopes=["traces:write"])
    rate = TRACE_SPANS.rate_for(acme)
    before = throttling.available(f"team:{acme.pk}:{TRACE_SPANS.name}", rate)
    answer = _post(client, key, _body(40))
    assert answer.status_code == 200 and answer.json() == {}
    assert _stored(acme) == 0  # not yet: the worker writes it
    after = throttling.available(f"team:{acme.pk}:{TRACE_SPANS.name}", rate)
    assert before - after == pytest.approx(40, abs=1)  # charged when accepted
    with team_scope(acme):
        export = TraceExport.objects.get()
    assert export.spans == 40

    assert exports.trace_export_write(export_id=export.pk) == 40
    assert _stored(acme) == 40
    assert exports.trace_export_write(export_id=export.pk) == 0  # gone: never twice
    assert _stored(acme) == 40
    with team_scope(acme):
        assert not TraceExport.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_worker_picks_it_up_from_the_queue(client, acme, alice, api_key_for, deferring):
    deferring.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    key = api_key_for(acme, alice, scopes=["traces:write"])
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert _post(client, key, _body(12)).status_code == 200
    assert _stored(acme) == 12


@pytest.mark.django_db(transaction=True)
def test_what_a_deferred_export_cannot_store_is_in_the_audit_log(
    client, acme, alice, api_key_for, deferring
):
    key = api_key_for(acme, alice, scopes=["traces:write"])
    broken = b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}' + b" " * 1000
    assert _post(client, key, broken).status_code == 200
    bad_ids = _body(10, trace="00" * 16)
    assert _post(client, key, bad_ids).status_code == 200
    with team_scope(acme):
        pending = list(TraceExport.objects.values_list("pk", flat=True))
    for pk in pending:
        exports.trace_export_write(export_id=pk)
    assert _stored(acme) == 0
    verbs = dict(
        AuditEvent.objects.unscoped()
        .filter(team=acme, verb__startswith="traces.export_")
        .values_list("verb", "after")
    )
    assert "span 1: name must be a string." in verbs["traces.export_malformed"]["error"]
    assert verbs["traces.export_rejected"]["rejected"] == 10
    with team_scope(acme):
        assert not TraceExport.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_big_export_over_the_quota_is_refused_whole(
    client, acme, alice, api_key_for, deferring, settings
):
    settings.PROMPTYARD_TRACE_SPANS_RATE = "5/s"
    settings.PROMPTYARD_TRACE_BURST_SECONDS = 1
    key = api_key_for(acme, alice, scopes=["traces:write"])
    refused = _post(client, key, _body(40))
    assert refused.status_code == 413  # more than the burst: never fits
    with team_scope(acme):
        assert not TraceExport.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_malformed_big_protobuf_export_is_still_a_400(
    client, acme, alice, api_key_for, deferring
):
    key = api_key_for(acme, alice, scopes=["traces:write"])
    answer = _post(client, key, b"\xff" * 2000, "application/x-protobuf")
    assert answer.status_code == 400
    with team_scope(acme):
        assert not TraceExport.objects.exists()


def test_it_counts_json_spans_without_decoding_them():
    body = _body(7, attributes=[{"key": "x", "value": {"stringValue": 'a "spanId" inside'}}])
    assert exports.span_count(body, "application/json") == 7


@pytest.mark.django_db
def test_it_keeps_an_accepted_body_byte_for_byte(acme, alice, api_key_for):
    from apps.teams.keys import api_key_authenticate

    key = api_key_authenticate(api_key_for(acme, alice, scopes=["traces:write"]))
    body = bytes(range(256)) * 4096 + b"\x00'\\"  # every byte value, quotes, a trailing NUL
    with team_scope(acme):
        export = exports.trace_export_accept(
            team=acme, actor=key, body=body, content_type="application/x-protobuf", spans=7
        )
        stored = TraceExport.objects.get(pk=export.pk)
    assert bytes(stored.body) == body
    assert (stored.spans, stored.content_type, stored.team_id) == (
        7,
        "application/x-protobuf",
        acme.pk,
    )
