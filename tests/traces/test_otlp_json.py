"""The OTLP/JSON decoder reads bodies straight from the parsed JSON (protobuf's
json_format took over a second of CPU per 3,000-span batch). It must yield exactly what
protobuf's own JSON mapping followed by the protobuf decoder yields, and refuse what that
refuses: checked here against that path as the oracle."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.traces import otlp, otlp_json


def _oracle(document) -> otlp.Decoded:
    return otlp.decode_spans(otlp.parse_request(json.dumps(document).encode(), otlp.JSON))


def _fast(document) -> otlp.Decoded:
    return otlp_json.decode_json(json.dumps(document).encode())


def _same(document) -> otlp.Decoded:
    expected, got = _oracle(document), _fast(document)
    assert got.spans == expected.spans
    assert (got.rejected, got.reasons) == (expected.rejected, expected.reasons)
    return got


def _span(n: int, **extra) -> dict:
    return {
        "traceId": f"{n:032x}",
        "spanId": f"{n:016x}",
        "name": f"span {n}",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": 1700000000500000000,
        **extra,
    }


def _document(*spans, resource=None, scope=None) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": resource or []},
                "scopeSpans": [{"scope": scope or {}, "spans": list(spans)}],
            }
        ]
    }


def test_it_reads_every_field_as_the_protobuf_mapping_does():
    every_value = [
        {"key": "s", "value": {"stringValue": "text\x00with nul"}},
        {"key": "i", "value": {"intValue": "-42"}},
        {"key": "i2", "value": {"intValue": 7}},
        {"key": "d", "value": {"doubleValue": 1.5}},
        {"key": "nan", "value": {"doubleValue": "NaN"}},
        {"key": "inf", "value": {"doubleValue": "-Infinity"}},
        {"key": "b", "value": {"boolValue": True}},
        {"key": "bytes", "value": {"bytesValue": base64.b64encode(b"\x01\x02").decode()}},
        {"key": "a", "value": {"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "x"}]}}},
        {"key": "kv", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": False}}]}}},
        {"key": "empty", "value": {}},
    ]  # fmt: skip
    document = _document(
        _span(1, kind=2, attributes=every_value, status={"code": 2, "message": "boom"}),
        _span(2, kind="SPAN_KIND_CLIENT", status={"code": "STATUS_CODE_OK"},
              parentSpanId=f"{1:016x}",
              events=[{"name": "e", "timeUnixNano": "1700000000100000000",
                       "attributes": [{"key": "x", "value": {"intValue": "3"}}]}]),
        _span(3, spanId=base64.b64encode(bytes(7) + b"\x03").decode()),
        _span(1),  # the same ids again: stored once
        {**_span(4), "traceId": ""},  # rejected: no trace id
        {**_span(5), "spanId": "0" * 16},  # rejected: zero span id
        _span(6, endTimeUnixNano=str(2**64 - 1)),  # rejected: past int64
        resource=[{"key": "service.name", "value": {"stringValue": "svc"}}],
        scope={"name": "lib", "version": "1.0"},
    )  # fmt: skip
    got = _same(document)
    assert [s.name for s in got.spans] == ["span 1", "span 2", "span 3"]
    assert got.rejected == 3 and "year 2262" in got.reasons[-1]
    assert got.spans[0].attributes["nan"] == "nan" and got.spans[0].status_code == "error"
    assert got.spans[1].kind == "client" and got.spans[1].parent_span_id == f"{1:016x}"
    assert got.spans[0].resource == {
        "service.name": "svc",
        "otel.scope.name": "lib",
        "otel.scope.version": "1.0",
    }


def test_it_accepts_the_protos_snake_case_names():
    span = {
        "trace_id": f"{9:032x}",
        "span_id": f"{9:016x}",
        "parent_span_id": f"{8:016x}",
        "name": "snake",
        "start_time_unix_nano": "5",
        "end_time_unix_nano": "6",
        "attributes": [{"key": "k", "value": {"string_value": "v"}}],
    }
    document = {"resource_spans": [{"scope_spans": [{"spans": [span]}]}]}
    assert _same(document).spans[0].attributes == {"k": "v"}


@pytest.mark.parametrize(
    "bad",
    [
        {"name": 5},
        {"startTimeUnixNano": "soon"},
        {"startTimeUnixNano": "-1"},
        {"endTimeUnixNano": str(2**64)},
        {"attributes": [{"key": "i", "value": {"intValue": "1.5"}}]},
        {"attributes": [{"key": "i", "value": {"intValue": str(2**63)}}]},
        {"attributes": [{"key": "b", "value": {"boolValue": "yes"}}]},
        {"attributes": [{"key": "d", "value": {"doubleValue": "lots"}}]},
        {"attributes": {"key": "not a list"}},
        {"events": [{"name": "e", "timeUnixNano": "later"}]},
    ],
)
def test_it_refuses_what_the_protobuf_mapping_refuses(bad):
    document = _document({**_span(1), **bad})
    with pytest.raises(otlp.MalformedBody):
        _oracle(document)
    with pytest.raises(otlp.MalformedBody):
        _fast(document)


@pytest.mark.parametrize(
    "odd",
    [
        {"kind": "SPAN_KIND_SIDEWAYS"},
        {"status": {"code": "STATUS_CODE_MAYBE"}},
        {"traceId": "not hex nor base64!"},
        {"spanId": "AAAA"},
    ],
)
def test_it_ignores_or_rejects_odd_fields_as_the_protobuf_mapping_does(odd):
    _same(_document({**_span(1), **odd}, _span(2)))


def test_it_refuses_bodies_that_are_not_export_requests():
    for body in (b"[]", b"not json", b'{"resourceSpans": 3}', b'{"resourceSpans": [5]}'):
        with pytest.raises(otlp.MalformedBody):
            otlp_json.decode_json(body)


leaves = st.one_of(
    st.builds(lambda v: {"stringValue": v}, st.text(max_size=20)),
    st.builds(lambda v: {"intValue": str(v)}, st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda v: {"intValue": v}, st.integers(-(2**53), 2**53)),
    st.builds(lambda v: {"doubleValue": v}, st.floats(allow_nan=False, allow_infinity=False)),
    st.builds(lambda v: {"boolValue": v}, st.booleans()),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(lambda vs: {"arrayValue": {"values": vs}}, st.lists(inner, max_size=3)),
        st.builds(
            lambda kvs: {"kvlistValue": {"values": [{"key": k, "value": v} for k, v in kvs]}},
            st.lists(st.tuples(st.text(max_size=5), inner), max_size=3),
        ),
    ),
    max_leaves=30,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=8), values), max_size=6))
def test_it_matches_the_protobuf_mapping_on_any_attributes(pairs):
    attributes = [{"key": k, "value": v} for k, v in pairs]
    _same(_document(_span(1, attributes=attributes)))
