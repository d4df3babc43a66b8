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
)
from promptyard.prompt import Prompt
from promptyard.rendering import RenderError, render_prompt, template_variables
from promptyard.tracing import configure_tracing, flush_tracing, record_prompt_fetch, trace  # noqa: F401

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
    "__version__",
    "render_prompt",
    "template_variables",
]
