"""The one place that calls models: the `openai` SDK against OpenAI or any compatible server.

`complete()`, `acomplete()` and `stream()` take the messages and a `ModelSettings` (which
model, how; it builds the request body) and return a `Completion` (text, parsed JSON, usage,
latency, cost, raw response). The SDK's own retries are off (`max_retries=0`): retries
happen here, with exponential backoff and full jitter on 429, 5xx and connection errors,
honouring `Retry-After` up to a cap. Timeouts are not retried: the time budget is spent.
Failures raise `GatewayError(kind, message, retry_after)` with a message a user understands.

Providers say on every answer how much of their rate limit is left: OpenAI (and Azure,
Groq, vLLM/LiteLLM proxies, demo-echo) send `x-ratelimit-{limit,remaining,reset}-requests`
and `-tokens`, the reset a Go-style duration (`1s`, `6m0s`, `1m30.5s`, `250ms`); Anthropic
sends `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, the reset an RFC 3339
time. `rate_budgets()` reads either into `RateBudgets` (a `RateBudget(remaining, reset_s,
limit)` per kind), carried on `Completion.rate_budgets` and on a status `GatewayError`;
headers that are missing or unreadable give None, never an error. The experiment runner
paces its calls by them (apps/experiments/runner.py, `AdaptiveLimiter`).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import json
import math
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import openai
from openai import AsyncOpenAI, OpenAI

from apps.llm import transport
from apps.llm.model_settings import ModelSettings
from apps.llm.urlcheck import UnsafeBaseURL, check_base_url

AUTHENTICATION = "authentication"
RATE_LIMIT = "rate_limit"
BAD_REQUEST = "bad_request"
SERVER = "server"
TIMEOUT = "timeout"
CONNECTION = "connection"
KINDS = (AUTHENTICATION, RATE_LIMIT, BAD_REQUEST, SERVER, TIMEOUT, CONNECTION)
RETRYABLE = {RATE_LIMIT, SERVER, CONNECTION}

BACKOFF_BASE = 0.5  # seconds before the first retry, doubled each time
BACKOFF_CAP = 20.0  # no single wait is longer
RETRY_AFTER_CAP = 60.0  # a longer Retry-After gives up at once and reports it to the caller
DEFAULT_TIMEOUT = 60.0
NO_KEY = "no-key"  # OpenAI-compatible servers that need no key still get a bearer value


# --- rate-limit headers ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateBudget:
    """What a provider says is left of one rate limit (requests or tokens) as it answers."""

    remaining: int
    reset_s: float | None = None  # seconds until the limit is whole again (None: not said)
    limit: int | None = None  # the most it holds (None: not said)

    @property
    def refill_rate(self) -> float | None:
        """Units a second the limit refills at, if the headers imply it: what is missing
        (limit - remaining) comes back within reset_s. None when they do not say."""
        if self.limit is None or self.reset_s is None or self.reset_s <= 0:
            return None
        missing = self.limit - self.remaining
        return missing / self.reset_s if missing > 0 else None


@dataclass(frozen=True, slots=True)
class RateBudgets:
    requests: RateBudget | None = None
    tokens: RateBudget | None = None


# (kind, the header names of its limit, remaining and reset), OpenAI's form then Anthropic's.
_BUDGET_HEADERS = tuple(
    (kind, names)
    for kind in ("requests", "tokens")
    for names in (
        tuple(f"x-ratelimit-{part}-{kind}" for part in ("limit", "remaining", "reset")),
        tuple(f"anthropic-ratelimit-{kind}-{part}" for part in ("limit", "remaining", "reset")),
    )
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
EPOCH_FROM = 1e9  # a bare number this large is a Unix time, not a count of seconds


def parse_duration(value: str) -> float | None:
    """Seconds in a Go-style duration (`1s`, `6m0s`, `1m30.5s`, `250ms`, `1h2m3s`) or a bare
    number of seconds; None for anything else."""
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pos, total = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                return None
            total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
            pos = match.end()
        if pos != len(text) or pos == 0:
            return None
        return total
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_reset(value: str, now: float | None = None) -> float | None:
    """Seconds until a reset given as a duration, a bare number of seconds, a Unix time or
    an RFC 3339 / ISO 8601 time (Anthropic's form); never negative; None if unreadable."""
    seconds = parse_duration(value)
    now = time.time() if now is None else now
    if seconds is not None:
        return max(0.0, seconds - now) if seconds >= EPOCH_FROM else seconds
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # a time without a zone could be any
    return max(0.0, moment.timestamp() - now)


def _count(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number >= 0 else None


def rate_budgets(headers, now: float | None = None) -> RateBudgets | None:
    """The rate-limit budgets an answer's headers state (OpenAI's or Anthropic's form), or
    None when they state none. `headers`: any mapping (case-insensitive ones as httpx's,
    or a plain dict). A kind whose `remaining` is missing or unreadable is left out; an
    unreadable limit or reset is None. Never raises."""
    try:
        found = {
            name.lower(): value
            for name, value in headers.items()
            if isinstance(name, str) and "ratelimit" in name.lower() and isinstance(value, str)
        }
    except Exception:  # noqa: BLE001 - an odd header object is no reason to fail a call
        return None
    if not found:
        return None
    budgets: dict[str, RateBudget] = {}
    for kind, (limit_name, remaining_name, reset_name) in _BUDGET_HEADERS:
        if kind in budgets:
            continue
        remaining = _count(found.get(remaining_name))
        if remaining is None:
            continue
        reset = found.get(reset_name)
        budgets[kind] = RateBudget(
            remaining=remaining,
            reset_s=parse_reset(reset, now) if reset is not None else None,
            limit=_count(found.get(limit_name)),
        )
    return RateBudgets(**budgets) if budgets else None


class GatewayError(Exception):
    def __init__(
        self,
        kind: str,
        message: str,
        retry_after: float | None = None,
        *,
        status_code: int | None = None,
        rate_budgets: RateBudgets | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.status_code = status_code
        # What the provider's answer said is left of its rate limits (None: not said).
        self.rate_budgets = rate_budgets

    def __str__(self):
        return self.message

    def as_dict(self) -> dict:
        return {"kind": self.kind, "message": self.message, "retry_after": self.retry_after}


@dataclass
class Completion:
    text: str
    parsed_json: Any
    input_tokens: int
    output_tokens: int
    latency_ms: int
    cost: float | None  # US dollars from the provider's prices; None when no price is set
    raw: dict
    model: str = ""
    finish_reason: str | None = None
    tool_calls: list = field(default_factory=list)
    attempts: int = 1
    # What the provider said is left of its rate limits as it answered (None: not said).
    rate_budgets: RateBudgets | None = None

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "parsed_json": self.parsed_json,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "latency_ms": self.latency_ms,
            "cost": self.cost,
            "model": self.model,
            "finish_reason": self.finish_reason,
            "attempts": self.attempts,
        }


# --- clients, cached per (provider, key) so connections are reused ---------------------

_CLIENT_LIMIT = 64
_clients: OrderedDict = OrderedDict()
_clients_lock = threading.Lock()
_url_checked: dict[str, float] = {}
URL_RECHECK_SECONDS = 60.0


def _key_for(provider) -> str:
    key = provider.api_key
    if not key:
        if provider.kind == "openai":
            raise GatewayError(
                AUTHENTICATION,
                f"Provider {provider.name} has no API key. An admin can add one in the provider settings.",
            )
        return NO_KEY
    return key


def _check_url(provider) -> None:
    # A URL changed behind the services' back gets a clear refusal here. Names are not
    # resolved here (that would block the event loop): the transport checks the address
    # of every connection it makes (apps.llm.transport).
    now = time.monotonic()
    if now - _url_checked.get(provider.base_url, -1e9) < URL_RECHECK_SECONDS:
        return
    try:
        check_base_url(provider.base_url, resolve=False)
    except UnsafeBaseURL as exc:
        raise GatewayError(BAD_REQUEST, f"Provider {provider.name}: {exc}") from None
    _url_checked[provider.base_url] = now


def _client(provider, *, asynchronous: bool = False):
    _check_url(provider)
    key = _key_for(provider)
    fingerprint = hashlib.sha256(key.encode()).hexdigest()[:16]
    loop_id = None
    if asynchronous:
        # An async client's connections belong to the event loop that opened them.
        loop_id = id(asyncio.get_running_loop())
    # (provider id, url, key fingerprint, async?, loop id): apps.experiments.runner reads
    # index 4 to close a finished loop's clients; keep the layout.
    cache_key = (provider.pk, provider.base_url, fingerprint, asynchronous, loop_id)
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is not None:
            _clients.move_to_end(cache_key)
            return client
        cls = AsyncOpenAI if asynchronous else OpenAI
        # Connections go only to addresses checked as they are made (no DNS-rebinding
        # window), and redirects are never followed (they would lead the key elsewhere).
        client = cls(
            api_key=key,
            base_url=provider.base_url,
            max_retries=0,
            timeout=provider.timeout_seconds or DEFAULT_TIMEOUT,
            http_client=transport.http_client(asynchronous=asynchronous),
        )
        _clients[cache_key] = client
        while len(_clients) > _CLIENT_LIMIT:
            _clients.popitem(last=False)
        return client


async def aclose_loop_clients() -> None:
    """Close and forget the async clients opened on the running event loop (call it before
    the loop closes: a later loop may get the same id)."""
    loop_id = id(asyncio.get_running_loop())
    with _clients_lock:
        keys = [k for k in _clients if k[3] and k[4] == loop_id]
        clients = [_clients.pop(k) for k in keys]
    for client in clients:
        try:
            await client.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


def warm_async_client(provider) -> None:
    """Create and cache `provider`'s async client on the running event loop now (the SDK
    client and its HTTP/SSL setup take tens of ms), so the first call does not. Any error
    is left for that first call to report."""
    try:
        _client(provider, asynchronous=True)
    except Exception:  # noqa: BLE001 - the first call reports it
        pass


def warm_up() -> None:
    """Import now what the SDK's HTTP stack imports lazily on its first async request
    (the connection pool, anyio's asyncio backend): ~0.2 s that would otherwise be spent
    on the event loop during the first calls of a run. Harmless if a name is absent."""
    for name in ("httpcore2", "httpcore", "anyio._backends._asyncio"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def clear_client_cache() -> None:
    with _clients_lock:
        _clients.clear()
    _url_checked.clear()


# --- errors -------------------------------------------------------------------------


def _retry_after(response) -> float | None:
    if response is None:
        return None
    headers = response.headers
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(float(value) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def _provider_message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:500]
        if isinstance(body.get("message"), str):
            return body["message"][:500]
    return str(getattr(exc, "message", "") or exc)[:500]


def classify(exc: Exception, provider, timeout: float | None = None) -> GatewayError:
    """Turn an SDK exception into a GatewayError a user can act on."""
    name = provider.name
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        waited = f" within {timeout:g} s" if timeout else ""
        return GatewayError(
            TIMEOUT,
            f"{name} did not answer{waited}. Try again, or raise the provider's timeout.",
        )
    if isinstance(exc, openai.APIConnectionError):
        return GatewayError(
            CONNECTION,
            f"Could not connect to {name} at {provider.base_url}. Is the server running and the URL right?",
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = _provider_message(exc)
        response = getattr(exc, "response", None)
        budgets = rate_budgets(response.headers) if response is not None else None
        if status in (401, 403):
            return GatewayError(
                AUTHENTICATION,
                f"{name} refused the API key ({status}): {detail}. An admin can update the key in the provider settings.",
                status_code=status,
            )
        if status == 429:
            wait = _retry_after(response)
            hint = f" Retry after {wait:g} s." if wait is not None else ""
            return GatewayError(
                RATE_LIMIT,
                f"{name} is rate-limiting requests (429).{hint}",
                wait,
                status_code=status,
                rate_budgets=budgets,
            )
        if status >= 500:
            return GatewayError(
                SERVER,
                f"{name} had a server error ({status}): {detail}",
                _retry_after(response),
                status_code=status,
                rate_budgets=budgets,
            )
        return GatewayError(
            BAD_REQUEST,
            f"{name} refused the request ({status}): {detail}",
            status_code=status,
            rate_budgets=budgets,
        )
    if isinstance(exc, openai.OpenAIError):
        return GatewayError(BAD_REQUEST, f"{name}: {exc}")
    raise exc


def _sleep(seconds: float) -> None:
    # One indirection so tests can observe the waits without slowing down.
    time.sleep(seconds)


async def _asleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds to wait before retry number `attempt` (1-based)."""
    if retry_after is not None:
        # Honour the server, with a little jitter so waiting clients do not return at once.
        return retry_after + random.uniform(0, min(0.1 * retry_after, 1.0))
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))


def _give_up(error: GatewayError, attempt: int, max_retries: int) -> bool:
    if error.kind not in RETRYABLE or attempt > max_retries:
        return True
    return error.retry_after is not None and error.retry_after > RETRY_AFTER_CAP


# --- requests and results -------------------------------------------------------------


def _parse_json(text: str, wants_json: bool) -> Any:
    if not wants_json:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


# Tokens of framing a chat request adds per message and per request (role markers, the
# reply's priming): generous against OpenAI's documented 3-4 per message.
FRAMING_TOKENS_PER_MESSAGE = 8
FRAMING_TOKENS_PER_REQUEST = 8


def prompt_token_bound(messages: list[dict], tools: tuple | list = ()) -> int:
    """An upper bound on a request's prompt tokens: byte-level BPE tokenizers emit at least
    one UTF-8 byte per token, so a message has at most as many tokens as bytes."""
    total = FRAMING_TOKENS_PER_REQUEST
    for message in messages:
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        total += len((text or "").encode()) + FRAMING_TOKENS_PER_MESSAGE
    if tools:
        total += len(json.dumps(list(tools), ensure_ascii=False).encode())
    return total


def cost_bound(
    provider, settings: ModelSettings, messages: list[dict], *, output_tokens: int
) -> float | None:
    """The most a call can cost at the provider's prices (None: the model has no price):
    the prompt's token bound plus `output_tokens` (the call's max_tokens)."""
    return cost_of(
        provider,
        settings.model,
        prompt_token_bound(messages, settings.tools),
        output_tokens,
        rounding=False,
    )


def cost_of(
    provider, model: str, input_tokens: int, output_tokens: int, *, rounding: bool = True
) -> float | None:
    price = provider.price_for(model)
    if price is None:
        return None
    usd = (
        input_tokens * float(price.get("input", 0)) + output_tokens * float(price.get("output", 0))
    ) / 1_000_000
    return round(usd, 8) if rounding else usd


def _completion(
    provider, model, body: dict, started, wants_json, attempts, budgets=None
) -> Completion:
    """A Completion from the JSON body of a chat completion (OpenAI's wire format)."""
    choices = body.get("choices") or []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    text = message.get("content") or ""
    if not isinstance(text, str):  # a list of content parts
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    usage = body.get("usage") or {}
    input_tokens = int(usage.get("prompt_tokens") or 0)
    output_tokens = int(usage.get("completion_tokens") or 0)
    return Completion(
        text=text,
        parsed_json=_parse_json(text, wants_json),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        latency_ms=int((time.monotonic() - started) * 1000),
        cost=cost_of(provider, model, input_tokens, output_tokens),
        raw=body,
        model=body.get("model") or model,
        finish_reason=choice.get("finish_reason"),
        tool_calls=list(message.get("tool_calls") or []),
        attempts=attempts,
        rate_budgets=budgets,
    )


def _max_retries(provider, max_retries):
    return provider.max_retries if max_retries is None else max_retries


def _timeout(provider, timeout):
    return timeout if timeout is not None else (provider.timeout_seconds or DEFAULT_TIMEOUT)


CHAT_PATH = "/chat/completions"


class _ChatCall:
    """What `complete()` and `acomplete()` share: the request, retry decisions, the result.

    The request goes through the SDK's own HTTP client (`client.post`: auth headers,
    timeouts, its error classes), with the body as plain JSON and the answer returned as
    the HTTP response (its body read, its rate-limit headers kept). `chat.completions.create()` would first walk the request through the SDK's
    typed-dict transform and then build pydantic models of the answer: ~0.4 ms of CPU per
    call (1.7 -> 1.3 ms per call measured against demo-echo), which matters at hundreds of
    calls per second on one event loop. The wire format is the same either way.
    """

    def __init__(
        self,
        provider,
        *,
        settings: ModelSettings,
        messages: list[dict],
        timeout: float | None,
        max_retries: int | None,
        on_rate_limit: Callable[[GatewayError], Any] | None,
    ):
        self.provider = provider
        self.model = settings.model
        self.wants_json = settings.wants_json
        self.timeout = _timeout(provider, timeout)
        self.body = settings.request_body(messages)
        self.options = {"timeout": self.timeout}
        self.retries = _max_retries(provider, max_retries)
        self.on_rate_limit = on_rate_limit
        self.started = time.monotonic()
        self.attempt = 0

    def failed(self, exc: Exception) -> tuple[GatewayError, float | None, Any]:
        """Classify a failed attempt: (error, wait before the next attempt or None to give
        up, what `on_rate_limit` returned, maybe an awaitable). Unknown exceptions raise."""
        error = classify(exc, self.provider, self.timeout)
        notified = None
        if error.kind == RATE_LIMIT and self.on_rate_limit is not None:
            notified = self.on_rate_limit(error)
        if _give_up(error, self.attempt, self.retries):
            return error, None, notified
        return error, backoff_delay(self.attempt, error.retry_after), notified

    def result(self, response) -> Completion:
        """The Completion of an answer (an HTTP response whose body has been read)."""
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise GatewayError(
                BAD_REQUEST,
                f"{self.provider.name} answered with something that is not a chat completion.",
            )
        return _completion(
            self.provider,
            self.model,
            body,
            self.started,
            self.wants_json,
            self.attempt,
            rate_budgets(response.headers),
        )


# --- the calls ------------------------------------------------------------------------


def complete(
    provider,
    *,
    settings: ModelSettings,
    messages: list[dict],
    timeout: float | None = None,
    max_retries: int | None = None,
    on_rate_limit: Callable[[GatewayError], Any] | None = None,
) -> Completion:
    """One chat completion, retried on 429/5xx/connection errors. Raises GatewayError."""
    call = _ChatCall(
        provider,
        settings=settings,
        messages=messages,
        timeout=timeout,
        max_retries=max_retries,
        on_rate_limit=on_rate_limit,
    )
    while True:
        call.attempt += 1
        try:
            response = _client(provider).post(
                CHAT_PATH, cast_to=transport.httpx_.Response, body=call.body, options=call.options
            )
        except Exception as exc:  # noqa: BLE001 - classified by failed(), unknown ones re-raised
            error, delay, _ = call.failed(exc)
            if delay is None:
                raise error from None
            _sleep(delay)
            continue
        return call.result(response)


async def acomplete(
    provider,
    *,
    settings: ModelSettings,
    messages: list[dict],
    timeout: float | None = None,
    max_retries: int | None = None,
    on_rate_limit: Callable[[GatewayError], Any] | None = None,
) -> Completion:
    """`complete()` for asyncio. `on_rate_limit` may be a plain function or a coroutine."""
    call = _ChatCall(
        provider,
        settings=settings,
        messages=messages,
        timeout=timeout,
        max_retries=max_retries,
        on_rate_limit=on_rate_limit,
    )
    while True:
        call.attempt += 1
        try:
            client = _client(provider, asynchronous=True)
            response = await client.post(
                CHAT_PATH, cast_to=transport.httpx_.Response, body=call.body, options=call.options
            )
        except Exception as exc:  # noqa: BLE001
            error, delay, notified = call.failed(exc)
            if inspect.isawaitable(notified):
                await notified
            if delay is None:
                raise error from None
            await _asleep(delay)
            continue
        return call.result(response)


def stream(
    provider,
    *,
    settings: ModelSettings,
    messages: list[dict],
    timeout: float | None = None,
    max_retries: int | None = None,
    on_rate_limit: Callable[[GatewayError], Any] | None = None,
) -> Iterator[str | Completion]:
    """Yield text chunks as they arrive, then one final Completion.

    Retries happen only before the first chunk: once text has been shown it is not redone.
    """
    call = _ChatCall(
        provider,
        settings=settings,
        messages=messages,
        timeout=timeout,
        max_retries=max_retries,
        on_rate_limit=on_rate_limit,
    )
    timeout, started = call.timeout, call.started
    kwargs = {
        **call.body,
        "timeout": timeout,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    while True:
        call.attempt += 1
        try:
            response_stream = _client(provider).chat.completions.create(**kwargs)
            break
        except Exception as exc:  # noqa: BLE001
            error, delay, _ = call.failed(exc)
            if (
                error.kind == BAD_REQUEST
                and "stream_options" in kwargs
                and "stream_options" in error.message
            ):
                # Some compatible servers refuse stream_options: stream without usage.
                del kwargs["stream_options"]
                call.attempt -= 1
                continue
            if delay is None:
                raise error from None
            _sleep(delay)

    parts: list[str] = []
    usage = None
    finish_reason = None
    model = response_model = settings.model
    ident = None
    chunks = 0
    tool_calls: dict[int, dict] = {}
    try:
        with response_stream:
            for chunk in response_stream:
                chunks += 1
                ident = ident or chunk.id
                response_model = chunk.model or response_model
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices or []:
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
                    delta = choice.delta
                    if delta is None:
                        continue
                    # Not `call`: that name is the request, read again for `attempts` below.
                    for tool_call in delta.tool_calls or []:
                        entry = tool_calls.setdefault(
                            tool_call.index,
                            {
                                "id": None,
                                "type": "function",
                                "function": {"name": "", "arguments": ""},
                            },
                        )
                        entry["id"] = tool_call.id or entry["id"]
                        if tool_call.function is not None:
                            entry["function"]["name"] += tool_call.function.name or ""
                            entry["function"]["arguments"] += tool_call.function.arguments or ""
                    if delta.content:
                        parts.append(delta.content)
                        yield delta.content
    except Exception as exc:  # noqa: BLE001
        raise classify(exc, provider, timeout) from None

    text = "".join(parts)
    input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    yield Completion(
        text=text,
        parsed_json=_parse_json(text, settings.wants_json),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        latency_ms=int((time.monotonic() - started) * 1000),
        cost=cost_of(provider, model, input_tokens, output_tokens),
        raw={
            "id": ident,
            "object": "chat.completion.stream",
            "model": response_model,
            "chunks": chunks,
            "finish_reason": finish_reason,
            "usage": usage.model_dump() if usage is not None else None,
            "tool_calls": list(tool_calls.values()),
        },
        model=response_model,
        finish_reason=finish_reason,
        tool_calls=list(tool_calls.values()),
        attempts=call.attempt,
        rate_budgets=rate_budgets(
            getattr(getattr(response_stream, "response", None), "headers", {})
        ),
    )


def list_models(provider, *, timeout: float | None = None) -> list[str]:
    """Model ids from the provider's /v1/models. Raises GatewayError."""
    timeout = timeout if timeout is not None else min(_timeout(provider, None), 15.0)
    try:
        page = _client(provider).models.list(timeout=timeout)
        return sorted({m.id for m in page.data})
    except Exception as exc:  # noqa: BLE001
        raise classify(exc, provider, timeout) from None
