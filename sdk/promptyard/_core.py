"""What the sync and async clients share: configuration, the memory and disk caches, and
how a server answer is judged. The transports (httpx.Client / httpx.AsyncClient) differ.

The rule the clients follow: a call raises only when there is nothing to serve. A cached
copy (memory, then disk) or the caller's fallback is returned when the server is down,
slow, answers 5xx/408/429, or sends a body that is not a prompt.

A 429 or 503 with Retry-After is retried after that many seconds when it is at most
`max_retry_wait` (waiting longer would hold the caller up: the copy in hand or the
fallback is served instead, and no refresh is tried before the server asked); without
it, after exponential backoff with jitter. At most `max_retries` retries either way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import httpx

from promptyard._calls import Operations
from promptyard._endpoints import ENDPOINTS
from promptyard.errors import (
    AuthenticationError,
    ConfigurationError,
    FetchError,
    PromptNotFound,
    PromptyardError,
    ScoreRejected,
)
from promptyard.prompt import Prompt

logger = logging.getLogger("promptyard")

__version__ = "0.1.0"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TAG = "production"
DEFAULT_TIMEOUT = 2.0
# The API calls of the client's areas (uploads, experiments) may take longer than a fetch.
DEFAULT_API_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_BACKOFF = 0.2
# The longest Retry-After a fetch waits out before retrying (seconds).
DEFAULT_MAX_RETRY_WAIT = 5.0
# After a failed refresh, wait this long (at most) before trying the server again.
FAILED_REFRESH_PAUSE = 5.0
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}

Key = tuple[str, str | None, int | None]  # (name, tag, version)


@dataclass
class Entry:
    prompt: Prompt
    etag: str | None
    fetched_at: float  # time.monotonic() of the last answer from the server (0: never)
    retry_at: float = 0.0  # no refresh before this (after failures)

    def fresh(self, key: Key, ttl: float, now: float) -> bool:
        if key[2] is not None and self.prompt.source in ("server", "disk"):
            return True  # a pinned version never changes
        return self.fetched_at > 0 and now - self.fetched_at < ttl


class _Retryable(FetchError):
    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message, status=status)
        self.retry_after = retry_after


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The Retry-After of a 429 or 503 in seconds (delta-seconds or an HTTP date)."""
    value = response.headers.get("retry-after")
    if response.status_code not in (429, 503) or not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, OverflowError):
        return None
    return max(0.0, when - time.time())


def pause_after(exc: BaseException | None) -> float:
    """How long to leave the server alone after a failure (at least its Retry-After)."""
    return max(FAILED_REFRESH_PAUSE, getattr(exc, "retry_after", None) or 0.0)


class ClientCore:
    """Configuration, caches and answer parsing; no I/O except the disk cache."""

    max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        cache_dir: str | os.PathLike[str] | None = None,
        default_cache_ttl: float = 60.0,
        api_timeout: float = DEFAULT_API_TIMEOUT,
    ):
        self.api_key = api_key or os.environ.get("PROMPTYARD_API_KEY") or ""
        if not self.api_key:
            raise ConfigurationError(
                "No API key: pass api_key=... or set PROMPTYARD_API_KEY (a pyd_… key with prompts:read)."
            )
        base = (base_url or os.environ.get("PROMPTYARD_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        if base.endswith("/api/v1"):
            base = base[: -len("/api/v1")]
        self.base_url = base
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.backoff = backoff
        self.default_cache_ttl = default_cache_ttl
        self.api_timeout = api_timeout
        self._ops = Operations(self.base_url)
        cache_dir = cache_dir or os.environ.get("PROMPTYARD_CACHE_DIR") or None
        self._disk: Path | None = None
        if cache_dir:
            # One subdirectory per (server, key): two teams never read each other's copies.
            ns = hashlib.sha256(f"{self.base_url}\n{self.api_key}".encode()).hexdigest()[:16]
            self._disk = Path(cache_dir) / ns
        self._entries: dict[Key, Entry] = {}
        self._snapshot_etags: dict[str, str] = {}
        self._lock = threading.Lock()
        self._refreshing: set[Key] = set()

    # --- HTTP pieces ---------------------------------------------------------------

    @property
    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/json",
            "User-Agent": f"promptyard-python/{__version__}",
        }

    @property
    def _api_headers(self) -> dict[str, str]:
        return self._headers

    # The fetch and score paths come from the endpoint table too (the schema test's).
    def _prompt_url(self, name: str) -> str:
        path = ENDPOINTS["prompts.serve"].path.format(prompt_name=quote(name, safe=""))
        return self.base_url + path

    @property
    def _snapshot_url(self) -> str:
        return self.base_url + ENDPOINTS["prompts.snapshot"].path

    @property
    def _scores_url(self) -> str:
        return self.base_url + ENDPOINTS["scores.create"].path

    @staticmethod
    def _score_body(
        *,
        trace_id: str,
        name: str,
        value: bool | int | float | str,
        span_id: str | None = None,
        comment: str | None = None,
        author: str | None = None,
        score_id: str | None = None,
    ) -> dict[str, Any]:
        """The body of one score. Without an id one is made here, so a retry after a lost
        answer updates the same score instead of adding a second."""
        body: dict[str, Any] = {
            "id": score_id or uuid.uuid4().hex,
            "trace_id": trace_id,
            "name": name,
            "value": value,
            "source": "sdk",
        }
        if span_id:
            body["span_id"] = span_id
        if comment:
            body["comment"] = comment
        if author:
            body["author"] = author
        return body

    @staticmethod
    def _score_answer(response: httpx.Response) -> dict[str, Any]:
        """The stored score, or raise: a refusal is final, a 5xx or 429 is retried."""
        status = response.status_code
        if status in (200, 201):
            try:
                body: dict[str, Any] = response.json()
            except ValueError:
                raise _Retryable("server sent a body that is not JSON", status=status) from None
            return body
        if status in (401, 403):
            raise AuthenticationError(_detail(response), status=status)
        if status in (400, 404, 409):
            field = None
            try:
                errors = response.json().get("errors") or {}
                field = next(iter(errors), None)
            except (ValueError, AttributeError):
                pass
            raise ScoreRejected(_detail(response), status=status, field=field)
        if status in RETRYABLE_STATUS or status >= 500:
            after = retry_after_seconds(response)
            raise _Retryable(f"server answered {status}", status=status, retry_after=after)
        raise FetchError(f"unexpected answer {status}: {_detail(response)}", status=status)

    @staticmethod
    def _prompt_params(tag: str | None, version: int | None) -> dict[str, str | None]:
        return {"version": str(version)} if version is not None else {"tag": tag}

    def _sleep_before_retry(self, attempt: int) -> float:
        """Exponential backoff with jitter: 0.2 s, 0.4 s, 0.8 s … (± half)."""
        base: float = self.backoff * (2**attempt)
        return base * (0.5 + random.random())

    def _retry_delay(self, attempt: int, exc: BaseException) -> float | None:
        """Seconds to wait before retrying after failed attempt `attempt` (0-based), or
        None to stop: no retries left, or a Retry-After longer than max_retry_wait."""
        if attempt >= self.max_retries:
            return None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return after if after <= self.max_retry_wait else None
        return self._sleep_before_retry(attempt)

    @staticmethod
    def _judge(response: httpx.Response) -> tuple[bool, Any, str | None]:
        """(not_modified, body, etag) for a usable answer; raises otherwise."""
        status = response.status_code
        if status == 304:
            return True, None, response.headers.get("etag")
        if status in (401, 403):
            raise AuthenticationError(_detail(response), status=status)
        if status == 404:
            raise PromptNotFound(_detail(response), status=status)
        if status in RETRYABLE_STATUS or status >= 500:
            after = retry_after_seconds(response)
            raise _Retryable(
                f"server answered {status}" + (f" (retry after {after:g} s)" if after else ""),
                status=status,
                retry_after=after,
            )
        if status != 200:
            raise FetchError(f"unexpected answer {status}: {_detail(response)}", status=status)
        try:
            body = response.json()
        except ValueError:
            raise _Retryable("server sent a body that is not JSON", status=status) from None
        return False, body, response.headers.get("etag")

    @staticmethod
    def _is_retryable(exc: BaseException) -> bool:
        return isinstance(exc, (_Retryable, httpx.TransportError, httpx.DecodingError))

    @staticmethod
    def _as_fetch_error(exc: BaseException) -> FetchError:
        if isinstance(exc, FetchError):
            return exc
        if isinstance(exc, httpx.TimeoutException):
            return FetchError(f"timed out: {exc}")
        if isinstance(exc, httpx.HTTPError):
            return FetchError(f"could not reach the server: {exc}")
        return FetchError(f"unusable answer: {exc}")

    # --- memory cache --------------------------------------------------------------

    @staticmethod
    def _key(name: str, tag: str | None, version: int | None) -> Key:
        if version is not None:
            return (name, None, int(version))
        return (name, tag or DEFAULT_TAG, None)

    def _cached(self, key: Key) -> Entry | None:
        with self._lock:
            return self._entries.get(key)

    def _store(self, key: Key, prompt: Prompt, etag: str | None, *, persist: bool = True) -> Entry:
        entry = Entry(prompt=prompt, etag=etag, fetched_at=time.monotonic())
        with self._lock:
            self._entries[key] = entry
        if persist and prompt.source == "server":
            self._disk_write(key, prompt, etag)
        return entry

    def _touch(self, key: Key) -> None:
        """The server confirmed the cached copy (304)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.fetched_at = time.monotonic()
                entry.retry_at = 0.0

    def _note_failure(self, key: Key, exc: BaseException | None = None) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.retry_at = time.monotonic() + pause_after(exc)

    def _claim_refresh(self, key: Key) -> bool:
        """True for the one caller that should refresh this key now."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if key in self._refreshing or (entry is not None and now < entry.retry_at):
                return False
            self._refreshing.add(key)
            return True

    def _release_refresh(self, key: Key) -> None:
        with self._lock:
            self._refreshing.discard(key)

    @staticmethod
    def _served(entry: Entry, *, stale: bool) -> Prompt:
        source = entry.prompt.source if entry.prompt.source != "server" else "cache"
        return replace(entry.prompt, source=source, stale=stale)

    def _parse_prompt(self, body: Any, *, tag: str | None) -> Prompt:
        try:
            prompt = Prompt.from_dict(body)
        except (ValueError, TypeError) as exc:
            raise _Retryable(f"server sent something that is not a prompt ({exc})") from None
        if prompt.tag is None and tag is not None:
            prompt = replace(prompt, tag=tag)
        return prompt

    def _check_snapshot(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("prompts"), list):
            raise _Retryable("server sent something that is not a snapshot")
        for item in body["prompts"]:
            self._parse_prompt(item, tag=None)
        return body

    def _apply_snapshot(self, tag: str, body: Any, etag: str | None) -> dict[str, Prompt]:
        prompts: dict[str, Prompt] = {}
        for item in body["prompts"]:
            prompt = self._parse_prompt(item, tag=tag)
            self._store(self._key(prompt.name, tag, None), prompt, item.get("etag"))
            prompts[prompt.name] = prompt
        if etag:
            self._snapshot_etags[tag] = etag
        self._disk_write_snapshot(tag, body, etag)
        return prompts

    def _snapshot_from_memory(self, tag: str) -> dict[str, Prompt]:
        with self._lock:
            items = [(k, e) for k, e in self._entries.items() if k[1] == tag and k[2] is None]
        for key, _ in items:
            self._touch(key)
        return {k[0]: self._served(e, stale=False) for k, e in items}

    # --- disk cache ------------------------------------------------------------------

    def _disk_path(self, kind: str, *parts: Any) -> Path | None:
        if self._disk is None:
            return None
        digest = hashlib.sha256(json.dumps([kind, *parts]).encode()).hexdigest()[:32]
        return self._disk / f"{kind}-{digest}.json"

    def _write_json(self, path: Path, data: dict[str, Any]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, path)  # atomic: a reader never sees half a file
        except OSError as exc:
            logger.warning("promptyard: could not write the disk cache %s: %s", path, exc)

    def _read_json(self, path: Path | None) -> dict[str, Any] | None:
        if path is None:
            return None
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _disk_write(self, key: Key, prompt: Prompt, etag: str | None) -> None:
        path = self._disk_path("prompt", *key)
        if path is not None:
            self._write_json(path, {"etag": etag, "prompt": prompt.to_dict()})

    def _disk_read(self, key: Key) -> Entry | None:
        data = self._read_json(self._disk_path("prompt", *key))
        if data is None:
            return None
        try:
            prompt = Prompt.from_dict(data.get("prompt"), source="disk")
        except (ValueError, TypeError):
            return None
        return Entry(prompt=prompt, etag=data.get("etag"), fetched_at=0.0)

    def _disk_write_snapshot(self, tag: str, body: dict[str, Any], etag: str | None) -> None:
        path = self._disk_path("snapshot", tag)
        if path is not None:
            self._write_json(path, {"etag": etag, "body": body})

    def _disk_read_snapshot(self, tag: str) -> dict[str, Prompt] | None:
        data = self._read_json(self._disk_path("snapshot", tag))
        if data is None or not isinstance(data.get("body"), dict):
            return None
        prompts: dict[str, Prompt] = {}
        for item in data["body"].get("prompts") or []:
            try:
                prompt = replace(Prompt.from_dict(item, source="disk"), stale=True)
            except (ValueError, TypeError):
                continue
            key = self._key(prompt.name, tag, None)
            with self._lock:
                # Keep a copy the server confirmed in this process; otherwise use the disk's,
                # to be refreshed in the background on the next get_prompt.
                self._entries.setdefault(
                    key, Entry(prompt=prompt, etag=item.get("etag"), fetched_at=0.0)
                )
            prompts[prompt.name] = prompt
        return prompts

    # --- the decision shared by both clients ------------------------------------------

    def _recover(self, key: Key, name: str, fallback: Any, exc: BaseException) -> Prompt:
        """After a failed cold fetch: the disk copy, else the fallback, else raise."""
        entry = self._disk_read(key)
        if entry is not None:
            logger.warning("promptyard: serving %s from the disk cache (%s)", name, exc)
            entry.retry_at = time.monotonic() + pause_after(exc)
            with self._lock:
                self._entries[key] = entry
            return replace(entry.prompt, stale=True)
        if fallback is not None:
            logger.warning("promptyard: serving the fallback of %s (%s)", name, exc)
            prompt = Prompt.from_fallback(name, fallback, tag=key[1])
            # Kept so the next call answers at once and refreshes in the background.
            with self._lock:
                self._entries[key] = Entry(
                    prompt=prompt,
                    etag=None,
                    fetched_at=0.0,
                    retry_at=time.monotonic() + pause_after(exc),
                )
            return prompt
        raise self._as_fetch_error(exc) from exc


def raise_api_error(exc: BaseException) -> NoReturn:
    """What an API call raises after its last attempt: the typed error as it is; a
    connection failure or timeout as a FetchError."""
    if isinstance(exc, httpx.HTTPError) and not isinstance(exc, PromptyardError):
        raise ClientCore._as_fetch_error(exc) from exc
    raise exc


def note_fetch(prompt: Prompt) -> None:
    """Tag the current OpenTelemetry span with the prompt version served (if tracing is on).
    Without opentelemetry imported there is no span to tag: skip the import attempt."""
    if "opentelemetry" not in sys.modules:
        return
    try:
        from promptyard.tracing import record_prompt_fetch

        rollout_id = prompt.rollout.id if prompt.rollout is not None else None
        record_prompt_fetch(
            prompt.name, prompt.version or None, arm=prompt.arm, rollout_id=rollout_id
        )
    except Exception:  # tracing must never break a fetch
        logger.debug("promptyard: could not record the prompt fetch on the span", exc_info=True)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and body.get("detail"):
            return str(body["detail"])
    except ValueError:
        pass
    return f"HTTP {response.status_code}"
