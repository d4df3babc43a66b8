"""Errors the client raises.

Fetching a prompt (`get_prompt`) raises only when it has nothing to serve (no cached copy,
no disk copy, no fallback); otherwise the failure is logged and the best copy returned.

Every other call (`client.prompts.*`, `client.datasets.*`, ...) raises one of the typed
errors below when the server refuses it, after retrying what is worth retrying:

    PromptyardError
      ConfigurationError          no API key
      FetchError                  status, code, detail, body
        APIError                  the server answered with its error body
          ValidationError         400: `field` names the input at fault, `errors` all of them
          AuthenticationError     401 (and 403 for get_prompt, as before)
            PermissionDenied      403: the key's scopes or the person's role refuse it
          NotFound                404: no such object in the key's team
            PromptNotFound        404 on a prompt fetch
          Conflict                409: e.g. a protected or frozen tag, a running experiment
          RateLimited             429: `retry_after` seconds (None when not said)
          ServerError             5xx after the retries
        ScoreRejected             a refused score (400/404/409), `field`
"""

from __future__ import annotations

from typing import Any


class PromptyardError(Exception):
    """Base class of every error the client raises."""


class ConfigurationError(PromptyardError):
    """The client is missing its API key or base URL."""


class FetchError(PromptyardError):
    """The server could not be reached or gave no usable answer (down, 5xx, timeout, garbage)."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class APIError(FetchError):
    """The server refused a call with its error body `{"detail", "code", "errors"?}`."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        errors: dict[str, Any] | None = None,
        body: Any = None,
    ):
        super().__init__(message, status=status)
        self.detail = message
        self.code = code
        self.errors: dict[str, Any] = errors or {}
        self.body = body


class ValidationError(APIError):
    """400: the input was refused. `field` names the first input at fault (dotted for
    nested ones, e.g. `model_settings.seed`); `errors` maps every field to its messages."""

    @property
    def field(self) -> str | None:
        if self.errors:
            return next(iter(self.errors))
        return None


class AuthenticationError(APIError):
    """The API key was refused (401) or, for get_prompt, lacks the prompts:read scope (403)."""


class PermissionDenied(AuthenticationError):
    """403: the key's scopes or its person's role do not allow this."""


class NotFound(APIError):
    """404: no such object in the key's team (another team's objects are not found too)."""


class PromptNotFound(NotFound):
    """No such prompt, tag or version for this key's team (404)."""


class Conflict(APIError):
    """409: the object is not in a state that allows this (a protected or frozen tag, an
    experiment already running, a dataset experiments ran on)."""


class RateLimited(APIError):
    """429: too many requests. `retry_after` is the server's Retry-After in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx after the retries were spent."""


class ScoreRejected(FetchError):
    """The server refused a score: invalid (400), no such trace or span in the key's team
    yet (404: send the trace's spans first, e.g. `flush_tracing()`), or its id already
    scores something else (409). `field` names the input at fault."""

    def __init__(self, message: str, *, status: int | None = None, field: str | None = None):
        super().__init__(message, status=status)
        self.field = field
