"""The client's REST calls without I/O, shared by the sync and the async client: each
operation builds a `Call` (the request, from the endpoint table, and how to read the
answer); `Promptyard` sends it with httpx.Client, `AsyncPromptyard` with httpx.AsyncClient.

How an answer is judged is here too: a 2xx body is parsed; an error body becomes a typed
error (errors.py); what is worth retrying is marked so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from promptyard._endpoints import ENDPOINTS
from promptyard.errors import (
    APIError,
    AuthenticationError,
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    ValidationError,
)
from promptyard.types import (
    AnnotationQueue,
    Comparison,
    Dataset,
    DatasetRevision,
    DiffSection,
    Experiment,
    ExperimentResult,
    PromotionRequest,
    PromptDiff,
    PromptInfo,
    PromptVersion,
    QueueFill,
    Score,
    Span,
    Tag,
    TagEvent,
    Trace,
    _build,
)

T = TypeVar("T")

# The largest page the API serves (apps.core.pagination.API_MAX_PAGE_SIZE).
MAX_PAGE_SIZE = 500
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
FileInput = str | Path | bytes | IO[bytes]


@dataclass(frozen=True)
class Request:
    endpoint: str
    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes]] | None = None

    @property
    def idempotent(self) -> bool:
        return self.method == "GET"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read its answer."""

    request: Request
    parse: Callable[[Any], T]


@dataclass(frozen=True)
class PagedCall(Generic[T]):
    """A list endpoint: every page is fetched (following `next`) up to `limit` items."""

    request: Request
    item: Callable[[Any], T]
    limit: int | None = None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_request(
    base_url: str,
    endpoint: str,
    *,
    path: Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
    files: dict[str, tuple[str, bytes]] | None = None,
) -> Request:
    """The request for `endpoint` of the table. A parameter the table does not list for it
    is a bug in the SDK: refused here, so the schema test's view of what is sent is whole.
    None values are not sent."""
    spec = ENDPOINTS[endpoint]
    query = {k: v for k, v in (query or {}).items() if v is not None}
    body = {k: v for k, v in (body or {}).items() if v is not None}
    for name, allowed, kind in ((query, spec.query, "query"), (body, spec.body, "body")):
        unknown = sorted(set(name) - set(allowed))
        if unknown:
            raise TypeError(f"{endpoint} does not send {kind} parameter {unknown[0]!r}")
    if files and not spec.multipart:
        raise TypeError(f"{endpoint} does not take files")
    url = base_url + spec.path.format(
        **{k: quote(_text(v), safe="") for k, v in (path or {}).items()}
    )
    params: dict[str, str] = {}
    for key, value in query.items():
        params[key] = (
            ",".join(map(_text, value)) if isinstance(value, list | tuple) else _text(value)
        )
    if spec.multipart:
        data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        return Request(endpoint, spec.method, url, params, data=data, files=files or {})
    has_body = spec.method != "GET" and (body or spec.body)
    return Request(endpoint, spec.method, url, params, json=body if has_body else None)


def next_page(request: Request, answer: Any) -> Request | None:
    """The request of the page after `answer` (page numbers or cursors), or None."""
    following = answer.get("next") if isinstance(answer, dict) else None
    if not following:
        return None
    query = parse_qs(urlsplit(following).query)
    params = dict(request.params)
    for key in ("page", "cursor"):
        if key in query:
            params[key] = query[key][0]
    if params == request.params:
        return None
    return Request(request.endpoint, request.method, request.url, params)


def page_items(answer: Any) -> list[Any]:
    if isinstance(answer, dict) and isinstance(answer.get("results"), list):
        return list(answer["results"])
    if isinstance(answer, list):
        return answer
    raise ServerError("server sent something that is not a list page", body=answer)


# --- answers ---------------------------------------------------------------------------------


def retry_after(response: httpx.Response) -> float | None:
    from promptyard._core import retry_after_seconds

    return retry_after_seconds(response)


def api_error(response: httpx.Response) -> APIError:
    """The typed error of a refused call, from the shared error body."""
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    detail = f"HTTP {status}"
    code = None
    errors: dict[str, Any] = {}
    if isinstance(body, dict):
        detail = str(body.get("detail") or detail)
        code = body.get("code")
        found = body.get("errors")
        errors = found if isinstance(found, dict) else {}
    kwargs: dict[str, Any] = {"status": status, "code": code, "errors": errors, "body": body}
    if status == 400:
        return ValidationError(detail, **kwargs)
    if status == 401:
        return AuthenticationError(detail, **kwargs)
    if status == 403:
        return PermissionDenied(detail, **kwargs)
    if status == 404:
        return NotFound(detail, **kwargs)
    if status == 409:
        return Conflict(detail, **kwargs)
    if status == 429:
        return RateLimited(detail, retry_after=retry_after(response), **kwargs)
    if status >= 500:
        return ServerError(detail, **kwargs)
    return APIError(detail, **kwargs)


def read_answer(response: httpx.Response) -> Any:
    """The decoded body of a 2xx answer (None for 204); raise the typed error otherwise."""
    if 200 <= response.status_code < 300:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ServerError(
                "server sent a body that is not JSON", status=response.status_code
            ) from None
    raise api_error(response)


def worth_retrying(request: Request, exc: BaseException) -> bool:
    """A read is retried on connection errors, timeouts, 408/425/429/5xx; a write only when
    it surely did nothing: it never reached the server, or was rate limited (429)."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return True
    if isinstance(exc, RateLimited):
        return True
    if not request.idempotent:
        return False
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, APIError) and (exc.status or 0) in RETRYABLE_STATUS


# --- operations ------------------------------------------------------------------------------


def _many(cls: type[T]) -> Callable[[Any], T]:
    return lambda item: _build(cls, item)


def _file(file: FileInput, filename: str | None) -> tuple[str, bytes]:
    if isinstance(file, bytes):
        return filename or "upload", file
    if isinstance(file, str | Path):
        path = Path(file)
        return filename or path.name, path.read_bytes()
    name = filename or Path(getattr(file, "name", "upload") or "upload").name
    return name, file.read()


def _trace(data: Any) -> Trace:
    spans = [_build(Span, s) for s in (data.get("spans") or [])] if isinstance(data, dict) else []
    return _build(Trace, data, spans=spans)


def _diff(data: Any) -> PromptDiff:
    sections = [_build(DiffSection, s) for s in data.get("sections") or []]
    return _build(PromptDiff, data, sections=sections)


class Operations:
    """Every call of the client as a `Call` or `PagedCall` (no I/O)."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def _req(self, endpoint: str, **kwargs: Any) -> Request:
        return build_request(self.base_url, endpoint, **kwargs)

    def _paged(
        self, endpoint: str, item: Callable[[Any], T], *, limit: int | None, **kwargs: Any
    ) -> PagedCall[T]:
        query = dict(kwargs.pop("query", None) or {})
        query["page_size"] = min(limit or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        return PagedCall(self._req(endpoint, query=query, **kwargs), item, limit)

    # prompts
    def prompt_list(self, q: str | None, limit: int | None) -> PagedCall[PromptInfo]:
        return self._paged("prompts.list", _many(PromptInfo), limit=limit, query={"q": q})

    def prompt_create(self, name: str, description: str) -> Call[PromptInfo]:
        body = {"name": name, "description": description}
        return Call(self._req("prompts.create", body=body), _many(PromptInfo))

    def version_create(
        self,
        name: str,
        *,
        template: str | None,
        messages: Sequence[Mapping[str, Any]] | None,
        commit_message: str,
        model_settings: Mapping[str, Any] | None,
        variables_schema: Mapping[str, Any] | None,
        parent: int | None,
    ) -> Call[PromptVersion]:
        if (template is None) == (messages is None):
            raise TypeError("give either template= (a text prompt) or messages= (a chat prompt)")
        body: dict[str, Any] = {
            "kind": "text" if template is not None else "chat",
            "template": template,
            "messages": [dict(m) for m in messages] if messages is not None else None,
            "commit_message": commit_message,
            "model_settings": dict(model_settings) if model_settings else None,
            "variables_schema": dict(variables_schema) if variables_schema else None,
            "parent": parent,
        }
        request = self._req("prompts.create_version", path={"prompt_name": name}, body=body)
        return Call(request, _many(PromptVersion))

    def version_list(self, name: str, limit: int | None) -> PagedCall[PromptVersion]:
        return self._paged(
            "prompts.versions", _many(PromptVersion), limit=limit, path={"prompt_name": name}
        )

    def version_get(self, name: str, number: int) -> Call[PromptVersion]:
        path = {"prompt_name": name, "version_number": int(number)}
        return Call(self._req("prompts.version", path=path), _many(PromptVersion))

    def version_diff(self, name: str, old: int, new: int) -> Call[PromptDiff]:
        request = self._req(
            "prompts.diff", path={"prompt_name": name}, query={"from": old, "to": new}
        )
        return Call(request, _diff)

    # tags and promotions
    def tag_list(self, name: str) -> Call[list[Tag]]:
        request = self._req("tags.list", path={"prompt_name": name})
        return Call(request, lambda body: [_build(Tag, t) for t in page_items(body)])

    def tag_move(self, name: str, tag: str, version: int, reason: str) -> Call[TagEvent]:
        request = self._req(
            "tags.move",
            path={"prompt_name": name, "tag_name": tag},
            body={"version": version, "reason": reason},
        )
        return Call(request, _many(TagEvent))

    def tag_history(self, name: str, tag: str, limit: int | None) -> PagedCall[TagEvent]:
        path = {"prompt_name": name, "tag_name": tag}
        return self._paged("tags.history", _many(TagEvent), limit=limit, path=path)

    def promotion_create(
        self,
        name: str,
        *,
        candidate: int,
        tag: str,
        description: str,
        evidence: Sequence[int],
        rollout_percent: int | None,
    ) -> Call[PromotionRequest]:
        body = {
            "prompt": name,
            "tag_name": tag,
            "candidate": candidate,
            "description": description,
            "evidence": list(evidence),
            "rollout_percent": rollout_percent,
        }
        return Call(self._req("promotions.create", body=body), _many(PromotionRequest))

    def promotion_list(
        self, name: str | None, status: str | None, limit: int | None
    ) -> PagedCall[PromotionRequest]:
        query = {"prompt": name, "status": status}
        return self._paged("promotions.list", _many(PromotionRequest), limit=limit, query=query)

    def promotion_get(self, promotion_id: int) -> Call[PromotionRequest]:
        request = self._req("promotions.get", path={"promotion_id": promotion_id})
        return Call(request, _many(PromotionRequest))

    # datasets
    def dataset_list(self, limit: int | None) -> PagedCall[Dataset]:
        return self._paged("datasets.list", _many(Dataset), limit=limit)

    def dataset_create(self, name: str, description: str) -> Call[Dataset]:
        body = {"name": name, "description": description}
        return Call(self._req("datasets.create", body=body), _many(Dataset))

    def dataset_get(self, dataset_id: int) -> Call[Dataset]:
        return Call(self._req("datasets.get", path={"dataset_id": dataset_id}), _many(Dataset))

    def dataset_revisions(self, dataset_id: int, limit: int | None) -> PagedCall[DatasetRevision]:
        path = {"dataset_id": dataset_id}
        return self._paged("datasets.revisions", _many(DatasetRevision), limit=limit, path=path)

    def dataset_rows(
        self, dataset_id: int, revision: int | None, split: str | None, limit: int | None
    ) -> PagedCall[dict[str, Any]]:
        return self._paged(
            "datasets.examples",
            _row,
            limit=limit,
            path={"dataset_id": dataset_id},
            query={"revision": revision, "split": split},
        )

    def dataset_add_rows(
        self, dataset_id: int, rows: Sequence[Mapping[str, Any]], message: str
    ) -> Call[DatasetRevision]:
        body = {"rows": [dict(r) for r in rows], "message": message}
        request = self._req("datasets.add_rows", path={"dataset_id": dataset_id}, body=body)
        return Call(request, _many(DatasetRevision))

    def dataset_upload(
        self,
        dataset_id: int,
        file: FileInput,
        *,
        filename: str | None,
        format: str | None,
        mapping: Mapping[str, Any] | None,
    ) -> Call[DatasetRevision]:
        body = {"format": format, "mapping": dict(mapping) if mapping else None}
        request = self._req(
            "datasets.upload",
            path={"dataset_id": dataset_id},
            body=body,
            files={"file": _file(file, filename)},
        )
        return Call(request, _many(DatasetRevision))

    # experiments
    def experiment_list(
        self, status: str | None, dataset: int | None, limit: int | None
    ) -> PagedCall[Experiment]:
        query = {"status": status, "dataset": dataset}
        return self._paged("experiments.list", _many(Experiment), limit=limit, query=query)

    def experiment_create(self, body: Mapping[str, Any]) -> Call[Experiment]:
        return Call(self._req("experiments.create", body=body), _many(Experiment))

    def experiment_get(self, experiment_id: int) -> Call[Experiment]:
        request = self._req("experiments.get", path={"experiment_id": experiment_id})
        return Call(request, _many(Experiment))

    def experiment_action(self, action: str, experiment_id: int) -> Call[Experiment]:
        request = self._req(f"experiments.{action}", path={"experiment_id": experiment_id})
        return Call(request, _many(Experiment))

    def experiment_results(
        self,
        experiment_id: int,
        *,
        variant: int | None,
        errors: bool | None,
        failed: bool | None,
        limit: int | None,
    ) -> PagedCall[ExperimentResult]:
        return self._paged(
            "experiments.results",
            _many(ExperimentResult),
            limit=limit,
            path={"experiment_id": experiment_id},
            query={"variant": variant, "errors": errors, "failed": failed},
        )

    def experiment_comparison(
        self, experiment_id: int, rule: str | None, threshold: float | None
    ) -> Call[Comparison]:
        request = self._req(
            "experiments.comparison",
            path={"experiment_id": experiment_id},
            query={"rule": rule, "threshold": threshold},
        )
        return Call(request, _many(Comparison))

    # scores
    def score_list(
        self, trace_id: str | None, name: str | None, limit: int | None
    ) -> PagedCall[Score]:
        query = {"trace_id": trace_id, "name": name}
        return self._paged("scores.list", _many(Score), limit=limit, query=query)

    # annotation queues
    def queue_list(self, limit: int | None) -> PagedCall[AnnotationQueue]:
        return self._paged("annotations.queues", _many(AnnotationQueue), limit=limit)

    def queue_create(
        self, name: str, instructions: str, form_fields: Sequence[Mapping[str, Any]] | None
    ) -> Call[AnnotationQueue]:
        body = {
            "name": name,
            "instructions": instructions,
            "form_fields": [dict(f) for f in form_fields] if form_fields else None,
        }
        return Call(self._req("annotations.create_queue", body=body), _many(AnnotationQueue))

    def queue_fill(
        self,
        queue_id: int,
        *,
        experiment_id: int,
        mode: str,
        sample_size: int | None,
        seed: int | None,
        baseline_variant: str | None,
        candidate_variant: str | None,
    ) -> Call[QueueFill]:
        body = {
            "experiment_id": experiment_id,
            "mode": mode,
            "sample_size": sample_size,
            "seed": seed,
            "baseline_variant": baseline_variant,
            "candidate_variant": candidate_variant,
        }
        request = self._req("annotations.fill", path={"queue_id": queue_id}, body=body)
        return Call(request, _many(QueueFill))

    # traces
    def trace_list(self, filters: Mapping[str, Any], limit: int | None) -> PagedCall[Trace]:
        return self._paged("traces.list", _trace, limit=limit, query=dict(filters))

    def trace_get(self, trace_id: str) -> Call[Trace]:
        return Call(self._req("traces.get", path={"trace_id": trace_id}), _trace)


def _row(item: Any) -> dict[str, Any]:
    """An example as a plain row: id, input, expected, metadata, split (DataFrame-ready)."""
    if not isinstance(item, dict):
        raise ServerError("server sent an example that is not an object", body=item)
    row = {"id": item.get("example_id")}
    row.update({key: item.get(key) for key in ("input", "expected", "metadata", "split")})
    return row


def experiment_body(
    *,
    name: str,
    dataset: int | str,
    variants: Sequence[Mapping[str, Any]],
    evaluators: Sequence[str | int],
    description: str,
    dataset_revision: int | None,
    split: str,
    repetitions: int,
    concurrency: int,
    cost_cap: float | None,
    allow_unpriced: bool,
    start: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "description": description,
        "dataset_revision": dataset_revision,
        "split": split,
        "variants": [dict(v) for v in variants],
        "evaluators": [str(e) for e in evaluators],
        "repetitions": repetitions,
        "concurrency": concurrency,
        "cost_cap": cost_cap,
        "allow_unpriced": allow_unpriced,
        "start": start,
    }
    if isinstance(dataset, int):
        body["dataset"] = dataset
    else:
        body["dataset_name"] = dataset
    return body
