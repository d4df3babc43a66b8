"""The SDK README documents tracing, and what its tracing section names exists."""

from __future__ import annotations

import re
from pathlib import Path

import promptyard

README = Path(__file__).resolve().parents[2] / "sdk" / "README.md"


def _tracing_section() -> str:
    text = README.read_text(encoding="utf-8")
    assert "\n## Tracing\n" in text
    return text.split("\n## Tracing\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_has_a_tracing_section_that_names_real_functions():
    section = _tracing_section()
    for needed in ("configure_tracing", "@promptyard.trace", "flush_tracing", "/v1/traces"):
        assert needed in section
    assert "traces:write" in section  # the key's scope
    for name in set(re.findall(r"promptyard\.([a-z_]+)\(", section)):
        assert callable(getattr(promptyard, name, None)), name


def test_configure_tracing_returns_the_provider_an_instrumentation_takes():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from promptyard.tracing import shutdown_tracing

    exporter = InMemorySpanExporter()
    provider = promptyard.configure_tracing(exporter=exporter, schedule_delay_millis=10)
    try:
        assert isinstance(provider, TracerProvider)

        @promptyard.trace
        def answer(question: str) -> str:
            return f"echo {question}"

        assert answer("hi") == "echo hi"
        assert promptyard.flush_tracing()
        (span,) = exporter.get_finished_spans()
        assert span.attributes["input.value"] and span.attributes["output.value"] == "echo hi"
    finally:
        shutdown_tracing()
