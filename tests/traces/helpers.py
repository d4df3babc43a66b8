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
