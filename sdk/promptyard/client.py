"""The synchronous client.

from promptyard import Promptyard
client = Promptyard()  # PROMPTYARD_API_KEY, PROMPTYARD_BASE_URL
prompt = client.get_prompt("support-reply", fallback="Answer politely: {{ question }}")
text = prompt.render(question="Where is my order?")
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from promptyard._calls import (
    Call,
    PagedCall,
    Request,
    next_page,
    page_items,
    read_answer,
    worth_retrying,
)
from promptyard._core import (
    DEFAULT_API_TIMEOUT,
    DEFAULT_TAG,
    ClientCore,
    Entry,
    Key,
    logger,
    note_fetch,
    raise_api_error,
)
from promptyard._namespaces import (
    Annotations,
    Datasets,
    Experiments,
    Prompts,
    Scores,
    Tags,
    Traces,
)
from promptyard.errors import FetchError
from promptyard.prompt import Prompt

if TYPE_CHECKING:
    from typing_extensions import Self

T = TypeVar("T")

# A check of a decoded body that raises when it is not what was asked for.
Parse = Callable[[Any], Any]


class FetchSteps(ClientCore):
    """The steps of a fetch that do no I/O, shared by `Promptyard` and `AsyncPromptyard`:
    each client keeps only the calls that block (or are awaited) around them."""

    def _conditional_headers(self, etag: str | None) -> dict[str, str]:
        headers = dict(self._headers)
        if etag:
            headers["If-None-Match"] = etag
        return headers

    def _read_answer(
        self, response: httpx.Response, parse: Parse | None = None
    ) -> tuple[bool, Any, str | None]:
        not_modified, body, etag = self._judge(response)
        # A body that is not what was asked for is retried like a 5xx.
        return not_modified, (parse(body) if parse and not not_modified else body), etag

    def _prompt_request(
        self, key: Key, etag: str | None
    ) -> tuple[str, dict[str, str | None], dict[str, str], Parse]:
        """(url, params, headers, parse) of the GET for one prompt."""
        name, tag, version = key
        return (
            self._prompt_url(name),
            self._prompt_params(tag, version),
            self._conditional_headers(etag),
            lambda body: self._parse_prompt(body, tag=tag),
        )

    @staticmethod
    def _fetched(
        not_modified: bool, prompt: Prompt | None, new_etag: str | None, etag: str | None
    ) -> tuple[Prompt | None, str | None]:
        if not_modified:
            return None, new_etag or etag
        return prompt, new_etag

    @staticmethod
    def _require_body(prompt: Prompt | None) -> Prompt:
        if prompt is None:
            raise FetchError("the server answered 304 to an unconditional request")
        return prompt

    def _keep_cached(self, key: Key, entry: Entry, exc: BaseException) -> Prompt:
        """A revalidation before returning failed: never raise with a copy in hand."""
        logger.warning("promptyard: keeping the cached %s (%s)", key[0], exc)
        self._note_failure(key, exc)
        return self._served(entry, stale=True)

    def _snapshot_offline(self, tag: str, exc: BaseException) -> dict[str, Prompt]:
        prompts = self._disk_read_snapshot(tag)
        if prompts is None:
            raise self._as_fetch_error(exc) from exc
        logger.warning("promptyard: snapshot %s from the disk cache (%s)", tag, exc)
        return prompts

    def _snapshot_answer(
        self, tag: str, not_modified: bool, body: Any, etag: str | None
    ) -> dict[str, Prompt]:
        if not_modified:
            return self._snapshot_from_memory(tag)
        return self._apply_snapshot(tag, body, etag)

    def _revalidated(
        self, key: Key, entry: Entry, prompt: Prompt | None, etag: str | None
    ) -> Prompt:
        if prompt is None:
            self._touch(key)
            return self._served(entry, stale=False)
        self._store(key, prompt, etag)
        return prompt


class Promptyard(FetchSteps):
    """Fetch prompts by tag, with a memory cache, stale-while-revalidate, retries, an
    optional disk cache and fallbacks. Thread-safe; share one instance per process.

    The rest of the API is grouped by area, each a typed, documented namespace:
    `prompts`, `tags`, `datasets`, `experiments`, `scores`, `annotations`, `traces`.
    Their calls wait up to `api_timeout` seconds (uploads, experiment creation) and raise
    the typed errors of `promptyard.errors`.
    """

    prompts: Prompts
    tags: Tags
    datasets: Datasets
    experiments: Experiments
    scores: Scores
    annotations: Annotations
    traces: Traces

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 2.0,
        max_retries: int = 2,
        backoff: float = 0.2,
        cache_dir: str | os.PathLike[str] | None = None,
        default_cache_ttl: float = 60.0,
        http_client: httpx.Client | None = None,
        api_timeout: float = DEFAULT_API_TIMEOUT,
    ):
        super().__init__(
            api_key,
            base_url,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            cache_dir=cache_dir,
            default_cache_ttl=default_cache_ttl,
            api_timeout=api_timeout,
        )
        self._http = http_client or httpx.Client(timeout=timeout)
        self._threads: list[threading.Thread] = []
        self.prompts = Prompts(self)
        self.tags = Tags(self)
        self.datasets = Datasets(self)
        self.experiments = Experiments(self)
        self.scores = Scores(self)
        self.annotations = Annotations(self)
        self.traces = Traces(self)

    # --- public API ------------------------------------------------------------------

    def get_prompt(
        self,
        name: str,
        tag: str | None = DEFAULT_TAG,
        version: int | None = None,
        fallback: Any = None,
        cache_ttl: float | None = None,
        key: Any = None,
    ) -> Prompt:
        """The prompt at `tag` (or the pinned `version`).

        Fresh cached copy: returned without a request. Expired copy: returned at once and
        revalidated in the background (If-None-Match). `cache_ttl=0`: revalidated before
        returning. Raises only when neither a cached copy, a disk copy nor `fallback` exists.

        Under a rollout of the tag, the answer carries both versions and the split: `key`
        (a user or session id) picks the caller's arm locally, sticky per key and the same
        as the server's; without a key each call draws an arm at random. The cache holds
        the rollout, so stepping or aborting it reaches callers with the next refresh.
        """
        prompt = (self._get_prompt(name, tag, version, fallback, cache_ttl)).for_key(key)
        note_fetch(prompt)
        return prompt

    def _get_prompt(
        self,
        name: str,
        tag: str | None,
        version: int | None,
        fallback: Any,
        cache_ttl: float | None,
    ) -> Prompt:
        ttl = self.default_cache_ttl if cache_ttl is None else cache_ttl
        key = self._key(name, tag, version)
        entry = self._cached(key)
        if entry is not None:
            if entry.fresh(key, ttl, time.monotonic()):
                return self._served(entry, stale=False)
            if ttl > 0:
                self._refresh_in_background(key, entry)
                return self._served(entry, stale=True)
            try:
                return self._revalidate(key, entry)
            except Exception as exc:
                return self._keep_cached(key, entry, exc)
        try:
            prompt, etag = self._fetch(key, etag=None)
            prompt = self._require_body(prompt)
        except Exception as exc:
            return self._recover(key, name, fallback, exc)
        self._store(key, prompt, etag)
        return prompt

    def load_snapshot(self, tag: str = DEFAULT_TAG) -> dict[str, Prompt]:
        """Prefetch every prompt of the team at `tag` in one request: {name: Prompt}.

        Later get_prompt(name, tag) calls are served from memory. Offline, the disk
        snapshot is used; raises only when there is none.
        """
        headers = self._conditional_headers(self._snapshot_etags.get(tag))
        try:
            not_modified, body, etag = self._request(
                self._snapshot_url, {"tag": tag}, headers, parse=self._check_snapshot
            )
        except Exception as exc:
            return self._snapshot_offline(tag, exc)
        return self._snapshot_answer(tag, not_modified, body, etag)

    def score(
        self,
        *,
        trace_id: str,
        name: str,
        value: bool | int | float | str,
        span_id: str | None = None,
        comment: str | None = None,
        author: str | None = None,
        score_id: str | None = None,
    ) -> dict[str, Any]:
        """Attach a score to a trace (or one of its spans) by its OTLP ids: user feedback
        (`name="thumbs", value=True`), a rating, a category. Returns the stored score.
        Retried on connection errors and 5xx under one id, so it is stored once. Raises
        ScoreRejected when the server refuses it (404: the trace's spans have not arrived
        yet; flush them first). Needs a key with traces:write."""
        body = self._score_body(
            trace_id=trace_id,
            name=name,
            value=value,
            span_id=span_id,
            comment=comment,
            author=author,
            score_id=score_id,
        )
        last: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            try:
                response = self._http.post(self._scores_url, json=body, headers=self._headers)
                return self._score_answer(response)
            except Exception as exc:
                if not self._is_retryable(exc):
                    raise
                last = exc
            delay = self._retry_delay(attempt, last)
            if delay is None:
                break
            time.sleep(delay)
        assert last is not None
        raise self._as_fetch_error(last) from last

    def close(self) -> None:
        for thread in list(self._threads):
            thread.join(timeout=self.timeout * (self.max_retries + 1) + 1)
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------

    def _send(self, request: Request) -> Any:
        """One API call, retried (with backoff, or after Retry-After) when worth it."""
        last: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            try:
                response = self._http.request(
                    request.method,
                    request.url,
                    params=request.params or None,
                    json=request.json,
                    data=request.data,
                    files=request.files,
                    headers=self._api_headers,
                    timeout=self.api_timeout,
                )
                return read_answer(response)
            except Exception as exc:
                if not worth_retrying(request, exc):
                    raise_api_error(exc)
                last = exc
            delay = self._retry_delay(attempt, last)
            if delay is None:
                break
            time.sleep(delay)
        assert last is not None
        raise_api_error(last)

    def _run(self, call: Call[T]) -> T:
        return call.parse(self._send(call.request))

    def _run_all(self, call: PagedCall[T]) -> list[T]:
        items: list[T] = []
        request: Request | None = call.request
        while request is not None:
            answer = self._send(request)
            items.extend(call.item(item) for item in page_items(answer))
            if call.limit is not None and len(items) >= call.limit:
                return items[: call.limit]
            request = next_page(request, answer)
        return items

    def _request(
        self,
        url: str,
        params: Mapping[str, str | None],
        headers: Mapping[str, str],
        parse: Parse | None = None,
    ) -> tuple[bool, Any, str | None]:
        """One GET with retries and backoff on connection errors, timeouts, 408/429/5xx
        and garbage bodies (after Retry-After when the server sends one)."""
        last: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            try:
                response = self._http.get(url, params=params, headers=headers)
                return self._read_answer(response, parse)
            except Exception as exc:
                if not self._is_retryable(exc):
                    raise
                last = exc
            delay = self._retry_delay(attempt, last)
            if delay is None:
                break
            time.sleep(delay)
        assert last is not None
        raise last

    def _fetch(self, key: Key, *, etag: str | None) -> tuple[Prompt | None, str | None]:
        url, params, headers, parse = self._prompt_request(key, etag)
        return self._fetched(*self._request(url, params, headers, parse=parse), etag)

    def _revalidate(self, key: Key, entry: Entry) -> Prompt:
        return self._revalidated(key, entry, *self._fetch(key, etag=entry.etag))

    def _refresh_in_background(self, key: Key, entry: Entry) -> None:
        if not self._claim_refresh(key):
            return

        def run() -> None:
            try:
                self._revalidate(key, entry)
            except Exception as exc:
                logger.log(
                    logging.WARNING, "promptyard: background refresh of %s failed: %s", key, exc
                )
                self._note_failure(key, exc)
            finally:
                self._release_refresh(key)
                try:
                    self._threads.remove(threading.current_thread())
                except ValueError:
                    pass

        thread = threading.Thread(target=run, name=f"promptyard-refresh-{key[0]}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def wait_for_refreshes(self, timeout: float = 10.0) -> None:
        """Block until background refreshes finish (tests, short scripts)."""
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
