"""The asyncio client: the same methods as `Promptyard`, awaited.

client = AsyncPromptyard()
prompt = await client.get_prompt("support-reply", fallback=[...])
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from promptyard._aio_namespaces import (
    Annotations,
    Datasets,
    Experiments,
    Prompts,
    Scores,
    Tags,
    Traces,
)
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
    Entry,
    Key,
    logger,
    note_fetch,
    raise_api_error,
)
from promptyard.client import FetchSteps, Parse
from promptyard.prompt import Prompt

if TYPE_CHECKING:
    from typing_extensions import Self

T = TypeVar("T")


class AsyncPromptyard(FetchSteps):
    """The asyncio client: `get_prompt`, `load_snapshot`, `score` and the areas
    (`prompts`, `tags`, `datasets`, `experiments`, `scores`, `annotations`, `traces`) of
    `Promptyard`, awaited. `async with AsyncPromptyard() as client:` closes it."""

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
        http_client: httpx.AsyncClient | None = None,
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
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._tasks: set[asyncio.Task[None]] = set()
        self.prompts = Prompts(self)
        self.tags = Tags(self)
        self.datasets = Datasets(self)
        self.experiments = Experiments(self)
        self.scores = Scores(self)
        self.annotations = Annotations(self)
        self.traces = Traces(self)

    async def get_prompt(
        self,
        name: str,
        tag: str | None = DEFAULT_TAG,
        version: int | None = None,
        fallback: Any = None,
        cache_ttl: float | None = None,
        key: Any = None,
    ) -> Prompt:
        """See `Promptyard.get_prompt`: same caching, revalidation and fallback rules."""
        prompt = (await self._get_prompt(name, tag, version, fallback, cache_ttl)).for_key(key)
        note_fetch(prompt)
        return prompt

    async def _get_prompt(
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
                return await self._revalidate(key, entry)
            except Exception as exc:
                return self._keep_cached(key, entry, exc)
        try:
            prompt, etag = await self._fetch(key, etag=None)
            prompt = self._require_body(prompt)
        except Exception as exc:
            return self._recover(key, name, fallback, exc)
        self._store(key, prompt, etag)
        return prompt

    async def load_snapshot(self, tag: str = DEFAULT_TAG) -> dict[str, Prompt]:
        headers = self._conditional_headers(self._snapshot_etags.get(tag))
        try:
            not_modified, body, etag = await self._request(
                self._snapshot_url, {"tag": tag}, headers, parse=self._check_snapshot
            )
        except Exception as exc:
            return self._snapshot_offline(tag, exc)
        return self._snapshot_answer(tag, not_modified, body, etag)

    async def score(
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
        """See `Promptyard.score`."""
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
                response = await self._http.post(self._scores_url, json=body, headers=self._headers)
                return self._score_answer(response)
            except Exception as exc:
                if not self._is_retryable(exc):
                    raise
                last = exc
            delay = self._retry_delay(attempt, last)
            if delay is None:
                break
            await asyncio.sleep(delay)
        assert last is not None
        raise self._as_fetch_error(last) from last

    async def wait_for_refreshes(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        await self.wait_for_refreshes()
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, request: Request) -> Any:
        """See `Promptyard._send`."""
        last: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            try:
                response = await self._http.request(
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
            await asyncio.sleep(delay)
        assert last is not None
        raise_api_error(last)

    async def _run(self, call: Call[T]) -> T:
        return call.parse(await self._send(call.request))

    async def _run_all(self, call: PagedCall[T]) -> list[T]:
        items: list[T] = []
        request: Request | None = call.request
        while request is not None:
            answer = await self._send(request)
            items.extend(call.item(item) for item in page_items(answer))
            if call.limit is not None and len(items) >= call.limit:
                return items[: call.limit]
            request = next_page(request, answer)
        return items

    async def _request(
        self,
        url: str,
        params: Mapping[str, str | None],
        headers: Mapping[str, str],
        parse: Parse | None = None,
    ) -> tuple[bool, Any, str | None]:
        last: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            try:
                response = await self._http.get(url, params=params, headers=headers)
                return self._read_answer(response, parse)
            except Exception as exc:
                if not self._is_retryable(exc):
                    raise
                last = exc
            delay = self._retry_delay(attempt, last)
            if delay is None:
                break
            await asyncio.sleep(delay)
        assert last is not None
        raise last

    async def _fetch(self, key: Key, *, etag: str | None) -> tuple[Prompt | None, str | None]:
        url, params, headers, parse = self._prompt_request(key, etag)
        return self._fetched(*await self._request(url, params, headers, parse=parse), etag)

    async def _revalidate(self, key: Key, entry: Entry) -> Prompt:
        return self._revalidated(key, entry, *await self._fetch(key, etag=entry.etag))

    def _refresh_in_background(self, key: Key, entry: Entry) -> None:
        if not self._claim_refresh(key):
            return

        async def run() -> None:
            try:
                await self._revalidate(key, entry)
            except Exception as exc:
                logger.warning("promptyard: background refresh of %s failed: %s", key, exc)
                self._note_failure(key, exc)
            finally:
                self._release_refresh(key)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)  # a reference, so the task is not garbage-collected mid-flight
        task.add_done_callback(self._tasks.discard)
