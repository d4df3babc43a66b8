"""Automatic capture of LLM calls: `configure_tracing(instrument_openai=True)`.

Every `openai` call becomes a span (model, tokens, messages) through the maintained
OpenInference instrumentation (`openinference-instrumentation-openai`, in the `otel`
extra), a child of whatever span is current, e.g. the `@trace` function making it.

The link to the prompt version: `Prompt.render()` notes what it rendered (a hash of each
message's text, with the prompt's name and version; the last 2,048 renders); the exporter
looks at an LLM span's input messages and, when one of them is such a rendering, sends the
span naming that prompt version (`promptyard.prompt.name` / `.version`), as get_prompt
does on the span that fetched it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

MAX_RENDERS = 2_048
INPUT_MESSAGE_KEY = "llm.input_messages.{}.message.content"
MAX_MESSAGES_LOOKED_AT = 64

_renders: OrderedDict[str, tuple[str, int]] = OrderedDict()
_renders_lock = threading.Lock()
_instrumentor: Any = None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def note_rendered(name: str, version: int | None, rendered: Any) -> None:
    """Called by Prompt.render(): these texts came from this prompt version."""
    if not name or not version:
        return
    texts: list[str] = []
    if isinstance(rendered, str):
        texts.append(rendered)
    elif isinstance(rendered, list):
        for message in rendered:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str) and content:
                texts.append(content)
    with _renders_lock:
        for text in texts:
            key = _digest(text)
            _renders[key] = (name, int(version))
            _renders.move_to_end(key)
        while len(_renders) > MAX_RENDERS:
            _renders.popitem(last=False)


def prompt_of(texts: list[str]) -> tuple[str, int] | None:
    """The prompt version one of these texts was rendered from (the first found)."""
    with _renders_lock:
        for text in texts:
            found = _renders.get(_digest(text))
            if found is not None:
                return found
    return None


def _linked_attributes(attributes: Any) -> dict[str, Any] | None:
    """The span's attributes with the prompt version its input messages came from, or None
    when it names one already or none of its messages was rendered from a prompt."""
    from promptyard.tracing import ATTR_PROMPT_NAME, ATTR_PROMPT_VERSION

    if not attributes or ATTR_PROMPT_NAME in attributes:
        return None
    texts = []
    for index in range(MAX_MESSAGES_LOOKED_AT):
        value = attributes.get(INPUT_MESSAGE_KEY.format(index))
        if value is None:
            break
        if isinstance(value, str):
            texts.append(value)
    found = prompt_of(texts) if texts else None
    if found is None:
        return None
    return {**attributes, ATTR_PROMPT_NAME: found[0], ATTR_PROMPT_VERSION: found[1]}


class PromptLinkExporter:
    """Wraps the exporter: an LLM span whose input messages came from a rendered prompt is
    sent naming that prompt version. (The instrumentation adds the messages as the call
    ends, when a span can no longer be changed: so at export, on a copy.)"""

    def __init__(self, inner: SpanExporter):
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from opentelemetry.sdk.trace import ReadableSpan

        out = []
        for span in spans:
            attributes = _linked_attributes(span.attributes)
            if attributes is None:
                out.append(span)
                continue
            out.append(
                ReadableSpan(
                    name=span.name,
                    context=span.context,
                    parent=span.parent,
                    resource=span.resource,
                    attributes=attributes,
                    events=span.events,
                    links=span.links,
                    kind=span.kind,
                    status=span.status,
                    start_time=span.start_time,
                    end_time=span.end_time,
                    instrumentation_scope=span.instrumentation_scope,
                )
            )
        return self.inner.export(out)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def instrument_openai(provider: TracerProvider) -> None:
    """Turn the OpenInference instrumentation of `openai` on, sending to `provider`."""
    global _instrumentor
    try:
        from openinference.instrumentation.openai import OpenAIInstrumentor
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "instrument_openai needs openinference-instrumentation-openai: "
            "pip install 'promptyard[otel]'"
        ) from exc
    uninstrument_openai()
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    _instrumentor = instrumentor


def uninstrument_openai() -> None:
    global _instrumentor
    instrumentor, _instrumentor = _instrumentor, None
    if instrumentor is not None:
        instrumentor.uninstrument()
