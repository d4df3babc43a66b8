"""Errors the client raises. It raises only when it has nothing to serve (no cached copy,
no disk copy, no fallback); otherwise the failure is logged and the best copy returned."""

from __future__ import annotations


class PromptyardError(Exception):
    """Base class of every error the client raises."""


class ConfigurationError(PromptyardError):
    """The client is missing its API key or base URL."""


class FetchError(PromptyardError):
    """The server could not be reached or gave no usable answer (down, 5xx, timeout, garbage)."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class AuthenticationError(FetchError):
    """The API key was refused (401) or lacks the prompts:read scope (403)."""


class PromptNotFound(FetchError):
    """No such prompt, tag or version for this key's team (404)."""


class ScoreRejected(FetchError):
    """The server refused a score: invalid (400), no such trace or span in the key's team
    yet (404: send the trace's spans first, e.g. `flush_tracing()`), or its id already
    scores something else (409). `field` names the input at fault."""

    def __init__(self, message: str, *, status: int | None = None, field: str | None = None):
        super().__init__(message, status=status)
        self.field = field
