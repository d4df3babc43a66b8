"""Evaluating a candidate prompt on examples: render, call the task model, score.

The same pieces as an experiment's cells (apps.experiments: PreparedPrompt, the gateway's
`acomplete` through the openai SDK, the evaluator registry and judges, the CostLedger), run
for a batch of (candidate, example) pairs on one event loop. Every evaluation is stored once
under (run, candidate key, example id) and read back instead of calling again, so a resumed
run repeats nothing it stored. Budgets hold by reservation: a call starts only when one more
call fits `max_calls` and its worst-case cost fits the cost cap.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import heapq
import itertools
import json
import queue
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django.db.models import Count, Sum

from apps.annotations.models import Annotation
from apps.datasets.selectors import examples_at_revision
from apps.experiments.evaluators import REGISTRY, EvalContext
from apps.experiments.evaluators import evaluate as evaluate_code
from apps.experiments.evaluators.judge import KIND as JUDGE_KIND
from apps.experiments.evaluators.judge import resolve_judge
from apps.experiments.ledger import CAPPED_OUTPUT_TOKENS, CostLedger
from apps.experiments.runner import PreparedPrompt
from apps.llm import gateway
from apps.llm.model_settings import ModelSettings
from apps.llm.models import ProviderConfig
from apps.optimisation.models import Evaluation, OptimisationRun, Reflection

SYSTEM_ROLES = ("system", "developer")
STORE_EVERY = 0.05  # seconds between stores of finished background evaluations


class BudgetExhausted(Exception):
    """A call would pass the run's cap on model calls or cost: nothing more is started."""


def candidate_key(components: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(components, sort_keys=True).encode()).hexdigest()


def seed_components(version) -> dict[str, str]:
    """What the search may rewrite: a chat prompt's system (or developer) messages, a text
    prompt's template. The user message with its variables stays as written."""
    if version.kind == "chat":
        found = {}
        for index, message in enumerate(version.messages or []):
            if message.get("role") in SYSTEM_ROLES:
                found[f"message_{index}"] = message.get("content") or ""
        if found:
            return found
    return {"template": version.template or ""}


def candidate_prompt(version, components: dict[str, str]) -> SimpleNamespace:
    """The starting version with the components replaced (what PreparedPrompt renders)."""
    messages = [dict(m) for m in version.messages or []]
    template = version.template or ""
    for name, text in components.items():
        if name == "template":
            template = text
        else:
            messages[int(name.split("_", 1)[1])]["content"] = text
    return SimpleNamespace(
        kind=version.kind,
        template=template,
        messages=messages,
        variables_schema=version.variables_schema,
    )


class _Slots:
    """The run's concurrency, shared by the search's evaluations and background ones.

    The search waits on its evaluations (its critical path); a background evaluation (the
    held-out split, measured while the search goes on) fills the slots the search leaves
    idle: it leaves `reserve` of them (a minibatch) free for the search, and a waiting
    search call takes the next free slot before any waiting background call.
    """

    def __init__(self, size: int, *, reserve: int):
        self.size = max(1, size)
        self.background_cap = max(1, self.size - reserve)
        self.used = 0
        self.background = 0
        self._waiting: list[tuple[int, int, asyncio.Future, bool]] = []
        self._order = itertools.count()

    def _fits(self, background: bool) -> bool:
        if self.used >= self.size:
            return False
        return not background or self.background < self.background_cap

    def _take(self, background: bool) -> None:
        self.used += 1
        self.background += background

    @contextlib.asynccontextmanager
    async def slot(self, *, background: bool = False) -> AsyncIterator[None]:
        ahead = self._waiting and self._waiting[0][0] <= int(background)
        if not ahead and self._fits(background):
            self._take(background)
        else:
            waiter = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (int(background), next(self._order), waiter, background))
            try:
                await waiter  # the slot is taken on our behalf when it is handed over
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._give_back(background)
                raise
        try:
            yield
        finally:
            self._give_back(background)

    def _give_back(self, background: bool) -> None:
        self.used -= 1
        self.background -= background
        while self._waiting:
            _, _, waiter, waiting_background = self._waiting[0]
            if waiter.cancelled():
                heapq.heappop(self._waiting)
                continue
            if not self._fits(waiting_background):
                return
            heapq.heappop(self._waiting)
            self._take(waiting_background)
            waiter.set_result(None)


@dataclass
class Verdict:
    name: str
    passed: bool | None
    value: float | None
    explanation: str
    feedback: str


@dataclass
class Outcome:
    output: str = ""
    error: str = ""
    verdicts: list[Verdict] = field(default_factory=list)
    cost: float | None = None

    @property
    def score(self) -> float:
        if self.error or not self.verdicts:
            return 0.0
        return sum(v.value or 0.0 for v in self.verdicts) / len(self.verdicts)

    @property
    def passed(self) -> bool:
        return not self.error and all(v.passed for v in self.verdicts)


def _feedback(evaluator, outcome, expected) -> str:
    """The verdict as feedback a reflection model can act on: what the evaluator said, and
    what it expected (the example's expected field, or the fixed texts it looks for)."""
    if outcome.passed:
        return f"{evaluator.name} passed."
    parts = [f"{evaluator.name} failed: {outcome.explanation}"]
    if evaluator.description:
        parts.append(f"({evaluator.description})")
    params = evaluator.params or {}
    name = params.get("expected_field")
    if name and isinstance(expected, dict) and name in expected:
        parts.append(f'The reply was expected {name} "{expected[name]}".')
    for literal in params.get("values") or []:
        if literal.casefold() not in (outcome.output_seen or "").casefold():
            parts.append(f'The reply was missing literal "{literal}".')
    return " ".join(parts)


def _provider(provider_id: int | None) -> ProviderConfig | None:
    if provider_id is None:
        return None
    return ProviderConfig.objects.filter(pk=provider_id).first()


@dataclass
class _Seen:
    passed: bool | None
    explanation: str
    output_seen: str


class Evaluator:
    """The run's task model, evaluators, examples and budget, shared by every batch."""

    def __init__(self, run: OptimisationRun, *, holdback_calls: int = 0):
        self.run = run
        self.version = run.prompt_version
        self.settings = ModelSettings.from_stored(run.task_settings)
        self.provider = _provider(self.settings.provider_id)
        self.reflection_settings = ModelSettings.from_stored(run.reflection_settings)
        self.reflection_provider = _provider(self.reflection_settings.provider_id)
        if run.max_cost is not None:
            if self.settings.max_tokens is None:
                self.settings = self.settings.replace(max_tokens=CAPPED_OUTPUT_TOKENS)
            if self.reflection_settings.max_tokens is None:
                self.reflection_settings = self.reflection_settings.replace(
                    max_tokens=CAPPED_OUTPUT_TOKENS
                )
        self.evaluators = list(run.evaluators.order_by("pk"))
        self.judges: dict[int, Any] = {}
        for evaluator in self.evaluators:
            if evaluator.kind == JUDGE_KIND:
                try:
                    self.judges[evaluator.pk] = resolve_judge(evaluator.params)
                except Exception as exc:  # noqa: BLE001 - an error verdict per row
                    self.judges[evaluator.pk] = exc
        self.examples = {
            str(e.example_id): e
            for e in examples_at_revision(run.dataset, run.dataset_revision).filter(
                example_id__in=[*run.train_ids, *run.validation_ids]
            )
        }
        self.reasoning = self._annotator_reasoning()
        # Every stored row of the run, by candidate key (a resumed run's are read once, here;
        # rows never change once stored).
        stored = list(Evaluation.objects.filter(run=run))
        self._known: dict[str, dict[str, Evaluation]] = {}
        for row in stored:
            self._known.setdefault(row.candidate_key, {})[str(row.example_id)] = row
        reflections = Reflection.objects.filter(run=run).aggregate(n=Count("pk"), s=Sum("cost"))
        spent = float(sum(row.cost or 0 for row in stored) + (reflections["s"] or 0))
        # Calls made so far: one per stored evaluation and reflection (a resumed run counts
        # what it already spent against its cap).
        self.calls = len(stored) + reflections["n"]
        self.in_flight = 0
        self.exhausted: BudgetExhausted | None = None  # the cap that stopped a call
        self.holdback_calls = holdback_calls
        # Calls a background evaluation of the held-out split is still owed: the search
        # cannot spend them (they are `final`), so the comparison keeps its reference.
        self.promised = 0
        self.ledger = CostLedger(
            cap=None if run.max_cost is None else float(run.max_cost), spent=spent
        )
        self.slots = _Slots(run.concurrency, reserve=run.minibatch_size)
        # Background evaluations by candidate key: stored when next asked for, or at close.
        self._pending: dict[str, tuple[concurrent.futures.Future, frozenset[str]]] = {}
        # (candidate key, example id, outcome) of background evaluations, as they finish.
        self._finished: queue.SimpleQueue = queue.SimpleQueue()
        # The model calls run on an event loop of their own thread: the caller's thread may
        # have a loop running already (a browser test's), and keeps the ORM synchronous.
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="optimisation-calls", daemon=True
        )
        self._thread.start()

    def _run(self, coroutine: Any) -> Any:
        return self._wait(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def _wait(self, future: concurrent.futures.Future) -> Any:
        """The future's result; meanwhile what background evaluations finish is stored
        every STORE_EVERY seconds, so a killed worker loses only the calls in flight."""
        while True:
            try:
                return future.result(timeout=STORE_EVERY)
            except concurrent.futures.TimeoutError:
                self._store_finished()

    def _store_finished(self) -> None:
        """Store the background evaluations finished so far (one insert per candidate)."""
        by_key: dict[str, dict[str, Outcome]] = {}
        while True:
            try:
                key, example_id, outcome = self._finished.get_nowait()
            except queue.Empty:
                break
            by_key.setdefault(key, {})[example_id] = outcome
        for key, outcomes in by_key.items():
            self._store(key, outcomes)

    def close(self) -> None:
        try:
            for key in list(self._pending):
                self._collect(key)  # what the calls made is stored: a resume repeats none
            self._run(gateway.aclose_loop_clients())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            self.loop.close()

    def _annotator_reasoning(self) -> dict[str, list[str]]:
        queue = self.run.annotation_queue
        if queue is None:
            return {}
        found: dict[str, list[str]] = {}
        rows = Annotation.objects.filter(item__queue=queue, item__result__isnull=False).values_list(
            "item__result__example_id", "passed", "reasoning"
        )
        for example_id, passed, reasoning in rows:
            if reasoning:
                verdict = "pass" if passed else "fail"
                found.setdefault(str(example_id), []).append(f"Annotator ({verdict}): {reasoning}")
        return found

    # --- budget -------------------------------------------------------------------------

    def _take_call(self, *, final: bool = False) -> None:
        limit = self.run.max_calls - (0 if final else self.holdback_calls + self.promised)
        if self.calls + self.in_flight + 1 > limit:
            self.exhausted = BudgetExhausted(f"the cap of {self.run.max_calls} model calls")
            raise self.exhausted
        self.in_flight += 1

    def _release_call(self, made: bool) -> None:
        self.in_flight -= 1
        if made:
            self.calls += 1

    @property
    def spent(self) -> float:
        return self.ledger.spent

    # --- evaluation ---------------------------------------------------------------------

    def evaluate(
        self, components: dict[str, str], example_ids: list[str], *, final: bool = False
    ) -> dict[str, Evaluation]:
        """Each example's stored evaluation of the candidate, evaluating the missing ones.
        Raises BudgetExhausted (after storing what finished) when the cap stops a call."""
        key = candidate_key(components)
        self._store_finished()
        self._collect(key, needed=example_ids)
        stored = self._stored(key, example_ids)
        missing = [i for i in dict.fromkeys(example_ids) if i not in stored]
        if missing:
            prepared = PreparedPrompt(candidate_prompt(self.version, components))
            outcomes, stop = self._run(self._evaluate_all(prepared, missing, final=final))
            stored.update(self._store(key, outcomes))
            if stop is not None:
                raise stop
        return stored

    def prefetch(self, components: dict[str, str], example_ids: list[str]) -> None:
        """Start evaluating the candidate on these examples in the slots the search leaves
        idle, without waiting: what finishes is stored while this thread waits on anything
        else (`_wait`), and the next `evaluate` of the candidate (or `close`) waits for the
        rest. The calls are held back from the search's budget, as the best's validation
        is, so the search cannot leave them without the calls they need."""
        key = candidate_key(components)
        if key in self._pending:
            return
        stored = self._stored(key, example_ids)
        missing = [i for i in dict.fromkeys(example_ids) if i not in stored]
        if missing:
            prepared = PreparedPrompt(candidate_prompt(self.version, components))
            self.promised += len(missing)
            future = asyncio.run_coroutine_threadsafe(
                self._evaluate_all(prepared, missing, final=True, background=key), self.loop
            )
            self._pending[key] = (future, frozenset(missing))

    def _collect(self, key: str, *, needed: list[str] | None = None) -> None:
        """Store a background evaluation of the candidate: waiting for it when it covers
        examples `needed` (None: always), else only if it has finished. A cap it met is
        already on `exhausted`; the caller's own calls meet it again."""
        pending = self._pending.get(key)
        if pending is None:
            return
        future, covers = pending
        if needed is not None and covers.isdisjoint(needed) and not future.done():
            return
        del self._pending[key]
        self._wait(future)
        self._store_finished()

    def _stored(self, key: str, example_ids: list[str]) -> dict[str, Evaluation]:
        """The stored evaluations of these examples, from memory: the run's rows were read
        when this evaluator started and every row stored since is read back by `_store`."""
        known = self._known.get(key, {})
        return {i: known[i] for i in example_ids if i in known}

    def _store(self, key: str, outcomes: dict[str, Outcome]) -> dict[str, Evaluation]:
        """One insert for the batch; a row another worker stored first is kept (theirs)."""
        rows = [
            Evaluation(
                team=self.run.team,
                run=self.run,
                candidate_key=key,
                example_id=example_id,
                output=outcome.output,
                error=outcome.error,
                score=outcome.score,
                passed=outcome.passed,
                verdicts=[v.__dict__ for v in outcome.verdicts],
                cost=None if outcome.cost is None else Decimal(str(round(outcome.cost, 8))),
            )
            for example_id, outcome in outcomes.items()
        ]
        Evaluation.objects.bulk_create(rows, ignore_conflicts=True)
        known = self._known.setdefault(key, {})
        for row in Evaluation.objects.filter(
            run=self.run, candidate_key=key, example_id__in=list(outcomes)
        ):
            known[str(row.example_id)] = row
        return self._stored(key, list(outcomes))

    async def _evaluate_all(
        self, prepared, example_ids, *, final: bool, background: str | None = None
    ):
        """Evaluate the examples; `background` (the candidate's key) hands each outcome to
        `_finished` as it comes instead, for the calling thread to store."""
        outcomes: dict[str, Outcome] = {}
        stop: list[BudgetExhausted] = []

        async def one(example_id: str) -> None:
            try:
                async with self.slots.slot(background=background is not None):
                    if stop:
                        return
                    try:
                        outcome = await self._evaluate_one(
                            prepared, self.examples[example_id], final=final
                        )
                    except BudgetExhausted as exc:
                        stop.append(exc)
                        return
                    if background is None:
                        outcomes[example_id] = outcome
                    else:
                        self._finished.put((background, example_id, outcome))
            finally:
                if background is not None:
                    self.promised -= 1

        await asyncio.gather(*(one(i) for i in example_ids))
        return outcomes, (stop[0] if stop else None)

    async def _evaluate_one(self, prepared, example, *, final: bool) -> Outcome:
        try:
            messages = prepared.render(example.input or {})
        except Exception as exc:  # noqa: BLE001 - a candidate that cannot render scores 0
            return Outcome(error=f"The candidate does not render: {exc}")
        if self.provider is None or not self.settings.model:
            return Outcome(error="No task model: choose a provider and model for the run.")
        self._take_call(final=final)
        made = False
        try:
            bound = gateway.cost_bound(
                self.provider,
                self.settings,
                messages,
                output_tokens=self.settings.max_tokens or 0,
            )
            reserved = await self.ledger.reserve(bound)
            if reserved is None:
                self.exhausted = BudgetExhausted(f"the cost cap of ${self.run.max_cost}")
                raise self.exhausted
            try:
                made = True
                completion = await gateway.acomplete(
                    self.provider, settings=self.settings, messages=messages
                )
            except gateway.GatewayError as exc:
                self.ledger.settle(reserved, None)
                return Outcome(error=str(exc))
            self.ledger.settle(reserved, completion.cost)
        finally:
            self._release_call(made)
        outcome = Outcome(output=completion.text, cost=completion.cost)
        ctx = EvalContext(
            output=completion.text,
            expected=example.expected,
            input=example.input or {},
            latency_ms=completion.latency_ms,
            cost=completion.cost,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
        )
        for evaluator in self.evaluators:
            if evaluator.kind == JUDGE_KIND:
                judge = self.judges[evaluator.pk]
                if isinstance(judge, Exception):
                    outcome.verdicts.append(
                        Verdict(
                            evaluator.name, None, None, str(judge), f"{evaluator.name}: {judge}"
                        )
                    )
                    continue
                self._take_call(final=final)
                try:
                    result, cost = await judge.ajudge_with_cost(ctx, ledger=self.ledger)
                finally:
                    self._release_call(True)
                outcome.cost = (outcome.cost or 0.0) + cost
            elif evaluator.kind in REGISTRY:
                result = evaluate_code(evaluator.kind, evaluator.params or {}, ctx)
            else:
                outcome.verdicts.append(
                    Verdict(evaluator.name, None, None, "Unknown evaluator kind.", "")
                )
                continue
            seen = _Seen(result.passed, result.explanation, completion.text)
            outcome.verdicts.append(
                Verdict(
                    evaluator.name,
                    result.passed,
                    result.value,
                    result.explanation,
                    _feedback(evaluator, seen, example.expected),
                )
            )
        return outcome

    # --- reflection ---------------------------------------------------------------------

    def reflect(self, prompt: str) -> str:
        """The reflection model's answer to `prompt`, stored under the prompt's hash."""
        key = hashlib.sha256(prompt.encode()).hexdigest()
        stored = Reflection.objects.filter(run=self.run, key=key).first()
        if stored is not None:
            return stored.answer
        if self.reflection_provider is None or not self.reflection_settings.model:
            raise BudgetExhausted("no reflection model: choose a provider and model")
        messages = [{"role": "user", "content": prompt}]
        answer, cost = self._run(self._reflect(messages))
        Reflection.objects.get_or_create(
            run=self.run,
            key=key,
            defaults={
                "team": self.run.team,
                "answer": answer,
                "cost": None if cost is None else Decimal(str(round(cost, 8))),
            },
        )
        return answer

    async def _reflect(self, messages):
        self._take_call()
        try:
            bound = gateway.cost_bound(
                self.reflection_provider,
                self.reflection_settings,
                messages,
                output_tokens=self.reflection_settings.max_tokens or 0,
            )
            reserved = await self.ledger.reserve(bound)
            if reserved is None:
                self.exhausted = BudgetExhausted(f"the cost cap of ${self.run.max_cost}")
                raise self.exhausted
            try:
                completion = await gateway.acomplete(
                    self.reflection_provider, settings=self.reflection_settings, messages=messages
                )
            except BaseException:
                self.ledger.settle(reserved, None)
                raise
            self.ledger.settle(reserved, completion.cost)
        finally:
            self._release_call(True)
        return completion.text, completion.cost
