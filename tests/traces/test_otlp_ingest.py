"""POST /v1/traces with bodies made by the real OpenTelemetry exporter."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import SpanExportResult

from apps.core.tenancy import team_scope
from apps.traces.models import Span, Trace
from tests.conftest import bearer
from tests.traces.helpers import collecting_provider, encoded_request, exporter_to, llm_call

URL = "/v1/traces"


def _agent(tracer):
    with tracer.start_as_current_span("agent run") as root:
        root.set_attribute("input.value", "What is 2+2?")
        root.set_attribute("output.value", "4")
        llm_call(tracer, prompt="What is 2+2?", answer="4")
        with tracer.start_as_current_span("tool lookup"):
            pass


def _finished_spans(build):
    provider, exporter = collecting_provider()
    build(provider.get_tracer("tests"))
    provider.shutdown()
    return exporter.spans


def _hex_ids(document: dict) -> dict:
    """MessageToJson spells bytes as base64; OTLP/JSON spells trace and span ids as hex."""
    import base64

    for rs in document["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64decode(span[key]).hex()
    return document


def _traces_key(api_key_for, team, actor):
    return api_key_for(team, actor, scopes=["traces:write"])


@pytest.fixture
def priced(acme):
    try:
        from apps.llm.models import ProviderConfig
    except ImportError:
        return None
    with team_scope(acme):
        return ProviderConfig.objects.create(
            team=acme,
            name="priced",
            base_url="http://127.0.0.1:9/v1",
            prices={"gpt-test": {"input": 2.0, "output": 8.0}},
        )


@pytest.mark.django_db(transaction=True)
def test_it_stores_protobuf_spans_from_the_real_exporter(
    live_server, acme, alice, api_key_for, priced
):
    exporter = exporter_to(live_server.url, _traces_key(api_key_for, acme, alice))
    assert exporter.export(_finished_spans(_agent)) == SpanExportResult.SUCCESS

    with team_scope(acme):
        trace = Trace.objects.get()
        spans = {s.name: s for s in Span.objects.all()}
    assert trace.span_count == 3
    assert trace.name == "agent run"
    assert trace.model == "gpt-test"
    assert trace.input_preview == "What is 2+2?"
    chat = spans["chat gpt-test"]
    assert chat.parent_span_id == spans["agent run"].span_id
    assert chat.input_tokens == 1000 and chat.output_tokens == 500
    assert chat.input_text == "user: What is 2+2?"
    assert chat.output_text == "assistant: 4"
    assert chat.attributes["gen_ai.request.temperature"] == 0.2
    assert chat.resource["service.name"] == "tests"
    if priced is not None:
        # 1000 * $2/M + 500 * $8/M
        assert chat.cost == Decimal("0.006")
        assert trace.cost == Decimal("0.006")


@pytest.mark.django_db(transaction=True)
def test_it_accepts_gzip_from_the_real_exporter(live_server, acme, alice, api_key_for):
    exporter = exporter_to(
        live_server.url, _traces_key(api_key_for, acme, alice), compression=Compression.Gzip
    )
    assert exporter.export(_finished_spans(_agent)) == SpanExportResult.SUCCESS
    with team_scope(acme):
        assert Span.objects.count() == 3


@pytest.mark.django_db
def test_it_accepts_otlp_json_with_hex_ids(client, acme, alice, api_key_for):
    message = encoded_request(_agent)
    document = _hex_ids(json.loads(json_format.MessageToJson(message)))
    response = client.post(
        URL,
        data=json.dumps(document),
        content_type="application/json",
        **bearer(_traces_key(api_key_for, acme, alice)),
    )
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {}
    with team_scope(acme):
        trace = Trace.objects.get()
        assert (
            trace.trace_id == document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
        )
        assert trace.span_count == 3


@pytest.mark.django_db
def test_it_answers_protobuf_with_an_export_response(client, acme, alice, api_key_for):
    message = encoded_request(_agent)
    response = client.post(
        URL,
        data=message.SerializeToString(),
        content_type="application/x-protobuf",
        **bearer(_traces_key(api_key_for, acme, alice)),
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse()
    parsed.ParseFromString(response.content)
    assert parsed.partial_success.rejected_spans == 0


@pytest.mark.django_db
def test_it_stores_a_retried_export_once(client, acme, alice, api_key_for):
    body = encoded_request(_agent).SerializeToString()
    raw = _traces_key(api_key_for, acme, alice)
    for _ in range(2):
        response = client.post(URL, data=body, content_type="application/x-protobuf", **bearer(raw))
        assert response.status_code == 200
    with team_scope(acme):
        assert Span.objects.count() == 3
        assert Trace.objects.get().span_count == 3


@pytest.mark.django_db
def test_it_folds_a_trace_sent_in_two_exports(client, acme, alice, api_key_for):
    spans = _finished_spans(_agent)
    raw = _traces_key(api_key_for, acme, alice)
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    children = [s for s in spans if s.parent is not None]
    root = [s for s in spans if s.parent is None]
    for part in (children, root):
        response = client.post(
            URL,
            data=encode_spans(part).SerializeToString(),
            content_type="application/x-protobuf",
            **bearer(raw),
        )
        assert response.status_code == 200
    with team_scope(acme):
        trace = Trace.objects.get()
    assert trace.span_count == 3
    assert trace.name == "agent run"
    assert trace.input_preview == "What is 2+2?"


@pytest.mark.django_db
def test_it_reports_spans_with_bad_ids_as_rejected(client, acme, alice, api_key_for):
    document = _hex_ids(json.loads(json_format.MessageToJson(encoded_request(_agent))))
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["traceId"] = "00000000000000000000000000000000"
    response = client.post(
        URL,
        data=json.dumps(document),
        content_type="application/json",
        **bearer(_traces_key(api_key_for, acme, alice)),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["partialSuccess"]["rejectedSpans"] == "1"
    assert "invalid trace id" in body["partialSuccess"]["errorMessage"]
    with team_scope(acme):
        assert Span.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content_type,body",
    [
        ("application/x-protobuf", b"\xff\xff\xff\xffnot a protobuf"),
        ("application/json", b"{not json"),
        (
            "application/json",
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5, "kind": "WRONG"}]}]}]}',
        ),
        ("application/json", b"[1, 2]"),
    ],
)
def test_it_refuses_a_malformed_body_with_a_message(
    client, acme, alice, api_key_for, content_type, body
):
    response = client.post(
        URL, data=body, content_type=content_type, **bearer(_traces_key(api_key_for, acme, alice))
    )
    assert response.status_code == 400
    if content_type == "application/json":
        assert response.json()["message"]
    else:
        assert b"protobuf" in response.content


@pytest.mark.django_db
def test_it_refuses_a_corrupt_gzip_body(client, acme, alice, api_key_for):
    response = client.post(
        URL,
        data=b"\x1f\x8b not really gzip",
        content_type="application/x-protobuf",
        HTTP_CONTENT_ENCODING="gzip",
        **bearer(_traces_key(api_key_for, acme, alice)),
    )
    assert response.status_code == 400


@pytest.mark.django_db
def test_it_refuses_an_unknown_content_type(client, acme, alice, api_key_for):
    response = client.post(
        URL, data=b"x", content_type="text/plain", **bearer(_traces_key(api_key_for, acme, alice))
    )
    assert response.status_code == 415


@pytest.mark.django_db
def test_it_refuses_an_oversize_body(client, acme, alice, api_key_for, settings):
    settings.PROMPTYARD_TRACE_MAX_BYTES = 200
    body = encoded_request(_agent).SerializeToString()
    assert len(body) > 200
    response = client.post(
        URL,
        data=body,
        content_type="application/x-protobuf",
        **bearer(_traces_key(api_key_for, acme, alice)),
    )
    assert response.status_code == 413
    with team_scope(acme):
        assert not Span.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_gzip_body_that_inflates_past_the_limit(
    client, acme, alice, api_key_for, settings
):
    settings.PROMPTYARD_TRACE_MAX_BYTES = 10_000
    bomb = gzip.compress(b"\x00" * 1_000_000)
    assert len(bomb) < 10_000
    response = client.post(
        URL,
        data=bomb,
        content_type="application/x-protobuf",
        HTTP_CONTENT_ENCODING="gzip",
        **bearer(_traces_key(api_key_for, acme, alice)),
    )
    assert response.status_code == 413


@pytest.mark.django_db(transaction=True)
def test_it_refuses_wrong_and_revoked_keys(live_server, acme, alice, api_key_for):
    from apps.teams.models import ApiKey
    from apps.teams.services import api_key_revoke

    spans = _finished_spans(_agent)
    wrong = exporter_to(live_server.url, "pyd_deadbeef_notarealkey")
    assert wrong.export(spans) == SpanExportResult.FAILURE

    raw = _traces_key(api_key_for, acme, alice)
    with team_scope(acme):
        key = ApiKey.objects.get(prefix=raw.split("_")[1])
        api_key_revoke(team=acme, actor=alice, key=key)
    revoked = exporter_to(live_server.url, raw)
    assert revoked.export(spans) == SpanExportResult.FAILURE
    with team_scope(acme):
        assert not Span.objects.exists()


@pytest.mark.django_db
def test_it_answers_401_and_403_by_key(client, acme, alice, api_key_for):
    body = encoded_request(_agent).SerializeToString()
    post = lambda **extra: client.post(  # noqa: E731
        URL, data=body, content_type="application/x-protobuf", **extra
    )
    assert post().status_code == 401
    assert post(**bearer("pyd_00000000_nope")).status_code == 401
    no_scope = api_key_for(acme, alice, scopes=["prompts:read"])
    assert post(**bearer(no_scope)).status_code == 403
    admin = api_key_for(acme, alice, scopes=["admin"])
    assert post(**bearer(admin)).status_code == 200


@pytest.mark.django_db
def test_it_answers_503_with_retry_after_when_writers_are_busy(
    client, acme, alice, api_key_for, monkeypatch, settings
):
    from apps.traces import services

    class Exhausted:
        def acquire(self, timeout=None):
            return False

        def release(self):
            raise AssertionError("never acquired")

    monkeypatch.setattr(services, "_writers", Exhausted())
    response = client.post(
        URL,
        data=encoded_request(_agent).SerializeToString(),
        content_type="application/x-protobuf",
        **bearer(_traces_key(api_key_for, acme, alice)),
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    with team_scope(acme):
        assert not Span.objects.exists()


@pytest.mark.django_db
def test_it_answers_503_when_the_database_write_fails(
    client, acme, alice, api_key_for, monkeypatch
):
    from django.db import OperationalError

    from apps.traces import services

    def timeout(traces, by_trace):
        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setattr(services, "_fold", timeout)
    response = client.post(
        URL,
        data=encoded_request(_agent).SerializeToString(),
        content_type="application/x-protobuf",
        **bearer(_traces_key(api_key_for, acme, alice)),
    )
    assert response.status_code == 503
    assert response["Retry-After"]
    with team_scope(acme):
        assert not Span.objects.exists()
        assert not Trace.objects.exists()


@pytest.mark.django_db
def test_it_keeps_spans_in_the_keys_team_whatever_the_attributes_say(
    client, acme, alice, globex, dave, api_key_for
):
    def claims_globex(tracer):
        with tracer.start_as_current_span("sneaky") as span:
            span.set_attribute("team", "globex")
            span.set_attribute("promptyard.team", "globex")

    response = client.post(
        URL,
        data=encoded_request(claims_globex).SerializeToString(),
        content_type="application/x-protobuf",
        **bearer(_traces_key(api_key_for, acme, alice)),
    )
    assert response.status_code == 200
    assert Span.objects.unscoped().get().team_id == acme.pk
    with team_scope(globex):
        assert not Span.objects.exists()


def test_it_parses_an_empty_request():
    from apps.traces.otlp import decode_spans

    assert decode_spans(ExportTraceServiceRequest()).spans == []
