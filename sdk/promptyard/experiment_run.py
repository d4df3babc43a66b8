"""Experiments over your own code: run your pipeline on a dataset, record it on the server.

    import promptyard

    def my_pipeline(example):                       # or async def
        return answer(example["question"])

    def exact(output, expected):                    # a Python evaluator
        return output.strip() == expected

    run = promptyard.run_experiment(
        dataset="golden", task=my_pipeline, evaluators=[exact, "helpfulness-judge"],
        name="rag-2026-11-30", concurrency=16, repetitions=1,
    )

The SDK opens a code experiment on the server (by name: re-running with the same name
resumes it, skipping the examples × repetitions already recorded), fetches the rows of the
pinned dataset revision, calls `task(example)` locally (async tasks on one event loop,
sync ones in a thread pool; at most `concurrency` at once), retries calls that raise an
exception marked retryable (`promptyard.Retryable`, or any class in `retry_on`) with
exponential backoff, traces each call as a span (its children are whatever your code
traces), scores each output with the Python evaluators, and uploads results in batches
while the tasks run. Evaluators named by string are the team's server-side evaluators:
the server's worker runs them on the recorded outputs after `finish`.

The experiment is one like any other on the server: the same comparison page and
statistics; with `variants` naming prompt versions, it is promotion evidence.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import hashlib
import inspect
import json
import logging
import os
import random
import textwrap
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from promptyard._core import DEFAULT_BASE_URL, __version__, retry_after_seconds
from promptyard.errors import PromptyardError

logger = logging.getLogger("promptyard")

UPLOAD_BATCH = 200  # rows per upload (the server takes at most 500)
UPLOAD_INTERVAL = 0.5  # seconds: a partial batch waits at most this long
UPLOAD_ATTEMPTS = 6
MAX_OUTPUT_CHARS = 100_000

ATTR_EXPERIMENT_ID = "promptyard.experiment.id"
ATTR_EXPERIMENT_NAME = "promptyard.experiment.name"
ATTR_EXAMPLE_ID = "promptyard.example.id"
ATTR_VARIANT = "promptyard.experiment.variant"
ATTR_REPETITION = "promptyard.experiment.repetition"


class Retryable(Exception):
    """Raise (or subclass) this in a task for a failure worth trying again (a timeout, a
    rate limit): `run_experiment` retries the call with backoff before recording it as an
    error."""


class ExperimentError(PromptyardError):
    """The server refused the experiment or a batch of its results."""


@dataclass(frozen=True)
class Example:
    """One dataset row as the task sees it. `example["question"]` reads the input."""

    id: str
    position: int
    input: Any
    expected: Any = None

    def __getitem__(self, key: str) -> Any:
        if isinstance(self.input, Mapping):
            return self.input[key]
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self.input.get(key, default) if isinstance(self.input, Mapping) else default


@dataclass(frozen=True)
class Variant:
    """A configuration of the task. With `prompt` and `version` (or `tag`) the variant says
    which prompt version the task uses, so the experiment counts as promotion evidence for
    that version; `settings` is shown with it. A task taking two arguments is called as
    `task(example, variant)`."""

    label: str
    prompt: str | None = None
    version: int | None = None
    tag: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    is_baseline: bool = False
    task: Callable[..., Any] | None = None  # this variant's own task (default: `task`)

    def as_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "label": self.label,
            "settings": dict(self.settings),
            "is_baseline": self.is_baseline,
        }
        if self.prompt:
            body["prompt"] = self.prompt
            if self.version is not None:
                body["version"] = self.version
            elif self.tag:
                body["tag"] = self.tag
        return body


@dataclass
class ExperimentRun:
    """What a run did: the experiment, and the cells it ran, skipped and stored."""

    experiment_id: int
    name: str
    created: bool
    ran: int = 0
    skipped: int = 0  # already recorded (a resumed run)
    errors: int = 0
    stored: int = 0
    duplicates: int = 0  # refused by the server as already recorded
    retries: int = 0
    seconds: float = 0.0
    # Wall seconds of each phase: open, run (tasks and uploads), finish.
    phases: dict[str, float] = field(default_factory=dict)
    status: str = ""
    experiment: dict[str, Any] = field(default_factory=dict)


# --- evaluators ------------------------------------------------------------------------


def source_hash(func: Callable[..., Any]) -> str:
    """sha256 of the function's source (its bytecode when the source is unavailable)."""
    func = inspect.unwrap(func)
    try:
        source = textwrap.dedent(inspect.getsource(func)).encode()
    except (OSError, TypeError):
        code = getattr(func, "__code__", None)
        source = (code.co_code + repr(code.co_consts).encode()) if code else repr(func).encode()
    return hashlib.sha256(source).hexdigest()


@dataclass
class _PyEvaluator:
    name: str
    func: Callable[..., Any]
    params: tuple[str, ...]
    accepts_any: bool
    hash: str

    @classmethod
    def of(cls, func: Callable[..., Any]) -> _PyEvaluator:
        name = getattr(func, "__name__", None) or type(func).__name__
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError):
            signature = None
        params: tuple[str, ...] = ()
        accepts_any = signature is None
        if signature is not None:
            params = tuple(signature.parameters)
            accepts_any = any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()
            )
        return cls(str(name)[:100], func, params, accepts_any, source_hash(func))

    def score(self, *, output: Any, example: Example, variant: Variant) -> dict[str, Any]:
        offered = {
            "output": output,
            "expected": example.expected,
            "input": example.input,
            "example": example,
            "variant": variant,
        }
        kwargs = (
            offered if self.accepts_any else {k: offered[k] for k in self.params if k in offered}
        )
        try:
            verdict = self.func(**kwargs)
        except Exception as exc:  # noqa: BLE001 - an evaluator bug scores an error
            return {
                "name": self.name,
                "label": "error",
                "explanation": f"{type(exc).__name__}: {exc}"[:5000],
            }
        return _as_score(self.name, verdict)


def _as_score(name: str, verdict: Any) -> dict[str, Any]:
    """bool -> pass/fail; a number -> a score; a dict with value/passed/label/explanation."""
    if isinstance(verdict, bool):
        return {"name": name, "passed": verdict, "value": 1.0 if verdict else 0.0,
                "label": "pass" if verdict else "fail"}  # fmt: skip
    if isinstance(verdict, int | float):
        return {"name": name, "value": float(verdict)}
    if isinstance(verdict, Mapping):
        out: dict[str, Any] = {"name": name}
        if verdict.get("passed") is not None:
            out["passed"] = bool(verdict["passed"])
            out["label"] = "pass" if out["passed"] else "fail"
        if verdict.get("value") is not None:
            out["value"] = float(verdict["value"])
        elif "passed" in out:
            out["value"] = 1.0 if out["passed"] else 0.0
        if verdict.get("label"):
            out["label"] = str(verdict["label"])[:100]
        if verdict.get("explanation"):
            out["explanation"] = str(verdict["explanation"])[:5000]
        return out
    if verdict is None:
        return {"name": name, "label": "error", "explanation": "The evaluator returned None."}
    raise TypeError(f"evaluator {name} returned {type(verdict).__name__}")


# --- the HTTP side ---------------------------------------------------------------------


class _Api:
    """The code-experiment endpoints; uploads are retried (the server refuses duplicates)."""

    def __init__(self, api_key: str | None, base_url: str | None, timeout: float = 30.0):
        key = api_key or os.environ.get("PROMPTYARD_API_KEY") or ""
        if not key:
            raise ExperimentError("No API key: pass api_key=... or set PROMPTYARD_API_KEY.")
        base = (base_url or os.environ.get("PROMPTYARD_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        if base.endswith("/api/v1"):
            base = base[: -len("/api/v1")]
        self.base = base + "/api/v1"
        self.headers = {
            "Authorization": f"Bearer {key}",
            "Accept": "application/json",
            "User-Agent": f"promptyard-experiment/{__version__}",
        }
        self.http = httpx.Client(timeout=timeout, headers=self.headers)
        self._local = threading.local()

    def call(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> Any:
        url = f"{self.base}/{path.lstrip('/')}"
        attempts = UPLOAD_ATTEMPTS if retry else 1
        for attempt in range(attempts):
            delay = 0.25 * 2**attempt * (0.5 + random.random())
            try:
                response = self.http.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                if attempt + 1 >= attempts:
                    raise ExperimentError(f"cannot reach {self.base}: {exc}") from exc
            else:
                if response.status_code == 429 or response.status_code >= 500:
                    if attempt + 1 >= attempts:
                        raise ExperimentError(_problem(response))
                    delay = retry_after_seconds(response) or delay
                elif response.status_code >= 400:
                    raise ExperimentError(_problem(response))
                else:
                    return response.json()
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self.http.close()


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"the server answered {response.status_code}"
    if isinstance(body, dict):
        detail = body.get("detail") or body
        errors = body.get("errors")
        if isinstance(errors, dict) and errors:
            detail = f"{detail} ({'; '.join(f'{k}: {v}' for k, v in errors.items())})"
        return f"{response.status_code}: {detail}"
    return f"{response.status_code}: {body}"


# --- running -----------------------------------------------------------------------------


def _wants_variant(task: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(task).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    return len(positional) >= 2 or any(p.name == "variant" for p in params)


def _is_async(task: Callable[..., Any]) -> bool:
    func = inspect.unwrap(task)
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - a callable object's async __call__
    )


def _output_text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text[:MAX_OUTPUT_CHARS]


@dataclass
class _Cell:
    example: Example
    variant: Variant
    repetition: int


class _Runner:
    def __init__(
        self,
        *,
        api: _Api,
        experiment: dict[str, Any],
        variants: list[Variant],
        task: Callable[..., Any],
        evaluators: list[_PyEvaluator],
        concurrency: int,
        retry_on: tuple[type[BaseException], ...],
        max_retries: int,
        batch_size: int,
        run: ExperimentRun,
        on_progress: Callable[[ExperimentRun, int], None] | None,
    ):
        self.api = api
        self.experiment = experiment
        self.variants = variants
        self.task = task
        self.evaluators = evaluators
        self.concurrency = concurrency
        self.retry_on = retry_on
        self.max_retries = max_retries
        self.batch_size = batch_size
        self.run = run
        self.on_progress = on_progress
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="promptyard-task"
        )
        # Uploads leave the event loop: at most two batches in flight at once.
        self.uploads = concurrent.futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="promptyard-upload"
        )
        self.pending: list[dict[str, Any]] = []
        self.in_flight: list[concurrent.futures.Future[Any]] = []
        self.upload_error: BaseException | None = None
        self.counts = threading.Lock()  # upload threads add to the run's counters
        self.stopped = False  # the loop has ended: the cell feeder stops
        self.keep_last = False  # leave the last rows for the finishing call
        self.first_cell_at: float | None = None
        self.last_task_at: float | None = None
        self._wants: dict[int, tuple[bool, bool]] = {}  # id(task) -> (takes variant, async)

    # cells ---------------------------------------------------------------------------

    def cells(self) -> Iterator[_Cell]:
        """Every cell not recorded yet, a page of examples at a time."""
        ids = {v["label"]: v["id"] for v in self.experiment["variants"]}
        repetitions = int(self.experiment["repetitions"])
        after: int | None = None
        experiment_id = self.experiment["id"]
        while True:
            params = {} if after is None else {"after": after}
            page = self.api.call("GET", f"experiments/{experiment_id}/cells/", params=params)
            for row in page["results"]:
                example = Example(
                    id=row["example_id"],
                    position=row["position"],
                    input=row["input"],
                    expected=row["expected"],
                )
                done = {(int(v), int(r)) for v, r in row["done"]}
                for variant in self.variants:
                    for repetition in range(repetitions):
                        if (ids[variant.label], repetition) in done:
                            self.run.skipped += 1
                        else:
                            yield _Cell(example, variant, repetition)
            after = page.get("next_after")
            if after is None:
                return

    # one cell ----------------------------------------------------------------------------

    def _span(self, cell: _Cell) -> Any:
        from promptyard.tracing import _tracer

        tracer = _tracer()
        if tracer is None:
            return None
        return tracer.start_as_current_span(
            f"experiment {self.run.name}",
            attributes={
                ATTR_EXPERIMENT_ID: int(self.experiment["id"]),
                ATTR_EXPERIMENT_NAME: self.run.name,
                ATTR_EXAMPLE_ID: cell.example.id,
                ATTR_VARIANT: cell.variant.label,
                ATTR_REPETITION: cell.repetition,
                "input.value": _output_text(cell.example.input)[:8192],
            },
        )

    def _retries_left(self, exc: BaseException, retries: int) -> bool:
        """Is `exc` worth another try (Retryable, or one of `retry_on`), with tries left?"""
        retryable = isinstance(exc, Retryable) or (
            bool(self.retry_on) and isinstance(exc, self.retry_on)
        )
        return retryable and retries < self.max_retries

    def _args(self, cell: _Cell) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        task = cell.variant.task or self.task
        wants = self._wants.get(id(task))
        if wants is None:
            wants = self._wants[id(task)] = (_wants_variant(task), _is_async(task))
        args: tuple[Any, ...] = (cell.example, cell.variant) if wants[0] else (cell.example,)
        return task, args

    def _call_sync(self, cell: _Cell) -> tuple[Any, str, float, int]:
        """In a pool thread: the task under its span, retried; (output, error, ms, retries)."""
        task, args = self._args(cell)
        manager = self._span(cell)
        started = time.perf_counter()
        retries = 0
        span = manager.__enter__() if manager is not None else None
        try:
            while True:
                try:
                    output = task(*args)
                    error = ""
                    break
                except Exception as exc:  # noqa: BLE001 - recorded as the cell's error
                    if self._retries_left(exc, retries):
                        retries += 1
                        time.sleep(_backoff(retries))
                        continue
                    output, error = None, _failed(exc, span)
                    break
            if span is not None:
                span.set_attribute("output.value", _output_text(output)[:8192])
        finally:
            if manager is not None:
                manager.__exit__(None, None, None)
        return output, error, (time.perf_counter() - started) * 1000, retries

    async def _call_async(self, cell: _Cell) -> tuple[Any, str, float, int]:
        task, args = self._args(cell)
        manager = self._span(cell)
        started = time.perf_counter()
        retries = 0
        span = manager.__enter__() if manager is not None else None
        try:
            while True:
                try:
                    output = await task(*args)
                    error = ""
                    break
                except Exception as exc:  # noqa: BLE001 - recorded as the cell's error
                    if self._retries_left(exc, retries):
                        retries += 1
                        await asyncio.sleep(_backoff(retries))
                        continue
                    output, error = None, _failed(exc, span)
                    break
            if span is not None:
                span.set_attribute("output.value", _output_text(output)[:8192])
        finally:
            if manager is not None:
                manager.__exit__(None, None, None)
        return output, error, (time.perf_counter() - started) * 1000, retries

    async def _cell(self, cell: _Cell, loop: asyncio.AbstractEventLoop) -> None:
        task, _ = self._args(cell)
        if self._wants[id(task)][1]:
            output, error, ms, retries = await self._call_async(cell)
        else:
            context = contextvars.copy_context()
            output, error, ms, retries = await loop.run_in_executor(
                self.pool, functools.partial(context.run, self._call_sync, cell)
            )
        row: dict[str, Any] = {
            "variant": cell.variant.label,
            "example_id": cell.example.id,
            "repetition": cell.repetition,
            "latency_ms": int(ms),
        }
        if error:
            row["error"] = error[:5000]
            self.run.errors += 1
        else:
            row["output"] = _output_text(output)
            if self.evaluators:
                row["scores"] = [
                    e.score(output=output, example=cell.example, variant=cell.variant)
                    for e in self.evaluators
                ]
        self.run.ran += 1
        self.run.retries += retries
        self.pending.append(row)
        self._flush()
        if self.on_progress is not None:
            self.on_progress(self.run, self.run.ran)

    # uploads ---------------------------------------------------------------------------

    def _flush(self, *, force: bool = False) -> None:
        """Upload what is pending when a batch is full, or at once when no upload is in
        flight: rows never wait long, and the run's tail has little left to send."""
        if not self.pending:
            return
        self.in_flight = [f for f in self.in_flight if not f.done()]
        if not force and self.in_flight and len(self.pending) < self.batch_size:
            return
        batch, self.pending = self.pending[: self.batch_size], self.pending[self.batch_size :]
        self.in_flight.append(self.uploads.submit(self._upload, batch))
        if self.pending and force:
            self._flush(force=True)

    def _upload(self, batch: list[dict[str, Any]]) -> None:
        try:
            answer = self.api.call(
                "POST", f"experiments/{self.experiment['id']}/records/", json={"rows": batch}
            )
        except BaseException as exc:
            self.upload_error = exc
            raise
        with self.counts:
            self.run.stored += int(answer.get("stored", 0))
            self.run.duplicates += int(answer.get("duplicates", 0))

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(UPLOAD_INTERVAL)
            self._flush(force=True)

    # the run ---------------------------------------------------------------------------

    def _feed(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]) -> None:
        """In a thread: page through the cells while the tasks run (the next page is read
        before the lanes run dry), handing them to the loop."""

        def hand(item: Any) -> bool:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop has ended (the run failed): stop reading
                return False
            return not self.stopped

        try:
            for cell in self.cells():
                if not hand(cell):
                    return
        except BaseException as exc:  # noqa: BLE001 - raised in the loop
            hand(exc)
            return
        hand(None)

    async def main(self) -> None:
        completed = False
        loop = asyncio.get_running_loop()
        ticker = asyncio.create_task(self._ticker())
        running: set[asyncio.Task[None]] = set()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        feeder = threading.Thread(
            target=self._feed, args=(loop, queue), name="promptyard-cells", daemon=True
        )
        feeder.start()
        try:
            while True:
                if self.upload_error is not None:
                    raise ExperimentError(f"an upload failed: {self.upload_error}")
                cell = await queue.get()
                if cell is None:
                    break
                if isinstance(cell, BaseException):
                    raise cell
                if self.first_cell_at is None:
                    self.first_cell_at = time.perf_counter()
                while len(running) >= self.concurrency:
                    done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for finished in done:
                        finished.result()
                running.add(asyncio.create_task(self._cell(cell, loop)))
            if running:
                for finished in (await asyncio.wait(running))[0]:
                    finished.result()
            self.last_task_at = time.perf_counter()
            completed = True
        finally:
            self.stopped = True
            ticker.cancel()
            for pending in running:
                pending.cancel()
            # A run that ends well keeps its last rows for the finishing upload (one round
            # trip less); an interrupted one stores what it has.
            if not (completed and self.keep_last) or len(self.pending) > self.batch_size:
                self._flush(force=True)
            for future in list(self.in_flight):
                future.exception()  # wait for it; an error is raised below
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.uploads.shutdown(wait=True)
        if self.upload_error is not None:
            raise ExperimentError(f"an upload failed: {self.upload_error}")


def _failed(exc: BaseException, span: Any) -> str:
    """A task's failure as the cell's error, recorded on its span."""
    if span is not None:
        span.record_exception(exc)
    return f"{type(exc).__name__}: {exc}"


def _backoff(attempt: int) -> float:
    return float(min(30.0, 0.2 * 2.0 ** (attempt - 1)) * (0.5 + random.random()))


def _prepare(
    *,
    dataset: str | int,
    task: Callable[..., Any] | None,
    evaluators: Iterable[Callable[..., Any] | str | int],
    name: str | None,
    variants: Sequence[Variant] | None,
) -> tuple[str, list[Variant], list[_PyEvaluator], list[str]]:
    if task is None and not (variants and all(v.task for v in variants)):
        raise ValueError("give task=..., or a task on every variant")
    if not variants:
        label = getattr(task, "__name__", None) or "task"
        variants = [Variant(label=str(label)[:100], settings={"source_hash": source_hash(task)})]  # type: ignore[arg-type]
    py: list[_PyEvaluator] = []
    server: list[str] = []
    for evaluator in evaluators:
        if isinstance(evaluator, str | int) and not isinstance(evaluator, bool):
            server.append(str(evaluator))
        elif callable(evaluator):
            py.append(_PyEvaluator.of(evaluator))
        else:
            raise TypeError(
                f"an evaluator is a function or a server evaluator's name: {evaluator!r}"
            )
    if name is None:
        base = getattr(task, "__name__", None) or "experiment"
        name = f"{base} on {dataset} {time.strftime('%Y-%m-%d %H:%M:%S')}"
    return name, list(variants), py, server


def run_experiment(
    *,
    dataset: str | int,
    task: Callable[..., Any] | Callable[..., Awaitable[Any]] | None = None,
    evaluators: Iterable[Callable[..., Any] | str | int] = (),
    name: str | None = None,
    concurrency: int = 8,
    repetitions: int = 1,
    variants: Sequence[Variant] | None = None,
    dataset_revision: int | None = None,
    split: str = "",
    description: str = "",
    retry_on: Iterable[type[BaseException]] = (),
    max_retries: int = 3,
    batch_size: int = UPLOAD_BATCH,
    finish: bool = True,
    on_progress: Callable[[ExperimentRun, int], None] | None = None,
    client: Any = None,
    api_key: str | None = None,
    base_url: str | None = None,
) -> ExperimentRun:
    """Run `task` over a dataset's examples locally and record it as an experiment.

    `dataset` is a name or id; `dataset_revision` pins a revision (default: the latest).
    `evaluators` mixes Python functions (called with any of `output`, `expected`,
    `input`, `example`, `variant` they name; returning a bool, a number or a dict with
    value/passed/label/explanation) and server-side evaluators by name or id. With the
    same `name` as an earlier run, the run resumes it. `client` (a `Promptyard`) lends
    its key and server. Returns what the run did; the experiment is completed (or being
    scored by the server's evaluators) unless `finish=False`."""
    if concurrency < 1:
        raise ValueError("concurrency is at least 1")
    if repetitions < 1:
        raise ValueError("repetitions is at least 1")
    if not 1 <= batch_size <= 500:
        raise ValueError("batch_size is between 1 and 500")
    if client is not None:
        api_key = api_key or getattr(client, "api_key", None)
        base_url = base_url or getattr(client, "base_url", None)
    name, variant_list, py, server = _prepare(
        dataset=dataset, task=task, evaluators=evaluators, name=name, variants=variants
    )
    api = _Api(api_key, base_url)
    started = time.perf_counter()
    try:
        body: dict[str, Any] = {
            "name": name,
            "description": description,
            "variants": [v.as_body() for v in variant_list],
            "evaluators": server,
            "sdk_evaluators": [{"name": e.name, "source_hash": e.hash} for e in py],
            "repetitions": repetitions,
            "concurrency": concurrency,
            "split": split,
            "default_variant": not variants,
        }
        if isinstance(dataset, int):
            body["dataset"] = dataset
        else:
            body["dataset_name"] = dataset
        if dataset_revision is not None:
            body["dataset_revision"] = dataset_revision
        opened = api.call("POST", "experiments/code-runs/", json=body)
        opened_at = time.perf_counter()
        experiment = opened["experiment"]
        if not variants and experiment["variants"]:
            # Resumed under the label the first run gave its task.
            stored = experiment["variants"][0]["label"]
            variant_list = [replace(variant_list[0], label=stored)]
        pinned = {v["label"]: v.get("version") for v in experiment["variants"]}
        # A variant named by tag runs the version the tag pointed at when it was opened.
        variant_list = [
            replace(v, version=pinned.get(v.label), tag=None)
            if v.prompt and v.version is None and pinned.get(v.label)
            else v
            for v in variant_list
        ]
        run = ExperimentRun(
            experiment_id=int(experiment["id"]), name=name, created=bool(opened["created"])
        )
        runner = _Runner(
            api=api,
            experiment=experiment,
            variants=variant_list,
            task=task,  # type: ignore[arg-type]
            evaluators=py,
            concurrency=concurrency,
            retry_on=tuple(retry_on),
            max_retries=max_retries,
            batch_size=batch_size,
            run=run,
            on_progress=on_progress,
        )
        runner.keep_last = finish
        _run_loop(runner.main())
        ran_at = time.perf_counter()
        run.phases = {"open": opened_at - started, "run": ran_at - opened_at}
        if runner.first_cell_at is not None and runner.last_task_at is not None:
            # Waiting for the first examples, running tasks, uploading the last rows.
            run.phases["first_examples"] = runner.first_cell_at - opened_at
            run.phases["tasks"] = runner.last_task_at - runner.first_cell_at
            run.phases["last_upload"] = ran_at - runner.last_task_at
        if finish:
            # The last rows and the finish in one request.
            answer = api.call(
                "POST",
                f"experiments/{run.experiment_id}/records/",
                json={"rows": runner.pending, "finish": True},
            )
            run.stored += int(answer.get("stored", 0))
            run.duplicates += int(answer.get("duplicates", 0))
            runner.pending = []
            experiment = answer["experiment"]
        else:
            experiment = api.call("GET", f"experiments/{run.experiment_id}/")
        run.experiment = experiment
        run.status = experiment.get("status", "")
        run.phases["finish"] = time.perf_counter() - ran_at
    finally:
        api.close()
        _flush_spans()
    run.seconds = time.perf_counter() - started
    return run


def _flush_spans() -> None:
    try:
        from promptyard.tracing import flush_tracing

        flush_tracing(10_000)
    except Exception:  # noqa: BLE001 - tracing is best effort
        logger.debug("promptyard: flushing spans failed", exc_info=True)


def _run_loop(coroutine: Awaitable[None]) -> None:
    """asyncio.run, or in a thread of its own when the caller already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)  # type: ignore[arg-type]
        return
    error: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coroutine)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            error.append(exc)

    thread = threading.Thread(target=target, name="promptyard-experiment")
    thread.start()
    thread.join()
    if error:
        raise error[0]


async def arun_experiment(**kwargs: Any) -> ExperimentRun:
    """`run_experiment` from async code (it runs in a thread; the loop stays free)."""
    return await asyncio.to_thread(functools.partial(run_experiment, **kwargs))
