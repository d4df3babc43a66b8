"""OTLP/HTTP wire format: bodies in, responses out (protobuf and JSON encodings)."""

from __future__ import annotations

import base64
import binascii
import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

KINDS = {0: "", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
# OTLP times are uint64 nanoseconds; we store int64 (2^63 - 1 ns is in the year 2262): a
# span timed past it is rejected as invalid rather than overflowing the column (a 500).
MAX_TIME_NS = 2**63 - 1
# Attribute values nest (arrays, key-value lists); deeper than this is cut, so nothing
# downstream (GenAI extraction, json.dumps, templates) recurses without bound.
MAX_VALUE_DEPTH = 16
TOO_DEEP = "[nested too deeply]"
STATUS = {0: "unset", 1: "ok", 2: "error"}
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)


class MalformedBody(Exception):
    """The body is not an OTLP trace export request (400)."""


class BodyTooLarge(Exception):
    """The body, compressed or not, exceeds the size limit (413)."""


class UnsupportedEncoding(Exception):
    """An unknown Content-Type or Content-Encoding (415)."""


def media_type(content_type: str) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decompress(body: bytes, encoding: str, *, limit: int) -> bytes:
    """Inflate gzip/deflate bodies without ever holding more than `limit` bytes."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        inflater = zlib.decompressobj()
    else:
        raise UnsupportedEncoding(f"Unsupported Content-Encoding {encoding!r}: use gzip.")
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise MalformedBody(f"The {encoding} body could not be decompressed: {exc}.") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise BodyTooLarge(f"The decompressed body exceeds {limit} bytes.")
    if not inflater.eof:
        raise MalformedBody(f"The {encoding} body is truncated.")
    return data


def _fix_id(value, size: int):
    """OTLP/JSON spells ids as hex; protobuf's JSON mapping expects base64 for bytes.
    Hex of the right length is converted; anything else is left for Parse to judge."""
    if isinstance(value, str) and len(value) == size * 2:
        try:
            return base64.b64encode(bytes.fromhex(value)).decode()
        except ValueError:
            return value
    return value


def _fix_json_ids(document) -> None:
    if not isinstance(document, dict):
        raise MalformedBody("The JSON body must be an object with resourceSpans.")
    for resource_spans in document.get("resourceSpans") or document.get("resource_spans") or []:
        if not isinstance(resource_spans, dict):
            continue
        scopes = resource_spans.get("scopeSpans") or resource_spans.get("scope_spans") or []
        for scope_spans in scopes:
            if not isinstance(scope_spans, dict):
                continue
            for span in scope_spans.get("spans") or []:
                if not isinstance(span, dict):
                    continue
                for key, size in (
                    ("traceId", 16),
                    ("trace_id", 16),
                    ("spanId", 8),
                    ("span_id", 8),
                    ("parentSpanId", 8),
                    ("parent_span_id", 8),
                ):
                    if key in span:
                        span[key] = _fix_id(span[key], size)
                for link in span.get("links") or []:
                    if isinstance(link, dict):
                        for key, size in (("traceId", 16), ("spanId", 8)):
                            if key in link:
                                link[key] = _fix_id(link[key], size)


def parse_request(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    kind = media_type(content_type)
    message = ExportTraceServiceRequest()
    if kind == PROTOBUF:
        try:
            message.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise MalformedBody(f"The protobuf body is not an ExportTraceServiceRequest: {exc}.")
        return message
    if kind == JSON:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedBody(f"The body is not valid JSON: {exc}.") from None
        except RecursionError:
            # A few kilobytes of nested brackets: a 400, not a 500.
            raise MalformedBody("The JSON body is nested too deeply.") from None
        try:
            _fix_json_ids(document)
            json_format.ParseDict(document, message, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError, binascii.Error) as exc:
            raise MalformedBody(f"The JSON body is not an OTLP trace export: {exc}") from None
        except RecursionError:
            raise MalformedBody("The JSON body is nested too deeply.") from None
        return message
    raise UnsupportedEncoding(
        f"Unsupported Content-Type {kind or '(none)'!r}: send {PROTOBUF} or {JSON}."
    )


def clean_text(text: str) -> str:
    # PostgreSQL text and jsonb cannot hold NUL.
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def any_value(value, depth: int = 0):
    """An OTLP AnyValue as plain JSON-able Python (storable in PostgreSQL jsonb); values
    nested past MAX_VALUE_DEPTH become the text TOO_DEEP."""
    if depth > MAX_VALUE_DEPTH:
        return TOO_DEEP
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "string_value":
        return clean_text(value.string_value)
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else str(number)
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [any_value(v, depth + 1) for v in value.array_value.values]
    if which == "kvlist_value":
        return {
            clean_text(kv.key): any_value(kv.value, depth + 1) for kv in value.kvlist_value.values
        }
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def attributes(key_values) -> dict:
    return {clean_text(kv.key): any_value(kv.value) for kv in key_values}


@dataclass
class RawSpan:
    """One received span, decoded and checked, before GenAI extraction."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status_code: str
    status_message: str
    attributes: dict
    events: list
    resource: dict = field(default_factory=dict)


@dataclass
class Decoded:
    spans: list[RawSpan]
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)


def decode_spans(message: ExportTraceServiceRequest) -> Decoded:
    """Every span with valid ids; the rest are counted as rejected with a reason."""
    result = Decoded(spans=[])
    seen: set[tuple[bytes, bytes]] = set()
    for resource_spans in message.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            span_resource = scoped_resource(resource, scope.name, scope.version)
            for span in scope_spans.spans:
                span_accept(
                    result,
                    seen,
                    SpanFields(
                        trace_id=span.trace_id,
                        span_id=span.span_id,
                        parent=span.parent_span_id,
                        name=span.name,
                        kind=span.kind,
                        start=span.start_time_unix_nano,
                        end=span.end_time_unix_nano,
                        status_code=span.status.code,
                        status_message=span.status.message,
                        attributes=partial(attributes, span.attributes),
                        events=[
                            (event.name, event.time_unix_nano, event.attributes)
                            for event in span.events
                        ],
                        event_attributes=attributes,
                    ),
                    span_resource,
                )
    return result


def scoped_resource(resource: dict, scope_name: str, scope_version: str) -> dict:
    if not scope_name:
        return resource
    out = {**resource, "otel.scope.name": clean_text(scope_name)}
    if scope_version:
        out["otel.scope.version"] = clean_text(scope_version)
    return out


@dataclass
class SpanFields:
    """One span as either encoding gives it (ids as bytes, times as integers); its
    attributes are decoded only once the span is known to be kept."""

    trace_id: bytes
    span_id: bytes
    parent: bytes
    name: str
    kind: int
    start: int
    end: int
    status_code: int
    status_message: str
    attributes: Callable[[], dict]
    events: list[tuple[str, int, Any]]  # (name, time, raw attributes)
    event_attributes: Callable[[Any], dict]


def span_accept(
    result: Decoded, seen: set[tuple[bytes, bytes]], span: SpanFields, resource: dict
) -> None:
    """The checks every span passes, whatever its encoding: valid ids (else rejected with
    a reason), once per request, times that fit int64."""
    trace_id, span_id = span.trace_id, span.span_id
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        result.rejected += 1
        result.reasons.append(f"span {span.name!r}: invalid trace id")
        return
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        result.rejected += 1
        result.reasons.append(f"span {span.name!r}: invalid span id")
        return
    if (trace_id, span_id) in seen:
        return  # sent twice in one request: stored once
    seen.add((trace_id, span_id))
    start = span.start
    end = max(span.end, start)
    if end > MAX_TIME_NS or any(time_ns > MAX_TIME_NS for _, time_ns, _ in span.events):
        result.rejected += 1
        result.reasons.append(f"span {span.name[:100]!r}: a time past {MAX_TIME_NS} ns (year 2262)")
        return
    parent = span.parent
    result.spans.append(
        RawSpan(
            trace_id=trace_id.hex(),
            span_id=span_id.hex(),
            parent_span_id=parent.hex() if len(parent) == 8 and parent != _ZERO_SPAN else "",
            name=clean_text(span.name[:255]),
            kind=KINDS.get(span.kind, ""),
            start_ns=start,
            end_ns=end,
            status_code=STATUS.get(span.status_code, "unset"),
            status_message=clean_text(span.status_message),
            attributes=span.attributes(),
            events=[
                {
                    "name": clean_text(name),
                    "time_ns": time_ns,
                    "attributes": span.event_attributes(raw),
                }
                for name, time_ns, raw in span.events
            ],
            resource=resource,
        )
    )


def encode_response(content_type: str, *, rejected: int = 0, error_message: str = "") -> bytes:
    response = ExportTraceServiceResponse()
    if rejected or error_message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = error_message
    if media_type(content_type) == JSON:
        return json_format.MessageToJson(response, indent=None).encode()
    return response.SerializeToString()


def encode_status(content_type: str, *, code: int, message: str) -> tuple[bytes, str]:
    """A google.rpc.Status body, as OTLP/HTTP asks for failures, in the request's encoding.

    Status is {int32 code = 1; string message = 2}; encoded by hand so the server needs
    no googleapis-common-protos."""
    if media_type(content_type) == PROTOBUF:
        text = message.encode()
        body = b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text
        return body, PROTOBUF
    return json.dumps({"code": code, "message": message}).encode(), JSON


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
