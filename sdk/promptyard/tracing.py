"""Trace your code into Promptyard with OpenTelemetry.

    import promptyard
    promptyard.configure_tracing(api_key="pyd_…", base_url="https://promptyard.example")

    @promptyard.trace
    def answer(question: str) -> str:
        prompt = client.get_prompt("support-reply")   # recorded on the span
        ...

    with promptyard.trace("retrieve documents") as span:
        span.set_attribute("k", 5)

Spans go over OTLP/HTTP (protobuf) to `<base_url>/v1/traces` with the team's key, in
batches. A decorated function records its arguments and return value (JSON, size
limited), its name, and a hash of its source as `promptyard.function.version`, so a code
change shows in the explorer next to a prompt change. Needs the `otel` extra:
`pip install 'promptyard[otel]'`; without it, `trace` runs the code untraced.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from contextlib import AbstractContextManager
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from promptyard import llm_capture
from promptyard.versioning import closure_hash, closure_source

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

F = TypeVar("F", bound=Callable[..., Any])

MAX_VALUE_CHARS = 8_192
TRACER_NAME = "promptyard"

ATTR_FUNCTION_NAME = "promptyard.function.name"
ATTR_FUNCTION_VERSION = "promptyard.function.version"
# The code the version covers (the function and its same-package callees), bounded, and
# the settings given to @trace(settings=...): the server numbers versions from these.
ATTR_FUNCTION_SOURCE = "promptyard.function.source"
ATTR_FUNCTION_SETTINGS = "promptyard.function.settings"
ATTR_PROMPT_NAME = "promptyard.prompt.name"
ATTR_PROMPT_VERSION = "promptyard.prompt.version"
# Under a rollout: which rollout and which arm served the version above.
ATTR_ROLLOUT_ID = "promptyard.rollout.id"
ATTR_ROLLOUT_ARM = "promptyard.rollout.arm"
# OpenInference's names, which the server (and other tools) read as the span's input/output.
ATTR_INPUT = "input.value"
ATTR_OUTPUT = "output.value"

_lock = threading.Lock()
_provider: TracerProvider | None = None
# configure_tracing(redact=...): applied to every recorded argument and return value.
_redact: Callable[[Any], Any] | None = None


def _otel() -> ModuleType | None:
    try:
        from opentelemetry import trace as otel_trace
    except ImportError:
        return None
    return otel_trace


def configure_tracing(
    api_key: str | None = None,
    base_url: str | None = None,
    *,
    service_name: str | None = None,
    max_export_batch_size: int = 512,
    schedule_delay_millis: int = 1_000,
    max_queue_size: int = 8_192,
    exporter: SpanExporter | None = None,
    set_global: bool = False,
    redact: Callable[[Any], Any] | None = None,
    instrument_openai: bool = False,
) -> TracerProvider:
    """Send spans to Promptyard: a TracerProvider with OTLPSpanExporter and a
    BatchSpanProcessor. Defaults come from PROMPTYARD_API_KEY / PROMPTYARD_BASE_URL.
    Calling it again replaces (and flushes) the previous configuration.

    `redact(value) -> value` is applied to every argument mapping and return value @trace
    records, before it is cut to size (e.g. to mask e-mail addresses); if it raises, the
    value is recorded as "[redaction failed]", never as it was.

    `instrument_openai=True` turns on the OpenInference instrumentation of the `openai`
    client: every call becomes a child span with its model, tokens and messages, naming the
    prompt version its messages were rendered from (promptyard.llm_capture)."""
    global _provider, _redact
    _redact = redact
    try:
        from opentelemetry import trace as otel_trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError("Tracing needs OpenTelemetry: pip install 'promptyard[otel]'") from exc
    from promptyard._core import DEFAULT_BASE_URL

    if exporter is None:
        api_key = api_key or os.environ.get("PROMPTYARD_API_KEY") or ""
        if not api_key:
            raise ValueError(
                "No API key: pass api_key=... or set PROMPTYARD_API_KEY (a key with traces:write)."
            )
        base = (base_url or os.environ.get("PROMPTYARD_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        exporter = OTLPSpanExporter(
            endpoint=f"{base}/v1/traces", headers={"Authorization": f"Bearer {api_key}"}
        )
    resource = Resource.create(
        {"service.name": service_name or os.environ.get("OTEL_SERVICE_NAME") or "promptyard-app"}
    )
    provider = TracerProvider(resource=resource)
    if instrument_openai:
        exporter = cast("SpanExporter", llm_capture.PromptLinkExporter(exporter))
    provider.add_span_processor(
        BatchSpanProcessor(
            exporter,
            max_export_batch_size=max_export_batch_size,
            schedule_delay_millis=schedule_delay_millis,
            max_queue_size=max(max_queue_size, max_export_batch_size),
        )
    )
    with _lock:
        previous, _provider = _provider, provider
    if previous is not None:
        previous.shutdown()
    if set_global:
        otel_trace.set_tracer_provider(provider)
    if instrument_openai:
        llm_capture.instrument_openai(provider)
    else:
        llm_capture.uninstrument_openai()
    return provider


def flush_tracing(timeout_millis: int = 30_000) -> bool:
    """Export every finished span now (call before a short-lived process exits)."""
    provider = _provider
    return provider.force_flush(timeout_millis) if provider is not None else True


def shutdown_tracing() -> None:
    global _provider
    llm_capture.uninstrument_openai()
    with _lock:
        provider, _provider = _provider, None
    if provider is not None:
        provider.shutdown()


def _tracer() -> Tracer | None:
    otel_trace = _otel()
    if otel_trace is None:
        return None
    provider = _provider
    if provider is not None:
        return provider.get_tracer(TRACER_NAME)
    tracer: Tracer = otel_trace.get_tracer(TRACER_NAME)
    return tracer


def record_prompt_fetch(
    name: str, version: int | None, *, arm: str | None = None, rollout_id: int | None = None
) -> None:
    """Called by get_prompt: the current span used this prompt version (under a rollout,
    the version of the caller's arm, with the rollout and the arm)."""
    otel_trace = _otel()
    if otel_trace is None:
        return
    span = otel_trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute(ATTR_PROMPT_NAME, str(name))
    if version:
        span.set_attribute(ATTR_PROMPT_VERSION, int(version))
    if rollout_id is not None and arm:
        span.set_attribute(ATTR_ROLLOUT_ID, int(rollout_id))
        span.set_attribute(ATTR_ROLLOUT_ARM, str(arm))


def current_trace_id() -> str | None:
    """The current span's trace id as the server spells it (32 hex), or None outside a
    span: keep it to score the trace later (`client.score(trace_id=...)`)."""
    otel_trace = _otel()
    if otel_trace is None:
        return None
    context = otel_trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def current_span_id() -> str | None:
    """The current span's id (16 hex), or None outside a span."""
    otel_trace = _otel()
    if otel_trace is None:
        return None
    context = otel_trace.get_current_span().get_span_context()
    return f"{context.span_id:016x}" if context.is_valid else None


SCORE_EVENT = "promptyard.score"


def score_current_span(
    name: str,
    value: bool | int | float | str,
    *,
    comment: str | None = None,
    author: str | None = None,
    score_id: str | None = None,
) -> bool:
    """Score the span being run (inside `@trace` or `with trace(...)`): the score travels
    with the span as a `promptyard.score` event, so it arrives with it and needs no call
    of its own. Returns False (and does nothing) outside a recording span."""
    otel_trace = _otel()
    if otel_trace is None:
        return False
    span = otel_trace.get_current_span()
    if not span.is_recording():
        return False
    if not isinstance(value, (bool, int, float, str)):
        raise TypeError("a score's value is a bool, a number or a category (str)")
    attributes: dict[str, Any] = {
        "promptyard.score.name": str(name),
        "promptyard.score.value": value,
    }
    if comment:
        attributes["promptyard.score.comment"] = str(comment)
    if author:
        attributes["promptyard.score.author"] = str(author)
    if score_id:
        attributes["promptyard.score.id"] = str(score_id)
    span.add_event(SCORE_EVENT, attributes=attributes)
    return True


# --- values --------------------------------------------------------------------------


def _fallback(value: Any) -> Any:
    for attr in ("model_dump", "dict", "to_dict"):  # pydantic and friends
        method = getattr(value, attr, None)
        if callable(method):
            try:
                return method()
            except Exception:  # noqa: BLE001 - fall back to repr
                break
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"


def to_json(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """JSON for an attribute, cut to `limit` characters."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=_fallback, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            text = repr(value)
    if len(text) > limit:
        text = text[:limit] + f"…[truncated {len(text) - limit} chars]"
    return text


def function_version(func: Callable[..., Any]) -> str:
    """A short hash of the function's code and of the same-package functions it calls
    (promptyard.versioning.closure): a change to a callee changes it too."""
    return closure_hash(func)


REDACTION_FAILED = "[redaction failed]"


def _redacted(value: Any) -> Any:
    redact = _redact
    if redact is None:
        return value
    try:
        return redact(value)
    except Exception:  # noqa: BLE001 - never record the value unredacted
        return REDACTION_FAILED


def _arguments(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return {"args": list(args), "kwargs": kwargs}
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}


# --- the decorator and context manager -------------------------------------------------


class _Trace:
    """`with trace("name") as span:` and `@trace(name=...)`."""

    def __init__(
        self,
        name: str | None = None,
        *,
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.capture_input = capture_input
        self.capture_output = capture_output
        self.attributes = dict(attributes or {})
        self.settings = dict(settings or {})
        self._stack = threading.local()

    # context manager
    def __enter__(self) -> Span | None:
        tracer = _tracer()
        if tracer is None:
            self._push(None)
            return None
        manager = tracer.start_as_current_span(self.name or "block", attributes=self.attributes)
        self._push(manager)
        return manager.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        manager = self._pop()
        if manager is None:
            return False
        return manager.__exit__(exc_type, exc, tb)

    def _push(self, manager: AbstractContextManager[Span] | None) -> None:
        if not hasattr(self._stack, "items"):
            self._stack.items = []
        self._stack.items.append(manager)

    def _pop(self) -> AbstractContextManager[Span] | None:
        items: list[AbstractContextManager[Span] | None] = self._stack.items
        return items.pop()

    # decorator
    def __call__(self, func: F) -> F:
        return _decorate(
            func,
            name=self.name,
            capture_input=self.capture_input,
            capture_output=self.capture_output,
            attributes=self.attributes,
            settings=self.settings,
        )


MAX_CHUNKS_KEPT = 10_000  # a generator's chunks kept for its recorded output


def _chunks_output(chunks: list[Any]) -> Any:
    """A generator's output: its text chunks joined, else its last chunk."""
    if chunks and all(isinstance(chunk, str) for chunk in chunks):
        return "".join(chunks)
    return chunks[-1] if chunks else None


def _decorate(
    func: F,
    *,
    name: str | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
    attributes: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> F:
    qualified = f"{func.__module__}.{func.__qualname__}"
    span_name = name or func.__qualname__
    base = {**(attributes or {}), ATTR_FUNCTION_NAME: qualified}
    if settings:
        base[ATTR_FUNCTION_SETTINGS] = to_json(dict(settings))
    static: dict[str, Any] = {}
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        signature = None

    def version_attributes() -> dict[str, Any]:
        # At the first call, not at decoration: callees defined below the function in its
        # module exist only once the module has run. The code goes with the first span
        # only: the server keeps it as the version, once.
        if not static:
            static.update(base, **{ATTR_FUNCTION_VERSION: function_version(func)})
            return {**static, ATTR_FUNCTION_SOURCE: closure_source(func)}
        return static

    def attributes_for(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        attrs = dict(version_attributes())
        if capture_input:
            values = _arguments(signature, args, kwargs) if signature else {"args": list(args)}
            attrs[ATTR_INPUT] = to_json(_redacted(values))
            attrs["input.mime_type"] = "application/json"
        return attrs

    def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> AbstractContextManager[Span] | None:
        tracer = _tracer()
        if tracer is None:
            return None
        return tracer.start_as_current_span(span_name, attributes=attributes_for(args, kwargs))

    def finish(span: Span | None, result: Any) -> None:
        if capture_output and span is not None and span.is_recording():
            result = _redacted(result)
            span.set_attribute(ATTR_OUTPUT, to_json(result))
            if not isinstance(result, str):
                span.set_attribute("output.mime_type", "application/json")

    def interrupted(span: Span, exc: BaseException, chunks: list[Any]) -> None:
        """A generator's span when it ends by an exception: an error if the generator
        raised, else (the caller stopped early, GeneratorExit) what it yielded so far."""
        otel_trace = _otel()
        assert otel_trace is not None  # a span means OpenTelemetry is there
        if isinstance(exc, Exception):
            span.record_exception(exc)
            span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, str(exc)))
        elif chunks:
            finish(span, _chunks_output(chunks))

    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        async def async_gen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            tracer = _tracer()
            if tracer is None:
                async for item in func(*args, **kwargs):
                    yield item
                return
            otel_trace = _otel()
            assert otel_trace is not None  # a tracer means OpenTelemetry is there
            # Not the current span between chunks (the caller runs then): current only
            # while the generator's own code runs, so its calls nest under it.
            span = tracer.start_span(span_name, attributes=attributes_for(args, kwargs))
            generator = func(*args, **kwargs)
            chunks: list[Any] = []
            try:
                while True:
                    with otel_trace.use_span(
                        span,
                        end_on_exit=False,
                        record_exception=False,
                        set_status_on_exception=False,
                    ):
                        try:
                            item = await generator.__anext__()
                        except StopAsyncIteration:
                            break
                    if len(chunks) < MAX_CHUNKS_KEPT:
                        chunks.append(item)
                    yield item
                finish(span, _chunks_output(chunks))
            except BaseException as exc:
                interrupted(span, exc, chunks)
                raise
            finally:
                await generator.aclose()
                span.end()

        return cast(F, async_gen_wrapper)

    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            tracer = _tracer()
            if tracer is None:
                return (yield from func(*args, **kwargs))
            otel_trace = _otel()
            assert otel_trace is not None
            span = tracer.start_span(span_name, attributes=attributes_for(args, kwargs))
            generator = func(*args, **kwargs)
            chunks: list[Any] = []
            try:
                while True:
                    with otel_trace.use_span(
                        span,
                        end_on_exit=False,
                        record_exception=False,
                        set_status_on_exception=False,
                    ):
                        try:
                            item = next(generator)
                        except StopIteration as stop:
                            returned = stop.value
                            break
                    if len(chunks) < MAX_CHUNKS_KEPT:
                        chunks.append(item)
                    yield item
                finish(span, _chunks_output(chunks))
                return returned
            except BaseException as exc:
                interrupted(span, exc, chunks)
                raise
            finally:
                generator.close()
                span.end()

        return cast(F, gen_wrapper)

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            manager = start(args, kwargs)
            if manager is None:
                return await func(*args, **kwargs)
            with manager as span:
                result = await func(*args, **kwargs)
                finish(span, result)
                return result

        return cast(F, async_wrapper)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        manager = start(args, kwargs)
        if manager is None:
            return func(*args, **kwargs)
        with manager as span:
            result = func(*args, **kwargs)
            finish(span, result)
            return result

    return cast(F, wrapper)


@overload
def trace(
    func_or_name: F,
    /,
    *,
    name: str | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
    attributes: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> F: ...


@overload
def trace(
    func_or_name: str | None = None,
    /,
    *,
    name: str | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
    attributes: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> _Trace: ...


def trace(
    func_or_name: Callable[..., Any] | str | None = None,
    /,
    *,
    name: str | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
    attributes: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Callable[..., Any] | _Trace:
    """`@trace`, `@trace(name="…")`, `@trace("…")` or `with trace("…") as span:`.

    A decorated function's span carries its version (a hash of its code and the
    same-package functions it calls), that code, and `settings` (what a re-run needs, e.g.
    the model): the server numbers the versions per function (v1, v2, …). Generators and
    async generators are traced until their iteration ends; their output is the joined
    text chunks, or the last chunk."""
    if callable(func_or_name):
        return _decorate(
            func_or_name,
            name=name,
            capture_input=capture_input,
            capture_output=capture_output,
            attributes=attributes,
            settings=settings,
        )
    return _Trace(
        name or func_or_name,
        capture_input=capture_input,
        capture_output=capture_output,
        attributes=attributes,
        settings=settings,
    )
