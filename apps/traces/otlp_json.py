"""OTLP/JSON bodies decoded straight from the parsed JSON, without protobuf's json_format.

json_format.ParseDict walks every field in Python through descriptors: a 3,000-span batch
took over a second of CPU in the web process, holding the interpreter lock while every
other team's requests in that process waited. Here the document from `json.loads` (C) is
read directly into the same spans the protobuf path yields (the checks are shared:
otlp.span_accept), about twenty times faster.

The OTLP/JSON mapping (opentelemetry-proto docs/specification.md, "JSON Protobuf
Encoding"): trace and span ids are hex strings (base64, protobuf's own mapping for bytes,
is accepted too); 64-bit integers and times are decimal strings or numbers; enums are
integers (their names are accepted, an unknown name ignored, as ParseDict does); field names are lowerCamelCase
(the proto's snake_case names are accepted too); unknown fields are ignored. Anything
of the wrong type is a MalformedBody naming the field, as ParseDict would refuse it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from apps.traces.otlp import (
    MAX_VALUE_DEPTH,
    TOO_DEEP,
    Decoded,
    MalformedBody,
    SpanFields,
    clean_text,
    scoped_resource,
    span_accept,
)

UINT64_MAX = 2**64 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
KIND_NAMES = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}
STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_INTEGER = re.compile(r"-?[0-9]{1,22}")
_FLOAT_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _get(obj: dict, camel: str, snake: str | None = None, default: Any = None) -> Any:
    value = obj.get(camel)
    if value is None and snake is not None:
        value = obj.get(snake)
    return default if value is None else value


def _object(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise MalformedBody(f"{where} must be a JSON object.")
    return value


def _list(value: Any, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedBody(f"{where} must be a JSON array.")
    return value


def _string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedBody(f"{where} must be a string.")
    return value


def _integer(value: Any, where: str, low: int, high: int) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise MalformedBody(f"{where} must be an integer.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INTEGER.fullmatch(value):
        number = int(value)
    else:
        raise MalformedBody(f"{where} must be an integer.")
    if not low <= number <= high:
        raise MalformedBody(f"{where} is out of range ({low} to {high}).")
    return number


def _enum(value: Any, names: dict[str, int], where: str) -> int:
    if isinstance(value, str) and not _INTEGER.fullmatch(value):
        return names.get(value, 0)  # an unknown name is ignored, as an unknown field is
    return _integer(value, where, -(2**31), 2**31 - 1)


def _id(value: Any, size: int, where: str) -> bytes:
    """Hex of the right length, else base64 (protobuf's mapping); empty is b''."""
    text = _string(value, where)
    if not text:
        return b""
    if len(text) == size * 2:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        return base64.b64decode(text)
    except (binascii.Error, ValueError):
        return b"\x00"  # neither hex nor base64: rejected below as an invalid id


# Protobuf parsers refuse messages nested past 100 levels; an attribute value starts about
# six levels in (request, resource spans, scope spans, span, key-value, value), an array
# adds two a level and a key-value list three. The same body is refused here as there.
MESSAGE_DEPTH_LIMIT = 100
VALUE_START_DEPTH = 6


def _refuse_past_message_limit(value: Any, level: int) -> None:
    """A value kept only as TOO_DEEP is still walked (without building anything) to refuse
    a body past the protobuf nesting limit, as the protobuf encoding would be."""
    stack = [(value, level)]
    while stack:
        item, at = stack.pop()
        if at > MESSAGE_DEPTH_LIMIT:
            raise MalformedBody("The JSON body is nested too deeply (past 100 messages).")
        if not isinstance(item, dict):
            continue
        array = _get(item, "arrayValue", "array_value")
        if isinstance(array, dict) and isinstance(array.get("values"), list):
            stack.extend((v, at + 2) for v in array["values"])
        kvlist = _get(item, "kvlistValue", "kvlist_value")
        if isinstance(kvlist, dict) and isinstance(kvlist.get("values"), list):
            stack.extend(
                (pair.get("value"), at + 3) for pair in kvlist["values"] if isinstance(pair, dict)
            )


def any_value(value: Any, depth: int = 0, level: int = VALUE_START_DEPTH) -> Any:
    """An AnyValue object as plain JSON-able Python, as otlp.any_value gives it (`depth`
    counts values, `level` protobuf messages)."""
    if depth > MAX_VALUE_DEPTH:
        _refuse_past_message_limit(value, level)
        return TOO_DEEP
    if not isinstance(value, dict):
        raise MalformedBody("An attribute value must be a JSON object (an AnyValue).")
    if "stringValue" in value or "string_value" in value:
        return clean_text(_string(_get(value, "stringValue", "string_value"), "stringValue"))
    if "intValue" in value or "int_value" in value:
        return _integer(_get(value, "intValue", "int_value"), "intValue", INT64_MIN, INT64_MAX)
    if "doubleValue" in value or "double_value" in value:
        raw = _get(value, "doubleValue", "double_value")
        if isinstance(raw, str) and raw in _FLOAT_WORDS:
            number = _FLOAT_WORDS[raw]
        elif isinstance(raw, int | float) and not isinstance(raw, bool):
            number = float(raw)
        else:
            raise MalformedBody("doubleValue must be a number.")
        return number if math.isfinite(number) else str(number)
    if "boolValue" in value or "bool_value" in value:
        raw = _get(value, "boolValue", "bool_value")
        if not isinstance(raw, bool):
            raise MalformedBody("boolValue must be true or false.")
        return raw
    if "arrayValue" in value or "array_value" in value:
        array = _object(_get(value, "arrayValue", "array_value", {}), "arrayValue")
        return [
            any_value(v, depth + 1, level + 2)
            for v in _list(array.get("values"), "arrayValue.values")
        ]
    if "kvlistValue" in value or "kvlist_value" in value:
        kvlist = _object(_get(value, "kvlistValue", "kvlist_value", {}), "kvlistValue")
        return _key_values(kvlist.get("values"), depth + 1, level + 3)
    if "bytesValue" in value or "bytes_value" in value:
        raw = _string(_get(value, "bytesValue", "bytes_value"), "bytesValue")
        try:
            return base64.b64encode(base64.b64decode(raw, validate=True)).decode()
        except (binascii.Error, ValueError):
            raise MalformedBody("bytesValue must be base64.") from None
    return None


def _key_values(items: Any, depth: int = 0, level: int = VALUE_START_DEPTH) -> dict:
    out = {}
    for item in _list(items, "attributes"):
        pair = _object(item, "An attribute")
        key = clean_text(_string(pair.get("key"), "An attribute's key"))
        raw = pair.get("value")
        out[key] = None if raw is None else any_value(raw, depth, level)
    return out


def attributes(items: Any) -> dict:
    return _key_values(items)


def _span(raw: Any, n: int) -> SpanFields:
    span = _object(raw, f"span {n}")
    status = _object(_get(span, "status", default={}), f"span {n}: status")
    events = []
    for event in _list(span.get("events"), f"span {n}: events"):
        event = _object(event, f"span {n}: an event")
        events.append(
            (
                _string(event.get("name"), f"span {n}: an event's name"),
                _integer(
                    _get(event, "timeUnixNano", "time_unix_nano"),
                    f"span {n}: an event's timeUnixNano",
                    0,
                    UINT64_MAX,
                ),
                event.get("attributes"),
            )
        )
    return SpanFields(
        trace_id=_id(_get(span, "traceId", "trace_id"), 16, f"span {n}: traceId"),
        span_id=_id(_get(span, "spanId", "span_id"), 8, f"span {n}: spanId"),
        parent=_id(_get(span, "parentSpanId", "parent_span_id"), 8, f"span {n}: parentSpanId"),
        name=_string(span.get("name"), f"span {n}: name"),
        kind=_enum(span.get("kind"), KIND_NAMES, f"span {n}: kind"),
        start=_integer(
            _get(span, "startTimeUnixNano", "start_time_unix_nano"),
            f"span {n}: startTimeUnixNano",
            0,
            UINT64_MAX,
        ),
        end=_integer(
            _get(span, "endTimeUnixNano", "end_time_unix_nano"),
            f"span {n}: endTimeUnixNano",
            0,
            UINT64_MAX,
        ),
        status_code=_enum(status.get("code"), STATUS_NAMES, f"span {n}: status.code"),
        status_message=_string(status.get("message"), f"span {n}: status.message"),
        attributes=lambda: attributes(span.get("attributes")),
        events=events,
        event_attributes=attributes,
    )


def decode_json(body: bytes) -> Decoded:
    """The spans of an OTLP/JSON export body (a MalformedBody names what is wrong)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBody(f"The body is not valid JSON: {exc}.") from None
    except RecursionError:
        # A few kilobytes of nested brackets: a 400, not a 500.
        raise MalformedBody("The JSON body is nested too deeply.") from None
    if not isinstance(document, dict):
        raise MalformedBody("The JSON body must be an object with resourceSpans.")
    result = Decoded(spans=[])
    seen: set[tuple[bytes, bytes]] = set()
    n = 0
    try:
        for resource_spans in _list(
            _get(document, "resourceSpans", "resource_spans"), "resourceSpans"
        ):
            resource_spans = _object(resource_spans, "resourceSpans[]")
            resource_obj = _object(_get(resource_spans, "resource", default={}), "resource")
            resource = attributes(resource_obj.get("attributes"))
            for scope_spans in _list(
                _get(resource_spans, "scopeSpans", "scope_spans"), "scopeSpans"
            ):
                scope_spans = _object(scope_spans, "scopeSpans[]")
                scope = _object(_get(scope_spans, "scope", default={}), "scope")
                span_resource = scoped_resource(
                    resource,
                    _string(scope.get("name"), "scope.name"),
                    _string(scope.get("version"), "scope.version"),
                )
                for raw in _list(scope_spans.get("spans"), "spans"):
                    n += 1
                    span_accept(result, seen, _span(raw, n), span_resource)
    except RecursionError:
        raise MalformedBody("The JSON body is nested too deeply.") from None
    return result
