"""What the service writes to its log under a flood of refused requests."""

from __future__ import annotations

import logging

from tests.conftest import bearer

PROMPTS = "/api/v1/prompts/"


def test_it_does_not_log_each_request_refused_by_a_limit(
    client, acme, alice, api_key_for, throttle_rates, throttle_clock, caplog
):
    throttle_rates(api_key="2/min")
    key = api_key_for(acme, alice, scopes=["prompts:read"])
    caplog.set_level(logging.WARNING, logger="django.request")
    statuses = [client.get(PROMPTS, **bearer(key)).status_code for _ in range(5)]
    assert statuses == [200, 200, 429, 429, 429]
    # A flood past a limit writes no line per refused request (it would fill the log).
    assert not [r for r in caplog.records if getattr(r, "status_code", None) == 429]
    # Other client errors are still logged.
    assert client.get(PROMPTS, **bearer("pyd_deadbeef_nope")).status_code == 401
    assert [r.status_code for r in caplog.records if hasattr(r, "status_code")] == [401]


def test_it_does_not_log_each_export_refused_by_a_trace_quota(
    client, acme, alice, api_key_for, settings, throttle_clock, monkeypatch
):
    settings.PROMPTYARD_TRACE_SPANS_RATE = "1/s"
    settings.PROMPTYARD_TRACE_BURST_SECONDS = 1
    key = api_key_for(acme, alice, scopes=["traces:write"])
    one_span = (
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "%s", "spanId": '
        b'"00000000000000a1", "name": "s", "startTimeUnixNano": "1", "endTimeUnixNano": "2"}]}]}]}'
    )
    warned = []
    # Not even a record to filter: a flood of refused exports costs no logging at all.
    monkeypatch.setattr(logging.getLogger("django.request"), "warning", warned.append)
    statuses = [
        client.post(
            "/v1/traces",
            data=one_span % (b"%032x" % n),
            content_type="application/json",
            **bearer(key),
        ).status_code
        for n in range(1, 4)
    ]
    assert statuses == [200, 429, 429]
    assert warned == []
