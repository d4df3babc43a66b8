"""Promptyard's Python client: fetch prompts by tag (cached, never down), render them."""

from promptyard._core import __version__
from promptyard.aio import AsyncPromptyard
from promptyard.client import Promptyard
from promptyard.errors import (
    AuthenticationError,
    ConfigurationError,
    FetchError,
    PromptNotFound,
    PromptyardError,
    ScoreRejected,
)
from promptyard.prompt import Prompt
from promptyard.rendering import RenderError, render_prompt, template_variables
from promptyard.tracing import (  # noqa: F401
    configure_tracing,
    current_span_id,
    current_trace_id,
    flush_tracing,
    record_prompt_fetch,
    score_current_span,
    trace,
)

__all__ = [
    "AsyncPromptyard",
    "AuthenticationError",
    "ConfigurationError",
    "FetchError",
    "Prompt",
    "PromptNotFound",
    "Promptyard",
    "PromptyardError",
    "RenderError",
    "ScoreRejected",
    "__version__",
    "current_span_id",
    "current_trace_id",
    "render_prompt",
    "score_current_span",
    "template_variables",
]
