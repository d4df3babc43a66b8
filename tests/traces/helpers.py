"""Build OTLP requests the way real exporters do, and a tracer wired to the live server."""

from __future__ import annotations

import itertools
import json

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

_ids = itertools.count(1)


class Collecting(SpanExporter):
    """Keeps finished spans in memory, to encode them with the real OTLP encoder."""

    def __init__(self):
        self.spans = []

    def export(self, spans):
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def collecting_provider():
    exporter = Collecting()
    provider = TracerProvider(resource=Resource.create({"service.name": "tests"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def encoded_request(build):
    """build(tracer) creates spans; returns the real exporter's ExportTraceServiceRequest."""
    provider, exporter = collecting_provider()
    build(provider.get_tracer("tests"))
    provider.shutdown()
    return encode_spans(exporter.spans)


def exporter_to(live_server_url: str, raw_key: str, **kwargs) -> OTLPSpanExporter:
    return OTLPSpanExporter(
        endpoint=f"{live_server_url}/v1/traces",
        headers={"Authorization": f"Bearer {raw_key}"},
        timeout=10,
        **kwargs,
    )


def llm_call(tracer, *, prompt="Say hi", answer="Hi there", model="gpt-test"):
    with tracer.start_as_current_span("chat " + model) as span:
        span.set_attribute("gen_ai.system", "openai")
        span.set_attribute("gen_ai.request.model", model)
        span.set_attribute("gen_ai.request.temperature", 0.2)
        span.set_attribute("gen_ai.usage.input_tokens", 1000)
        span.set_attribute("gen_ai.usage.output_tokens", 500)
        span.set_attribute(
            "gen_ai.input.messages",
            json.dumps([{"role": "user", "parts": [{"type": "text", "content": prompt}]}]),
        )
        span.set_attribute(
            "gen_ai.output.messages",
            json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]),
        )


def raw_span(
    trace_id,
    span_id,
    *,
    parent="",
    name="span",
    start_ms=0,
    duration_ms=10,
    attrs=None,
    status="ok",
    message="",
    base_ns=None,
):
    import time

    from apps.traces.otlp import RawSpan

    base = base_ns if base_ns is not None else time.time_ns() - 60_000_000_000
    start = base + int(start_ms * 1_000_000)
    return RawSpan(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind="internal",
        start_ns=start,
        end_ns=start + int(duration_ms * 1_000_000),
        status_code=status,
        status_message=message,
        attributes=attrs or {},
        events=[],
        resource={"service.name": "tests"},
    )


def hex_id(number: int, size: int) -> str:
    return f"{number:0{size * 2}x}"


def ingest(team, actor, spans):
    from apps.core.tenancy import team_scope
    from apps.traces.services import spans_ingest

    with team_scope(team):
        return spans_ingest(team=team, actor=actor, spans=spans)


class MemoryExporter(SpanExporter):
    """An OpenTelemetry exporter that keeps what it is given."""

    def __init__(self):
        self.spans = []

    def export(self, spans):
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def spans_by_name(exporter: MemoryExporter) -> dict:
    """The SDK's spans so far (flushed first), by name."""
    import promptyard

    promptyard.flush_tracing()
    return {s.name: s for s in exporter.spans}
