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

    def timeout(rows):
        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setattr(services, "_insert_spans", timeout)
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


# --- hostile numbers and nesting: accepted or a 400, never a 500 ------------------------

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def _json_span(span_id: str, name: str, **extra) -> dict:
    span = {
        "traceId": TRACE_ID,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000100000000",
    }
    span.update(extra)
    return span


def _json_request(*spans) -> str:
    return json.dumps(
        {
            "resourceSpans": [
                {"resource": {}, "scopeSpans": [{"scope": {"name": "t"}, "spans": list(spans)}]}
            ]
        }
    )


def _string_attr(key: str, value: str) -> dict:
    return {"key": key, "value": {"stringValue": value}}


def _proto_request(*spans) -> bytes:
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])]
    )
    return request.SerializeToString()


def _proto_span(span_id: int, name: str, **fields):
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

    fields.setdefault("start_time_unix_nano", 1_700_000_000_000_000_000)
    fields.setdefault("end_time_unix_nano", 1_700_000_000_100_000_000)
    return ProtoSpan(
        trace_id=bytes.fromhex(TRACE_ID), span_id=span_id.to_bytes(8, "big"), name=name, **fields
    )


def _post(client, key, body, content_type):
    client.raise_request_exception = False
    return client.post(URL, data=body, content_type=content_type, **bearer(key))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("field", ["startTimeUnixNano", "endTimeUnixNano", "event"])
def test_it_rejects_a_span_timed_past_int64_and_keeps_the_rest_json(
    client, acme, alice, api_key_for, field
):
    extra = (
        {"events": [{"name": "e", "timeUnixNano": str(2**64 - 1)}]}
        if field == "event"
        else {field: str(2**64 - 1)}
    )
    body = _json_request(
        _json_span("b7ad6b7169203331", "far future", **extra),
        _json_span("b7ad6b7169203332", "fine"),
    )
    response = _post(client, _traces_key(api_key_for, acme, alice), body, "application/json")
    assert response.status_code == 200, response.content
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert "year 2262" in response.json()["partialSuccess"]["errorMessage"]
    with team_scope(acme):
        assert list(Span.objects.values_list("name", flat=True)) == ["fine"]


@pytest.mark.django_db(transaction=True)
def test_it_rejects_a_span_timed_past_int64_and_keeps_the_rest_protobuf(
    client, acme, alice, api_key_for
):
    body = _proto_request(
        _proto_span(1, "far future", start_time_unix_nano=2**64 - 1, end_time_unix_nano=2**64 - 1),
        _proto_span(2, "fine"),
    )
    response = _post(client, _traces_key(api_key_for, acme, alice), body, "application/x-protobuf")
    assert response.status_code == 200
    parsed = ExportTraceServiceResponse()
    parsed.ParseFromString(response.content)
    assert parsed.partial_success.rejected_spans == 1
    with team_scope(acme):
        assert list(Span.objects.values_list("name", flat=True)) == ["fine"]


@pytest.mark.django_db(transaction=True)
def test_it_takes_huge_numbers_in_attributes_without_a_500(
    client, acme, alice, api_key_for, priced
):
    key = _traces_key(api_key_for, acme, alice)
    huge = {"key": "big", "value": {"intValue": str(2**64)}}  # past int64: not an OTLP int
    response = _post(
        client,
        key,
        _json_request(_json_span("b7ad6b7169203331", "x", attributes=[huge])),
        "application/json",
    )
    assert response.status_code == 400
    spans = [
        _json_span(
            f"b7ad6b716920333{i}",
            f"llm {i}",
            attributes=[
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-test"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(2**63 - 1)}},
                _string_attr("gen_ai.usage.output_tokens", "9" * 5000),
                _string_attr("promptyard.prompt.version", "1e400"),
            ],
        )
        for i in range(1, 4)
    ]
    response = _post(client, key, _json_request(*spans), "application/json")
    assert response.status_code == 200, response.content
    with team_scope(acme):
        stored = list(Span.objects.order_by("name"))
        assert len(stored) == 3
        assert all(s.input_tokens is None and s.output_tokens is None for s in stored)
        assert stored[0].attributes["gen_ai.usage.input_tokens"] == 2**63 - 1
        assert Trace.objects.get().input_tokens == 0


DEEP_JSON = "[" * 5000 + "]" * 5000


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_it_keeps_deeply_nested_json_attributes_as_text(client, acme, alice, api_key_for, encoding):
    key = _traces_key(api_key_for, acme, alice)
    deep_content = '[{"role": "user", "content": ' + "[" * 900 + "]" * 900 + "}]"
    attrs = {
        "gen_ai.input.messages": DEEP_JSON,
        "gen_ai.output.messages": deep_content,
    }
    if encoding == "json":
        span = _json_span(
            "b7ad6b7169203331",
            "deep",
            attributes=[_string_attr(k, v) for k, v in attrs.items()],
            events=[{"name": "gen_ai.choice", "attributes": [_string_attr("message", DEEP_JSON)]}],
        )
        response = _post(client, key, _json_request(span), "application/json")
    else:
        from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

        span = _proto_span(
            1,
            "deep",
            attributes=[KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attrs.items()],
        )
        response = _post(client, key, _proto_request(span), "application/x-protobuf")
    assert response.status_code == 200, response.content
    with team_scope(acme):
        stored = Span.objects.get()
        assert stored.input_text == DEEP_JSON[: len(stored.input_text)]
        assert stored.output_text == deep_content


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, encoded by hand: the SDK refuses to even build
    messages nested as deep as a hostile client can send."""
    from apps.traces.otlp import _varint

    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _deep_value_json(levels: int) -> dict:
    value = {"stringValue": "leaf"}
    for _ in range(levels):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


@pytest.mark.django_db(transaction=True)
def test_it_cuts_deeply_nested_attribute_values(client, acme, alice, api_key_for):
    from apps.traces.otlp import MAX_VALUE_DEPTH, TOO_DEEP

    key = _traces_key(api_key_for, acme, alice)
    span = _json_span(
        "b7ad6b7169203331", "nested", attributes=[{"key": "tree", "value": _deep_value_json(25)}]
    )
    response = _post(client, key, _json_request(span), "application/json")
    assert response.status_code == 200, response.content
    with team_scope(acme):
        value, depth = Span.objects.get().attributes["tree"], 0
    while isinstance(value, dict):
        value, depth = value["k"], depth + 1
    assert value == TOO_DEEP and depth == MAX_VALUE_DEPTH + 1

    # Past the parsers' own nesting limits (100 messages) the body is not a request: a 400.
    span = _json_span(
        "b7ad6b7169203332", "too deep", attributes=[{"key": "tree", "value": _deep_value_json(60)}]
    )
    response = _post(client, key, _json_request(span), "application/json")
    assert response.status_code == 400 and "too deep" in response.json()["message"]
    value = _field(1, b"leaf")  # AnyValue.string_value
    for _ in range(200):  # AnyValue.kvlist_value > KeyValueList.values > KeyValue.value
        value = _field(6, _field(1, _field(1, b"k") + _field(2, value)))
    span = _proto_span(2, "too deep").SerializeToString() + _field(
        9, _field(1, b"tree") + _field(2, value)
    )
    body = _field(1, _field(2, _field(2, span)))  # request > resource spans > scope spans
    response = _post(client, key, body, "application/x-protobuf")
    assert response.status_code == 400


@pytest.mark.django_db
def test_it_stores_a_small_and_a_large_batch_alike_and_each_once(acme, alice):
    """A small batch is one multi-row INSERT, a large one goes through COPY: the same
    rows either way, JSON included, and a retried batch of either adds nothing."""
    from tests.traces.helpers import hex_id, ingest, raw_span

    def batch(first: int, count: int):
        trace = hex_id(first, 16)
        return [
            raw_span(
                trace,
                hex_id(first + n, 8),
                name=f"step {n}",
                attrs={"input.value": f"q {n} ‘quoted’ \\ back", "n": n, "nested": {"k": [n]}},
            )
            for n in range(count)
        ]

    small, large = batch(1, 3), batch(1000, 200)
    for spans in (small, large, small, large):
        ingest(acme, alice, spans)
    with team_scope(acme):
        assert Span.objects.count() == 203
        assert sorted(Trace.objects.values_list("span_count", flat=True)) == [3, 200]
        one = Span.objects.filter(name="step 2").order_by("pk")
        assert [s.attributes["nested"] for s in one] == [{"k": [2]}, {"k": [2]}]
        assert {s.attributes["input.value"] for s in one} == {"q 2 ‘quoted’ \\ back"}


@pytest.mark.django_db
def test_it_refuses_a_remembered_key_once_it_is_revoked(client, acme, alice, api_key_for):
    from apps.teams.models import ApiKey
    from apps.teams.services import api_key_revoke

    raw = _traces_key(api_key_for, acme, alice)
    body = encoded_request(lambda tracer: llm_call(tracer)).SerializeToString()
    post = lambda: client.post(  # noqa: E731
        URL, data=body, content_type="application/x-protobuf", **bearer(raw)
    )
    assert post().status_code == 200  # the key is remembered now
    with team_scope(acme):
        api_key_revoke(team=acme, actor=alice, key=ApiKey.objects.get(prefix=raw.split("_")[1]))
    assert post().status_code == 401


@pytest.mark.django_db
def test_it_stores_a_single_span_export_in_few_statements(
    client, acme, alice, api_key_for, django_assert_max_num_queries
):
    raw = _traces_key(api_key_for, acme, alice)
    body = encoded_request(lambda tracer: llm_call(tracer)).SerializeToString()
    client.post(URL, data=body, content_type="application/x-protobuf", **bearer(raw))
    body = encoded_request(lambda tracer: llm_call(tracer)).SerializeToString()
    # The write timeout, the new trace's summary, the span, the dashboard's hour mark (and
    # a savepoint and its release here). The key and the team's prices were remembered
    # from the first export.
    with django_assert_max_num_queries(6):
        response = client.post(URL, data=body, content_type="application/x-protobuf", **bearer(raw))
    assert response.status_code == 200


@pytest.mark.django_db
def test_it_costs_spans_at_prices_changed_a_moment_ago(client, acme, alice, api_key_for, priced):
    from apps.llm.models import ProviderConfig

    raw = _traces_key(api_key_for, acme, alice)

    def cost_of_one_call() -> Decimal:
        body = encoded_request(lambda tracer: llm_call(tracer)).SerializeToString()
        response = client.post(URL, data=body, content_type="application/x-protobuf", **bearer(raw))
        assert response.status_code == 200
        with team_scope(acme):
            return Span.objects.exclude(cost=None).order_by("-pk").values_list("cost", flat=True)[0]

    first = cost_of_one_call()  # the team's prices are remembered now
    with team_scope(acme):
        provider = ProviderConfig.objects.get(pk=priced.pk)
        provider.prices = {"gpt-test": {"input": 4.0, "output": 16.0}}
        provider.save()
    assert cost_of_one_call() == 2 * first
