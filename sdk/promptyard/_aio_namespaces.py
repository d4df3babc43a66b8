"""The async client's areas: the methods of `promptyard._namespaces`, awaited.

Kept method for method in step with the sync ones (tests/sdk/test_sdk_client_live.py
checks that both have the same public methods).
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from promptyard._calls import FileInput, experiment_body
from promptyard._namespaces import ProgressCallback, _by_name, _tag_version
from promptyard.types import (
    AnnotationQueue,
    Comparison,
    Dataset,
    DatasetRevision,
    Experiment,
    ExperimentResult,
    PromotionRequest,
    PromptDiff,
    PromptInfo,
    PromptVersion,
    QueueFill,
    Score,
    Tag,
    TagEvent,
    Trace,
)

if TYPE_CHECKING:
    from promptyard.aio import AsyncPromptyard
    from promptyard.prompt import Prompt


class _Area:
    def __init__(self, client: AsyncPromptyard):
        self._client = client
        self._ops = client._ops


class Prompts(_Area):
    async def get(
        self,
        name: str,
        tag: str | None = "production",
        version: int | None = None,
        *,
        fallback: Any = None,
        cache_ttl: float | None = None,
        key: Any = None,
    ) -> Prompt:
        """The served prompt (cached, never down): the same as `client.get_prompt`."""
        return await self._client.get_prompt(
            name, tag, version, fallback=fallback, cache_ttl=cache_ttl, key=key
        )

    async def list(
        self, q: str | None = None, *, limit: int | None = None
    ) -> builtins.list[PromptInfo]:
        """The team's prompts (name, description, tags), optionally searched."""
        return await self._client._run_all(self._ops.prompt_list(q, limit))

    async def create(self, name: str, description: str = "") -> PromptInfo:
        """A new, empty prompt; add versions with `create_version`."""
        return await self._client._run(self._ops.prompt_create(name, description))

    async def create_version(
        self,
        name: str,
        *,
        template: str | None = None,
        messages: Sequence[Mapping[str, Any]] | None = None,
        commit_message: str,
        model_settings: Mapping[str, Any] | None = None,
        variables_schema: Mapping[str, Any] | None = None,
        parent: int | None = None,
    ) -> PromptVersion:
        """Save a new version: `template=` for a text prompt, `messages=` for a chat one.
        `model_settings` takes any Chat Completions parameter (model, temperature, seed,
        reasoning_effort, ...); the server checks their types and names a bad key."""
        call = self._ops.version_create(
            name,
            template=template,
            messages=messages,
            commit_message=commit_message,
            model_settings=model_settings,
            variables_schema=variables_schema,
            parent=parent,
        )
        return await self._client._run(call)

    async def versions(
        self, name: str, *, limit: int | None = None
    ) -> builtins.list[PromptVersion]:
        """Every version, newest first."""
        return await self._client._run_all(self._ops.version_list(name, limit))

    async def get_version(
        self, name: str, version: int | None = None, *, tag: str | None = None
    ) -> PromptVersion:
        """One saved version, by number or by the tag pointing at it (uncached)."""
        return await self._client._run(
            self._ops.version_get(name, await self._number(name, version, tag))
        )

    async def diff(self, name: str, from_version: int, to_version: int) -> PromptDiff:
        """What changed between two versions: content and model settings, as unified diffs."""
        return await self._client._run(self._ops.version_diff(name, from_version, to_version))

    async def _number(self, name: str, version: int | None, tag: str | None) -> int:
        if (version is None) == (tag is None):
            raise TypeError("give either a version number or tag=")
        if version is not None:
            return version
        return _tag_version(await self._client._run(self._ops.tag_list(name)), name, tag)


class Tags(_Area):
    async def list(self, prompt: str) -> builtins.list[Tag]:
        """The prompt's tags and the versions they point at."""
        return await self._client._run(self._ops.tag_list(prompt))

    async def move(self, prompt: str, tag: str, version: int, *, reason: str = "") -> TagEvent:
        """Point an unprotected tag at `version` (creating it if new). A protected tag
        raises PermissionDenied: use `request_promotion`. A frozen tag raises Conflict."""
        return await self._client._run(self._ops.tag_move(prompt, tag, version, reason))

    async def history(
        self, prompt: str, tag: str, *, limit: int | None = None
    ) -> builtins.list[TagEvent]:
        """Every move of the tag, newest first."""
        return await self._client._run_all(self._ops.tag_history(prompt, tag, limit))

    async def request_promotion(
        self,
        prompt: str,
        candidate: int,
        *,
        tag: str = "production",
        description: str = "",
        evidence: Sequence[int] = (),
        rollout_percent: int | None = None,
    ) -> PromotionRequest:
        """Ask for a protected tag to move to `candidate` (a teammate approves); `evidence`
        is experiment ids the reviewer and the tag's policy see."""
        call = self._ops.promotion_create(
            prompt,
            candidate=candidate,
            tag=tag,
            description=description,
            evidence=evidence,
            rollout_percent=rollout_percent,
        )
        return await self._client._run(call)

    async def promotions(
        self, prompt: str | None = None, *, status: str | None = None, limit: int | None = None
    ) -> builtins.list[PromotionRequest]:
        """Promotion requests, newest first (`status`: open, approved, rejected, ...)."""
        return await self._client._run_all(self._ops.promotion_list(prompt, status, limit))

    async def promotion(self, promotion_id: int) -> PromotionRequest:
        return await self._client._run(self._ops.promotion_get(promotion_id))


class Datasets(_Area):
    async def list(self, *, limit: int | None = None) -> builtins.list[Dataset]:
        return await self._client._run_all(self._ops.dataset_list(limit))

    async def create(self, name: str, description: str = "") -> Dataset:
        return await self._client._run(self._ops.dataset_create(name, description))

    async def get(self, dataset: int | str) -> Dataset:
        """A dataset by id or by name."""
        if isinstance(dataset, int):
            return await self._client._run(self._ops.dataset_get(dataset))
        return _by_name(await self.list(), dataset)

    async def add_rows(
        self, dataset: int | str, rows: Sequence[Mapping[str, Any]], *, message: str = ""
    ) -> DatasetRevision:
        """Add rows (`{"input": {...}, "expected": ..., "metadata": {...}, "split": ...}`)
        as one new revision: all of them or, when one is refused, none."""
        call = self._ops.dataset_add_rows(await self._id(dataset), rows, message)
        return await self._client._run(call)

    async def upload(
        self,
        dataset: int | str,
        file: FileInput,
        *,
        filename: str | None = None,
        format: str | None = None,
        mapping: Mapping[str, Any] | None = None,
    ) -> DatasetRevision:
        """Import a CSV, JSONL or JSON file (a path, bytes or a binary file object) as one
        new revision. `format` is guessed from the name when not given."""
        call = self._ops.dataset_upload(
            await self._id(dataset), file, filename=filename, format=format, mapping=mapping
        )
        return await self._client._run(call)

    async def revisions(
        self, dataset: int | str, *, limit: int | None = None
    ) -> builtins.list[DatasetRevision]:
        return await self._client._run_all(
            self._ops.dataset_revisions(await self._id(dataset), limit)
        )

    async def rows(
        self,
        dataset: int | str,
        *,
        revision: int | None = None,
        split: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[dict[str, Any]]:
        """The examples of a revision (default: the current one) as plain dicts with id,
        input, expected, metadata and split: `pandas.DataFrame(rows)` takes them as is."""
        call = self._ops.dataset_rows(await self._id(dataset), revision, split, limit)
        return await self._client._run_all(call)

    async def _id(self, dataset: int | str) -> int:
        return dataset if isinstance(dataset, int) else (await self.get(dataset)).id


class Experiments(_Area):
    async def list(
        self,
        *,
        status: str | None = None,
        dataset: int | None = None,
        limit: int | None = None,
    ) -> builtins.list[Experiment]:
        return await self._client._run_all(self._ops.experiment_list(status, dataset, limit))

    async def create(
        self,
        name: str,
        *,
        dataset: int | str,
        variants: Sequence[Mapping[str, Any]],
        evaluators: Sequence[str | int] = (),
        description: str = "",
        dataset_revision: int | None = None,
        split: str = "",
        repetitions: int = 1,
        concurrency: int = 8,
        cost_cap: float | None = None,
        allow_unpriced: bool = False,
        start: bool = False,
    ) -> Experiment:
        """An experiment of prompt versions over a dataset (id or name). A variant is
        `{"prompt": name, "version": 3}` or `{"prompt": name, "tag": "production"}`, with
        optional `overrides` (model settings), `label` and `is_baseline`. Not started unless
        `start=True`: see `start` and `wait`."""
        body = experiment_body(
            name=name,
            dataset=dataset,
            variants=variants,
            evaluators=evaluators,
            description=description,
            dataset_revision=dataset_revision,
            split=split,
            repetitions=repetitions,
            concurrency=concurrency,
            cost_cap=cost_cap,
            allow_unpriced=allow_unpriced,
            start=start,
        )
        return await self._client._run(self._ops.experiment_create(body))

    async def get(self, experiment_id: int) -> Experiment:
        return await self._client._run(self._ops.experiment_get(experiment_id))

    async def start(self, experiment_id: int) -> Experiment:
        """Queue a draft experiment for the workers."""
        return await self._client._run(self._ops.experiment_action("start", experiment_id))

    async def cancel(self, experiment_id: int) -> Experiment:
        return await self._client._run(self._ops.experiment_action("cancel", experiment_id))

    async def wait(
        self,
        experiment_id: int,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        on_progress: ProgressCallback | None = None,
    ) -> Experiment:
        """Poll until the experiment is finished (completed, failed, cancelled or capped);
        `on_progress(experiment)` is called after every poll. Raises TimeoutError after
        `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            experiment = await self.get(experiment_id)
            if on_progress is not None:
                outcome = on_progress(experiment)
                if asyncio.iscoroutine(outcome):
                    await outcome
            if experiment.finished:
                return experiment
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"experiment {experiment_id} is still {experiment.status} "
                    f"({experiment.done_count}/{experiment.total_cells})"
                )
            await asyncio.sleep(poll_interval)

    async def results(
        self,
        experiment_id: int,
        *,
        variant: int | None = None,
        errors: bool | None = None,
        failed: bool | None = None,
        limit: int | None = None,
    ) -> builtins.list[ExperimentResult]:
        """Every result row (one per example, variant and repetition) with its scores."""
        call = self._ops.experiment_results(
            experiment_id, variant=variant, errors=errors, failed=failed, limit=limit
        )
        return await self._client._run_all(call)

    async def compare(
        self, experiment_id: int, *, rule: str | None = None, threshold: float | None = None
    ) -> Comparison:
        """The comparison page's statistics and the gate's verdict."""
        return await self._client._run(
            self._ops.experiment_comparison(experiment_id, rule, threshold)
        )


class Scores(_Area):
    async def create(
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
        """The same as `client.score` (retried under one id, so stored once)."""
        return await self._client.score(
            trace_id=trace_id,
            name=name,
            value=value,
            span_id=span_id,
            comment=comment,
            author=author,
            score_id=score_id,
        )

    async def list(
        self, *, trace_id: str | None = None, name: str | None = None, limit: int | None = 100
    ) -> builtins.list[Score]:
        return await self._client._run_all(self._ops.score_list(trace_id, name, limit))


class Annotations(_Area):
    async def queues(self, *, limit: int | None = None) -> builtins.list[AnnotationQueue]:
        return await self._client._run_all(self._ops.queue_list(limit))

    async def create_queue(
        self,
        name: str,
        *,
        instructions: str = "",
        form_fields: Sequence[Mapping[str, Any]] | None = None,
    ) -> AnnotationQueue:
        return await self._client._run(self._ops.queue_create(name, instructions, form_fields))

    async def fill(
        self,
        queue_id: int,
        *,
        experiment_id: int,
        mode: str = "all",
        sample_size: int | None = None,
        seed: int | None = None,
        baseline_variant: str | None = None,
        candidate_variant: str | None = None,
    ) -> QueueFill:
        """Add an experiment's results to a queue for people to review (`mode`: all,
        failed, sample or regressions)."""
        call = self._ops.queue_fill(
            queue_id,
            experiment_id=experiment_id,
            mode=mode,
            sample_size=sample_size,
            seed=seed,
            baseline_variant=baseline_variant,
            candidate_variant=candidate_variant,
        )
        return await self._client._run(call)


class Traces(_Area):
    async def list(self, *, limit: int | None = 100, **filters: Any) -> builtins.list[Trace]:
        """Traces, newest first (without their spans). Filters as in the explorer: range,
        start, end, name, status, model, prompt, version, function, function_version, q,
        session, user, score."""
        return await self._client._run_all(self._ops.trace_list(filters, limit))

    async def get(self, trace_id: str) -> Trace:
        """One trace with all its spans."""
        return await self._client._run(self._ops.trace_get(trace_id))

    async def spans(self, trace_id: str) -> builtins.list[Any]:
        """The spans of one trace (parents before children, by start)."""
        return list((await self.get(trace_id)).spans)
