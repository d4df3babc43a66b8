"""demo-echo: a small OpenAI-compatible HTTP server that answers deterministically.

It is a test double at the network boundary, not a language model. It serves
`GET /v1/models` and `POST /v1/chat/completions` (with and without `stream`) in
OpenAI's wire format, so the real `openai` SDK talks to it over real HTTP.

Answer rules (same request, same answer):
- The reply is "echo: " followed by the text of the last `user` message (the last
  message of any role when there is no user message; parts of a list content are joined),
  unless the instructions ask for something below.
- `response_format={"type": "json_object"}` -> `{"echo": "<last user message>"}`.
- `response_format={"type": "json_schema", "json_schema": {"schema": ...}}` -> a
  deterministic object satisfying the schema: strings are the last user message (cut or
  padded to minLength/maxLength), enums and consts take their first value, numbers their
  minimum (else 0), booleans true, arrays max(minItems, 1) items (capped by maxItems),
  objects every property; anyOf/oneOf take the first branch, local `$ref`s are followed.
- `stop` strings cut the reply at the first occurrence; `max_tokens` keeps that many
  words and reports finish_reason "length".
- Usage tokens are whitespace word counts: prompt = all message contents, completion = reply.
- Streaming sends the reply word by word as `chat.completion.chunk` server-sent events, a
  final chunk with finish_reason, a usage chunk when `stream_options.include_usage` is
  true, then `data: [DONE]`.
- Any model name is accepted and echoed back; `/v1/models` lists `demo-echo`.

Instructions (opt-in, so different prompt versions score differently; the rules are in
apps/llm/demo_instructions.py). The instructions are the system and developer messages;
with none (a text prompt, sent as one user message) the user message itself, whose input is
then what follows its last blank line, a leading label like `Message:` dropped. When a
phrase below appears in the instructions (any case), the reply is built from the input, with
no "echo: " prefix, applying the rules in this order:
1. few-shot: two or more example pairs in the instructions, lines `A: text` then `B: text`
   with the same two labels (Input/Output, Q/A, Ticket/Category...). When every example's
   output contains its input, the first example's pattern is applied to the input (the
   last `A:` line of the input, when it has one); otherwise the reply is the output of the
   example sharing the most words with the input (the first on a tie).
2. "never mention X" / "do not mention X" (a word or a "quoted phrase"): sentences
   containing X are dropped.
3. "one sentence" / "a single sentence" / "at most N sentences": the first N sentences.
4. "be brief" / "keep it brief" / "keep it short": the first 12 words; "at most N words":
   the first N; a cut reply ends with "…".
5. "mention the order status" (or include/state/give/say): appends "Your order status: X."
   when the user message carries one (`Order status: X` or `"order_status": "X"`).
6. "thank the customer" (or the user, them): prepends "Thank you for reaching out."
7. "address the customer as NAME": prepends "Hi NAME,".
8. 'start with "X"' / 'begin with "X"' prepends X; 'end with "X"' / 'sign off with "X"'
   appends X.
9. "bullet points" / "bulleted list" / "as bullets": one "- " line per sentence.
10. "uppercase" / "all caps" / "in capitals": upper case; "lowercase": lower case.
11. "in JSON" / "as JSON" / "with JSON" / "JSON object": `{"answer": "<reply>"}`.
Reflection (a test-server stand-in for an optimizer's reflection model, see
apps/llm/demo_reflection.py): a last user message containing "new instructions within ```
blocks" (GEPA's reflection prompt) is answered by fixed rules: each feedback line `expected
<field> "<value>"` adds "Always include the <field> word for word." to the instructions in
its first ``` block, each `missing literal "<text>"` adds 'End with "<text>".'; the reply is a
line saying what changed and why, then the new instructions in a ``` block.
Refine assistant (test-server behaviour, apps/llm/demo_refine.py): a system message naming
the "refine assistant" and a user message with the current template in a ```template block
and a `Request:` line get a deterministic proposal (the request appended to the template as
a sentence, in a ```template block) or, for a question, an explanation with no edit.
A `response_format` answer (above) ignores the instructions; `stop` and `max_tokens` apply
to the built reply as to the echo.

Faults (for testing retries and error handling), chosen per chat request:
- `script`: a list of outcomes for the first requests, in order ("ok", "429", "500",
  "timeout"); after it is used up, the rates apply.
- `rate_429`, `rate_500`, `rate_timeout`: shares of requests that fail that way, drawn
  from `random.Random(seed)` in request order, so a run with the same seed and request
  order fails the same requests. 429s carry `Retry-After` (whole seconds, rounded up) and
  `retry-after-ms` headers from `retry_after`; a timeout sleeps `timeout_sleep` seconds
  (past any sensible client timeout) before answering.
- `latency_ms` delays every chat answer; `chunk_delay_ms` spaces streamed chunks.

A rate limit (off by default), as providers enforce one: token buckets of `limit_rps`
requests per second (holding up to `limit_burst`, default one second's worth) and
`limit_tpm` tokens per minute (prompt and completion words, holding a minute's worth). A
chat request that finds either bucket short is answered at once with 429, `Retry-After`
(whole seconds, rounded up) and `retry-after-ms` saying when the buckets will hold it, and
is not counted against the limit; the random faults apply to the requests let through.
While a limit is active, every chat answer (200, 429 and 500 alike, streams included)
carries OpenAI's rate-limit headers, computed as the answer is sent, so a client can pace
itself before the buckets run dry: `x-ratelimit-limit-requests` (the requests bucket's
size), `x-ratelimit-remaining-requests` (whole requests left in it, this one taken) and
`x-ratelimit-reset-requests` (how long until it is full again, a Go-style duration as
OpenAI writes it: `0s`, `120ms`, `1s`, `1.5s`, `6m0s`), and the same three with `-tokens`
when `limit_tpm` is set. Without a limit no such header is sent.
`GET /v1/stats` says how many chat requests came and how each was answered ("ok", "429",
"500", "timeout", "limited").
- `api_key`: when set, requests without `Authorization: Bearer <api_key>` get 401.

Run it with `manage.py demo_echo --port 8765`, or in-process with `start_demo_echo()`.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from apps.llm import demo_instructions, demo_refine, demo_reflection

MODEL_NAME = "demo-echo"
PREFIX = "echo: "
OUTCOMES = ("ok", "429", "500", "timeout")
RECEIVED_KEPT = 100  # chat request bodies kept in DemoEchoServer.received


@dataclass
class DemoEchoOptions:
    latency_ms: int = 0
    chunk_delay_ms: int = 0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    retry_after: float = 1.0
    timeout_sleep: float = 120.0
    seed: int = 0
    api_key: str | None = None
    script: list[str] = field(default_factory=list)
    limit_rps: float = 0.0  # requests per second; 0: no limit
    limit_burst: float | None = None  # requests the bucket holds; default limit_rps (1 s)
    limit_tpm: float = 0.0  # tokens per minute; 0: no limit

    def __post_init__(self):
        for name in ("limit_rps", "limit_tpm"):
            if float(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be 0 (no limit) or more")
        if self.limit_burst is not None and self.limit_burst < 1:
            raise ValueError("limit_burst must be at least 1")
        for name in ("rate_429", "rate_500", "rate_timeout"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
            setattr(self, name, value)
        if self.rate_429 + self.rate_500 + self.rate_timeout > 1.0:
            raise ValueError("the fault rates add up to more than 1")
        unknown = [s for s in self.script if s not in OUTCOMES]
        if unknown:
            raise ValueError(f"unknown scripted outcome {unknown[0]!r}; use {OUTCOMES}")


# --- answer rules -------------------------------------------------------------------


def _content_text(content) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return " ".join(parts)
    return str(content)


def last_user_text(messages: list) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    for message in reversed(messages):
        if isinstance(message, dict):
            return _content_text(message.get("content"))
    return ""


def instructions_of(messages: list) -> tuple[str, bool]:
    """(the instructions, whether they are a text prompt's single user message): the system
    and developer messages, else the last user message."""
    system = [
        _content_text(m.get("content"))
        for m in messages
        if isinstance(m, dict) and m.get("role") in ("system", "developer")
    ]
    if system:
        return "\n\n".join(system), False
    return last_user_text(messages), True


def word_count(text: str) -> int:
    return len(text.split())


def _resolve_ref(ref: str, root: dict) -> dict:
    if not ref.startswith("#/"):
        return {}
    node = root
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node if isinstance(node, dict) else {}


def value_for_schema(schema, text: str, root: dict | None = None, depth: int = 0):
    """A deterministic value satisfying (the common subset of) a JSON schema."""
    root = root if root is not None else (schema if isinstance(schema, dict) else {})
    if not isinstance(schema, dict) or depth > 12:
        return None
    if "$ref" in schema:
        return value_for_schema(_resolve_ref(schema["$ref"], root), text, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return value_for_schema(schema[key][0], text, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: value_for_schema(sub, text, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 0)), 1)
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        return [value_for_schema(schema.get("items", {}), text, root, depth + 1)] * count
    if kind in ("number", "integer"):
        value: Any = schema.get("minimum", schema.get("exclusiveMinimum", 0))  # any JSON value
        if "exclusiveMinimum" in schema and "minimum" not in schema:
            value = value + 1
        if "maximum" in schema and value > schema["maximum"]:
            value = schema["maximum"]
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    value = text
    if "maxLength" in schema:
        value = value[: int(schema["maxLength"])]
    if "minLength" in schema and len(value) < int(schema["minLength"]):
        value = value + "x" * (int(schema["minLength"]) - len(value))
    return value


def answer(body: dict) -> tuple[str, str]:
    """(reply text, finish_reason) for a chat request body, by the documented rules."""
    messages = body.get("messages") or []
    said = last_user_text(messages)
    response_format = body.get("response_format") or {}
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_object":
        return json.dumps({"echo": said}), "stop"
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return json.dumps(value_for_schema(schema or {"type": "object"}, said)), "stop"
    instructions, text_prompt = instructions_of(messages)
    refined = None if text_prompt else demo_refine.propose(instructions, said)
    if refined is not None:  # the refine assistant's test-server rule (demo_refine.py)
        text = refined
    elif demo_reflection.is_reflection_request(said):
        text = demo_reflection.propose(said)
    else:
        followed = demo_instructions.follow(instructions, said, text_prompt=text_prompt)
        text = PREFIX + said if followed is None else followed
    stop = body.get("stop")
    for marker in [stop] if isinstance(stop, str) else stop or []:
        if marker and marker in text:
            text = text[: text.index(marker)]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and limit >= 0 and word_count(text) > limit:
        return " ".join(text.split()[:limit]), "length"
    return text, "stop"


def prompt_tokens(body: dict) -> int:
    return sum(
        word_count(_content_text(m.get("content")))
        for m in body.get("messages") or []
        if isinstance(m, dict)
    )


def _pieces(text: str) -> list[str]:
    """Word-sized stream pieces that join back to exactly `text`."""
    pieces, current = [], ""
    for char in text:
        if char.isspace() and current and not current[-1].isspace():
            pieces.append(current)
            current = ""
        current += char
    if current:
        pieces.append(current)
    return pieces


# --- rate limit ---------------------------------------------------------------------


class TokenBucket:
    """`rate` tokens a second, holding at most `capacity` (it starts full)."""

    def __init__(self, rate: float, capacity: float, clock=time.monotonic):
        self.rate = float(rate)
        self.capacity = max(1.0, float(capacity))
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` tokens are there (0: now); refills first. A request
        larger than the bucket waits for a full bucket."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        amount = min(amount, self.capacity)
        return 0.0 if self.tokens >= amount else (amount - self.tokens) / self.rate

    def take(self, amount: float) -> None:
        self.tokens -= min(amount, self.capacity)

    def level(self) -> float:
        """The tokens in the bucket now (refilled first)."""
        self.wait_for(0)
        return self.tokens

    def headers(self, kind: str) -> dict[str, str]:
        """OpenAI's three rate-limit headers for this bucket (`kind`: requests or tokens):
        its size, the whole tokens left, the time until it is full again."""
        level = self.level()
        return {
            f"x-ratelimit-limit-{kind}": str(int(self.capacity)),
            f"x-ratelimit-remaining-{kind}": str(max(0, math.floor(level))),
            f"x-ratelimit-reset-{kind}": go_duration((self.capacity - level) / self.rate),
        }


def go_duration(seconds: float) -> str:
    """A duration as Go prints one and OpenAI sends it, to the millisecond (rounded up):
    `0s`, `120ms`, `1s`, `1.5s`, `1m30.25s`, `6m0s`, `1h0m0s`."""
    ms = max(0, math.ceil(seconds * 1000 - 1e-6))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, frac = divmod(rest, 1000)
    text = f"{whole}.{frac:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


class RateLimit:
    """The requests-per-second and tokens-per-minute buckets of one server."""

    def __init__(self, options: DemoEchoOptions, clock=time.monotonic):
        self.requests = None
        self.tokens = None
        if options.limit_rps:
            burst = options.limit_burst or options.limit_rps
            self.requests = TokenBucket(options.limit_rps, burst, clock)
        if options.limit_tpm:
            self.tokens = TokenBucket(options.limit_tpm / 60.0, options.limit_tpm, clock)
        self._lock = threading.Lock()
        self.limited = 0  # requests answered 429 by the limit
        self.admitted = 0

    @property
    def active(self) -> bool:
        return self.requests is not None or self.tokens is not None

    def admit(self, tokens: int) -> float:
        """0 if the request may go (its share is taken), else seconds to wait."""
        with self._lock:
            wait = 0.0
            if self.requests is not None:
                wait = max(wait, self.requests.wait_for(1))
            if self.tokens is not None:
                wait = max(wait, self.tokens.wait_for(tokens))
            if wait > 0:
                self.limited += 1
                return wait
            if self.requests is not None:
                self.requests.take(1)
            if self.tokens is not None:
                self.tokens.take(tokens)
            self.admitted += 1
            return 0.0

    def headers(self) -> dict[str, str]:
        """The rate-limit headers of an answer sent now ({} without a limit)."""
        with self._lock:
            headers: dict[str, str] = {}
            if self.requests is not None:
                headers.update(self.requests.headers("requests"))
            if self.tokens is not None:
                headers.update(self.tokens.headers("tokens"))
            return headers


# --- server -------------------------------------------------------------------------


class DemoEchoServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, options: DemoEchoOptions):
        self.options = options
        self._lock = threading.Lock()
        self._rng = random.Random(options.seed)
        self._script = list(options.script)
        self.rate_limit = RateLimit(options)
        self.chat_requests = 0
        self.outcomes: list[str] = []  # one per chat request, in order
        # The bodies of the latest chat requests, as received: tests check what was sent.
        self.received: deque[dict] = deque(maxlen=RECEIVED_KEPT)
        self.stopping = threading.Event()
        super().__init__(address, DemoEchoHandler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        assert isinstance(host, str), "an AF_INET/AF_INET6 server's host is text"
        return f"http://{host}:{port}/v1"

    def next_outcome(self) -> str:
        with self._lock:
            self.chat_requests += 1
            if self._script:
                outcome = self._script.pop(0)
            else:
                draw = self._rng.random()
                o = self.options
                if draw < o.rate_429:
                    outcome = "429"
                elif draw < o.rate_429 + o.rate_500:
                    outcome = "500"
                elif draw < o.rate_429 + o.rate_500 + o.rate_timeout:
                    outcome = "timeout"
                else:
                    outcome = "ok"
            self.outcomes.append(outcome)
            return outcome

    def stats(self) -> dict:
        """What `GET /v1/stats` answers: chat requests so far and how each was answered."""
        with self._lock:
            counts: dict[str, int] = {}
            for outcome in self.outcomes:
                counts[outcome] = counts.get(outcome, 0) + 1
            return {"chat_requests": self.chat_requests, "outcomes": counts}

    def record_limited(self) -> None:
        """A chat request the rate limit answered (no fault was drawn for it)."""
        with self._lock:
            self.chat_requests += 1
            self.outcomes.append("limited")

    def script(self, *outcomes: str) -> None:
        """Queue outcomes for the next chat requests (tests)."""
        unknown = [s for s in outcomes if s not in OUTCOMES]
        if unknown:
            raise ValueError(f"unknown outcome {unknown[0]!r}")
        with self._lock:
            self._script.extend(outcomes)

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


class DemoEchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "demo-echo/1.0"
    # Headers and body go out in two sends; with Nagle on, a keep-alive client's delayed
    # ACK holds the second ~40 ms, which would add to every configured latency.
    disable_nagle_algorithm = True
    server: DemoEchoServer

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        pass  # quiet: tests and benchmarks drive thousands of requests

    # -- helpers --

    # Set by do_POST once a request is a chat request: its answer carries the rate-limit
    # headers (computed as it is sent), whatever its status.
    _chat = False

    def _limit_headers(self) -> None:
        limit = self.server.rate_limit
        if self._chat and limit.active:
            for name, value in limit.headers().items():
                self.send_header(name, value)

    def _send_json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self._limit_headers()
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str, code: str | None = None, headers=None):
        self._send_json(
            status,
            {"error": {"message": message, "type": kind, "param": None, "code": code}},
            headers,
        )

    def _too_many(self, wait: float, message: str) -> None:
        self._error(
            429,
            message,
            "rate_limit_exceeded",
            "rate_limit_exceeded",
            headers={
                "Retry-After": str(math.ceil(wait)),
                "retry-after-ms": str(math.ceil(wait * 1000)),
            },
        )

    def _authorized(self) -> bool:
        expected = self.server.options.api_key
        if not expected:
            return True
        return self.headers.get("Authorization", "") == f"Bearer {expected}"

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # -- routes --

    def do_GET(self):  # noqa: N802 - the stdlib's name
        self._chat = False  # one handler serves every request of a keep-alive connection
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            if not self._authorized():
                return self._error(401, "Incorrect API key provided.", "invalid_request_error")
            return self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": MODEL_NAME,
                            "object": "model",
                            "created": 0,
                            "owned_by": "promptyard",
                        }
                    ],
                },
            )
        if path in ("/stats", "/v1/stats"):
            return self._send_json(200, self.server.stats())
        if path in ("", "/health", "/v1"):
            return self._send_json(200, {"name": MODEL_NAME, "status": "ok"})
        return self._error(404, f"Unknown path {path}", "invalid_request_error", "not_found")

    def do_POST(self):  # noqa: N802 - the stdlib's name
        self._chat = False  # one handler serves every request of a keep-alive connection
        path = self.path.split("?", 1)[0].rstrip("/")
        body = self._read_body()
        if path not in ("/v1/chat/completions", "/chat/completions"):
            return self._error(404, f"Unknown path {path}", "invalid_request_error", "not_found")
        if not self._authorized():
            return self._error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        if body is None:
            return self._error(
                400, "The request body is not a JSON object.", "invalid_request_error"
            )
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return self._error(400, "'messages' must be a non-empty list.", "invalid_request_error")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self._error(400, "'model' is required.", "invalid_request_error")

        self.server.received.append(body)
        self._chat = True
        options = self.server.options
        text, finish_reason = answer(body)
        usage = {
            "prompt_tokens": prompt_tokens(body),
            "completion_tokens": word_count(text),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        limit = self.server.rate_limit
        if limit.active:
            wait = limit.admit(usage["total_tokens"])
            if wait > 0:
                self.server.record_limited()
                return self._too_many(
                    wait,
                    "Rate limit reached for demo-echo: "
                    f"{options.limit_rps:g} requests/s, {options.limit_tpm:g} tokens/min.",
                )
        outcome = self.server.next_outcome()
        if options.latency_ms:
            time.sleep(options.latency_ms / 1000)
        if outcome == "429":
            return self._too_many(
                max(float(options.retry_after), 0.0),
                "Rate limit reached for demo-echo (injected fault).",
            )
        if outcome == "500":
            return self._error(500, "demo-echo injected a server error.", "server_error")
        if outcome == "timeout":
            self.server.stopping.wait(options.timeout_sleep)

        ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        model = body["model"]
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return self._stream(ident, created, model, text, finish_reason, usage, include_usage)
        self._send_json(
            200,
            {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": "demo-echo",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": usage,
            },
        )

    def _stream(self, ident, created, model, text, finish_reason, usage, include_usage):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self._limit_headers()
        self.end_headers()
        delay = self.server.options.chunk_delay_ms / 1000

        def chunk(delta: dict, finish=None, with_usage=None, choices=True) -> dict:
            payload = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "demo-echo",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
                if choices
                else [],
            }
            if include_usage:
                payload["usage"] = with_usage
            return payload

        def send(payload) -> None:
            self._write_chunk(f"data: {json.dumps(payload)}\n\n".encode())

        try:
            send(chunk({"role": "assistant", "content": ""}))
            for piece in _pieces(text):
                if delay:
                    time.sleep(delay)
                send(chunk({"content": piece}))
            send(chunk({}, finish=finish_reason))
            if include_usage:
                send(chunk({}, with_usage=usage, choices=False))
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def start_demo_echo(port: int = 0, host: str = "127.0.0.1", **options):
    """Start demo-echo in a daemon thread: returns (server, base_url). Stop with server.stop()."""
    server = DemoEchoServer((host, port), DemoEchoOptions(**options))
    thread = threading.Thread(target=server.serve_forever, name="demo-echo", daemon=True)
    thread.start()
    return server, server.base_url
