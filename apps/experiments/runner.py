"""Running an experiment: model calls concurrently, every finished cell stored at once.

Threads: the calling thread (the task worker) owns the database; an event loop in a helper
thread makes the model calls (the gateway's `acomplete`) and scores the outputs. Finished
cells cross over through a queue and are written by the calling thread in a batch every
STORE_WINDOW (one INSERT of results returning ids, one of scores), so a worker killed at
any moment loses only calls in flight or finished within the window, and a resumed run
skips every stored cell.

Several workers run one experiment at once: its cells are split into shards (ranges of
example positions) that each worker claims under a lease (apps/experiments/sharding.py).
The database thread claims a shard, hands its missing cells to the lanes, claims the next
before they run dry, renews its leases with the heartbeat and marks a shard done once all
its cells are stored. A worker that finds no shard left ends its part; the last one to
finish a shard completes the run.

Calls are paced by what the provider says is left of its rate limit: its rate-limit
headers on every answer (`gateway.RateBudgets`) hold calls that would only draw a 429.
For a provider that sends none, concurrency is adaptive (AIMD): it starts at the
experiment's `concurrency`, is cut on a rate limit (at most once per cool-down) and grows
back per window of successes. See `AdaptiveLimiter`.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import math
import queue
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.core.tenancy import team_scope
from apps.core.worker import (
    DB_ERRORS,
    RetryLater,
    backoff,
    is_transient,
    reset_connections,
    worker_retries_supported,
)
from apps.experiments import scheduling, sharding
from apps.experiments.chain_steps import StepPlan, plan_steps, run_steps
from apps.experiments.evaluators import (
    REGISTRY,
    SOURCE_CODE,
    SOURCE_LLM,
    EvalContext,
    evaluate,
    resolve_judge,
)
from apps.experiments.evaluators.base import error as error_outcome
from apps.experiments.evaluators.judge import KIND as JUDGE_KIND
from apps.experiments.ledger import CAPPED_OUTPUT_TOKENS, CostLedger
from apps.experiments.models import (
    Experiment,
    ExperimentEvaluator,
    Result,
    Score,
    Shard,
    Status,
    Variant,
)
from apps.experiments.prepared import PreparedPrompt, render_messages  # noqa: F401 - re-exported
from apps.experiments.selectors import experiment_examples, is_stale
from apps.experiments.services.code_runs import code_evaluators_run

# Imported here, not on the first call: the openai SDK takes ~0.5 s to import, which
# would otherwise be spent inside the first run a worker makes, on the event loop.
from apps.llm.gateway import (
    RETRYABLE,
    GatewayError,
    RateBudget,
    RateBudgets,
    aclose_loop_clients,
    acomplete,
    backoff_delay,
    cost_bound,
    warm_async_client,
    warm_up,
)
from apps.llm.model_settings import ModelSettings
from apps.llm.models import ProviderConfig
from apps.prompts.models import Kind
from apps.prompts.rendering import RenderError
from apps.teams.models import Team

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 0.5  # seconds between counter/heartbeat writes and cancel checks
# Seconds between looks for a queued run this one should step aside for, once its turn is
# over: a queued run's wait for a worker is about this long, not a whole progress period.
TURN_CHECK_EVERY = 0.1
# Finished cells wait at most this long to be stored together: a batch per window rather
# than a transaction per cell or two, which at hundreds of cells per second cost the
# event loop's thread more CPU (the GIL) than the model calls. A kill loses at most the
# cells finished within the window; a resume runs them again.
STORE_WINDOW = 0.05
RATE_LIMIT_ATTEMPTS = 40  # a cell keeps waiting its turn through this many 429s
MAX_CUT_COOLDOWN = 5.0  # a Retry-After longer than this does not hold cuts longer


# PostgreSQL's multi-row INSERTs (see ExperimentRunner._store_pg): one statement per
# batch, the rows passed as one array per column. (A VALUES list of 16 placeholders a row
# costs more CPU than the model instances it replaces: psycopg parses a query that long in
# Python on every execute, uncached.) Every NOT NULL column is given explicitly: the
# model defaults live in Python, not in the database.
_PG_INSERT_RESULTS = (
    f"INSERT INTO {Result._meta.db_table} (team_id, experiment_id, created_at, variant_id, "
    "example_id, position, repetition, input, expected, output, error, error_kind, "
    "latency_ms, input_tokens, output_tokens, cost, steps) "
    "SELECT %s, %s, %s, t.* FROM unnest(%s::integer[], %s::uuid[], %s::bigint[], "
    "%s::integer[], %s::jsonb[], %s::jsonb[], %s::text[], %s::text[], %s::text[], "
    "%s::integer[], %s::integer[], %s::integer[], %s::numeric[], %s::jsonb[]) AS t "
    "ON CONFLICT (experiment_id, variant_id, example_id, repetition) DO NOTHING "
    "RETURNING id, variant_id, example_id, repetition"
)
_PG_INSERT_SCORES = (
    f"INSERT INTO {Score._meta.db_table} (team_id, experiment_id, created_at, author_id, "
    "result_id, evaluator_id, evaluator_version, evaluator_name, value, passed, label, "
    "explanation, source) "
    "SELECT %s, %s, %s, NULL, t.* FROM unnest(%s::bigint[], %s::bigint[], %s::integer[], "
    "%s::text[], %s::double precision[], %s::boolean[], %s::text[], %s::text[], "
    "%s::text[]) AS t "
    "ON CONFLICT DO NOTHING"
)


class _NoReturnedIds(Exception):
    """The database did not return the new rows' ids (no RETURNING): take the slow path."""


@dataclass
class _Budget:
    """One rate limit's budget as the latest answer stated it, and when it came."""

    remaining: int
    limit: float  # the most it holds (inf: not said)
    rate: float | None  # units a second it refills at (None: the headers do not say)
    until: float  # monotonic time past which it is not trusted (see AdaptiveLimiter)
    at: float  # monotonic time the answer came
    started: int  # the answering call's number: calls started after it may not be counted


class AdaptiveLimiter:
    """Paces calls by the provider's rate-limit headers; AIMD on calls in flight without.

    Budget pacing (providers that say what is left on every answer, as OpenAI, Anthropic
    and demo-echo do). The latest answer says R requests (and T tokens) remain and when the
    limit is whole again; (limit - R) / reset is the rate it refills at. A call may start
    while R minus the calls this worker started after the answered call was sent (times
    the tokens a call uses, for tokens: the answer may not count them yet, whenever the
    provider wrote its headers) leaves RESERVE_SHARE of the limit in the bucket; otherwise
    the lanes hold until a newer answer says more is left. (The bucket so keeps about the
    calls in flight unspent: it must hold more than that, as a provider's minute's worth
    does.) Answers are the clock: with calls in flight they come far more often than once
    per round trip, and each one (a 429's too) is the provider's own count of every
    client's calls, so worker processes (or other clients of the same key) sharing the
    limit see each other's use within one answer, the reserve absorbing what two of them
    start in between. Only when no answer has come for a round trip does the refill count,
    at the rate the headers imply: the lanes resume when it covers a call, and that call's
    answer says anew. (Counting the refill at once would let every worker spend the same
    refill, each pacing to the whole rate.) A budget is trusted until a newer answer
    replaces it, for at most as long as the limit takes to refill from empty (its reset,
    or BUDGET_TTL, when no rate is known): then the next call goes and its answer says
    anew, so calls whose answers never come (timeouts) cannot hold the lanes for good.
    A 429 whose headers say the budget is spent cuts nothing: the gate already holds the
    lanes until it refills. One whose headers say plenty is left is no overload of the
    stated limit (a random fault, another client's burst, a limit the headers do not
    state): the AIMD below judges it as it would without headers, and its own check lets
    random faults pass.

    AIMD (the fallback, for providers that send no such headers). A provider limits a rate
    (requests or tokens per second), so the calls in flight it sustains are its accepted
    rate times the round trip. On a 429 (at most once per cool-down: a cut shows in the
    answers only after the calls in flight return, about two round trips, or the server's
    Retry-After when that is longer) the limit goes down to
    that: the successes of the last few round trips times the round trip, but never below
    half the current limit (one noisy window cannot crash it) nor above 0.9 of it.
    Growth is additive: +1 per round trip of successes while no 429 came for HOLD seconds
    (finding the limit fast), and +1 per PROBE_SECONDS near a limit met lately (a provider's
    burst allowance absorbs the small overshoot, so 429s stay few). Each lane honours its
    own Retry-After (`ExperimentRunner._call`), holding its slot when the wait is short, so
    it is not spent by another lane drawing the next 429 at once; the other lanes go on.
    A 429 while the provider answers three quarters or more of the calls in flight (by
    call-seconds, over the same span) is no overload signal (a random fault, another
    client's burst): no cut.
    """

    HOLD = 10.0  # seconds after a 429 during which growth is cautious
    PROBE_SECONDS = 1.0  # near a limit met lately: +1 at most this often
    MIN_COOLDOWN = 0.05
    MIN_ANSWERS = 8  # a measure of the accepted rate counts at least this many answers
    HISTORY = 2.0  # seconds of answers kept to measure it
    RESERVE_SHARE = 0.02  # of a stated limit, kept unspent against other clients' calls
    BUDGET_TTL = 1.0  # seconds a budget without a reset time is trusted

    def __init__(self, limit: int, *, minimum: int = 1):
        self.maximum = max(1, limit)
        self.minimum = minimum
        self.limit = float(self.maximum)
        self.in_flight = 0
        self.cuts = 0
        self.lowest = self.maximum
        self.srtt: float | None = None  # smoothed round trip of a successful call (s)
        self._last_cut = -1e9
        self._last_limit = -1e9  # the last 429
        self._last_probe = -1e9
        self._successes: deque[float] = deque()  # when recent successes returned
        # Calls in flight integrated over time (call-seconds), and its value as each of
        # those successes returned: the mean calls in flight over any recent span.
        self._area = 0.0
        self._area_at = time.monotonic()
        self._busy: deque[float] = deque()
        # Seconds of answered calls, summed, as each success returned: the calls in flight
        # that were answered, over the same spans.
        self._answered = 0.0
        self._answered_at: deque[float] = deque()
        self._cond = asyncio.Condition()
        # Budget pacing: the latest stated budget per kind ("requests", "tokens"), the
        # calls started so far, the tokens a call uses (smoothed), and how often a call
        # was held for the budget.
        self._budgets: dict[str, _Budget] = {}
        self._rates: dict[str, float] = {}  # the refill rate last stated, per kind
        self.started = 0
        self.tokens_per_call: float | None = None
        self.held = 0

    @property
    def current(self) -> int:
        return max(self.minimum, int(self.limit))

    @property
    def round_trip(self) -> float:
        return self.srtt if self.srtt is not None else 0.1

    def _integrate(self, now: float) -> float:
        self._area += self.in_flight * max(0.0, now - self._area_at)
        self._area_at = now
        return self._area

    async def acquire(self) -> int:
        """Wait for a slot within the limit and for the provider's budget, then take it.
        Returns the call's number (pass it to `on_budget` with the call's answer)."""
        async with self._cond:
            counted = False
            while True:
                await self._cond.wait_for(lambda: self.in_flight < self.current)
                wait = self.budget_wait(time.monotonic())
                if wait <= 0:
                    break
                if not counted:
                    counted = True
                    self.held += 1
                try:  # a newer answer (release() notifies) or the refill, whichever first
                    async with asyncio.timeout(wait):
                        await self._cond.wait()
                except TimeoutError:
                    pass
            self._integrate(time.monotonic())
            self.in_flight += 1
            self.started += 1
            return self.started

    # --- budget pacing ---

    def on_budget(self, budgets: RateBudgets | None, call: int, tokens: int | None = None) -> None:
        """The answer (of any status) to call number `call` (what `acquire` returned) came
        with the provider's `budgets` (None: it stated none); `tokens`: what it used."""
        if tokens is not None and tokens > 0:
            self.tokens_per_call = (
                float(tokens)
                if self.tokens_per_call is None
                else 0.875 * self.tokens_per_call + 0.125 * tokens
            )
        if budgets is None:
            return
        now = time.monotonic()
        for kind, budget in (("requests", budgets.requests), ("tokens", budgets.tokens)):
            if budget is not None:
                self._budgets[kind] = self._anchor(kind, budget, now, call)

    def _anchor(self, kind: str, budget: RateBudget, now: float, call: int) -> _Budget:
        limit = float(budget.limit) if budget.limit is not None else math.inf
        # A whole bucket states no rate (nothing is missing): the last one stated holds.
        rate = budget.refill_rate
        if rate is not None:
            self._rates[kind] = rate
        else:
            rate = self._rates.get(kind)
        if rate and math.isfinite(limit):
            trusted = limit / rate  # as long as it takes to refill from empty
        else:
            trusted = budget.reset_s if budget.reset_s is not None else self.BUDGET_TTL
        return _Budget(
            remaining=budget.remaining,
            limit=limit,
            rate=rate,
            until=now + trusted,
            at=now,
            started=call,
        )

    def _cost_and_reserve(self, kind: str, limit: float) -> tuple[float, float]:
        """(what one call takes of a `kind` budget, what is kept unspent of `limit`)."""
        cost = 1.0 if kind == "requests" else max(1.0, self.tokens_per_call or 1.0)
        reserve = math.floor(self.RESERVE_SHARE * limit) if math.isfinite(limit) else 0
        return cost, reserve

    def _spent(self, budgets: RateBudgets) -> bool:
        """Do `budgets` say too little is left for another call?"""
        for kind, budget in (("requests", budgets.requests), ("tokens", budgets.tokens)):
            if budget is not None:
                limit = float(budget.limit) if budget.limit is not None else math.inf
                cost, reserve = self._cost_and_reserve(kind, limit)
                if budget.remaining < reserve + cost:
                    return True
        return False

    def budget_wait(self, now: float) -> float:
        """Seconds a call must wait for the provider's budget (0: it may start now)."""
        wait = 0.0
        for kind, budget in list(self._budgets.items()):
            if now >= budget.until:
                del self._budgets[kind]  # too old to trust
                continue
            cost, reserve = self._cost_and_reserve(kind, budget.limit)
            # The refill counts from a round trip after the answer: until then the next
            # answer (of this worker's calls in flight) tells better, and other workers
            # take from the same refill.
            credit_from = budget.at + self.round_trip
            refilled = budget.rate * max(0.0, now - credit_from) if budget.rate else 0.0
            available = min(budget.limit, budget.remaining + refilled)
            available -= (self.started - budget.started) * cost
            short = reserve + cost - available
            if short <= 0:
                continue
            # Until the refill covers it, and never past the time it is trusted.
            until = max(now, credit_from) + short / budget.rate if budget.rate else budget.until
            wait = max(wait, min(until, budget.until) - now)
        return wait

    async def release(self) -> None:
        async with self._cond:
            self._integrate(time.monotonic())
            self.in_flight -= 1
            self._cond.notify_all()

    def set_maximum(self, maximum: int) -> None:
        """The run's concurrency share of this worker changed (another worker joined or
        left). Without a 429 lately the limit is the new share; else the limit found is
        scaled by it (the provider's capacity is now shared by more or fewer workers)."""
        before, self.maximum = self.maximum, max(1, maximum)
        if time.monotonic() - self._last_limit >= self.HOLD:
            self.limit = float(self.maximum)
        else:  # a limit met lately is shared too: this worker's part of it scales
            scaled = self.limit * self.maximum / before
            self.limit = min(float(self.maximum), max(float(self.minimum), scaled))

    def _window(self) -> float:
        return min(2.0, max(0.1, 4 * self.round_trip))

    def on_success(self, seconds: float | None = None) -> None:
        now = time.monotonic()
        if seconds is not None and seconds > 0:
            self.srtt = seconds if self.srtt is None else 0.875 * self.srtt + 0.125 * seconds
        self._answered += seconds if seconds is not None and seconds > 0 else self.round_trip
        self._successes.append(now)
        self._busy.append(self._integrate(now))
        self._answered_at.append(self._answered)
        horizon = now - self.HISTORY
        while self._successes and self._successes[0] < horizon:
            self._successes.popleft()
            self._busy.popleft()
            self._answered_at.popleft()
        if self.limit >= self.maximum:
            return
        if now - self._last_limit >= self.HOLD:
            self.limit = min(self.maximum, self.limit + 1.0 / self.limit)
        elif now - self._last_probe >= self.PROBE_SECONDS and now - self._last_cut >= (
            self.PROBE_SECONDS
        ):
            self._last_probe = now
            self.limit = min(float(self.maximum), self.limit + 1.0)

    def measured(self) -> tuple[float, float] | None:
        """(calls in flight the provider's accepted rate sustains, calls that were in flight
        meanwhile) over the last few round trips, or as far back as it takes to count
        MIN_ANSWERS answers (up to HISTORY seconds); None: too few answers."""
        if self.srtt is None or not self._successes:
            return None
        now = time.monotonic()
        window = self._window()
        times, busy, answered = list(self._successes), list(self._busy), list(self._answered_at)
        first = bisect.bisect_left(times, now - window)
        if len(times) - first < self.MIN_ANSWERS:
            first = max(0, len(times) - self.MIN_ANSWERS)
            window = now - times[first]
        count = len(times) - first
        if count < 3 or window <= 0:
            return None
        span = now - times[first]
        if span <= 0:
            return None
        # Both over the same span: answered call-seconds and call-seconds in flight.
        accepted = (self._answered - answered[first]) / span
        used = (self._integrate(now) - busy[first]) / span
        return accepted, used

    def accepted_in_flight(self) -> float | None:
        """Calls in flight the provider's accepted rate sustains (None: too few answers)."""
        measured = self.measured()
        return None if measured is None else measured[0]

    def on_rate_limit(
        self, retry_after: float | None = None, budgets: RateBudgets | None = None
    ) -> None:
        if budgets is not None and self._spent(budgets):
            # The provider says its budget is spent: the budget gate holds the lanes until
            # it refills (on_budget has the answer). No cut.
            return
        now = time.monotonic()
        self._last_limit = now
        cooldown = max(
            self.MIN_COOLDOWN, 2 * self.round_trip, min(retry_after or 0.0, MAX_CUT_COOLDOWN)
        )
        if now - self._last_cut < cooldown:
            return  # the same overload, answered before the last cut could show
        measured = self.measured()
        target, used = measured if measured is not None else (None, float(self.limit))
        if target is not None and target >= 0.75 * min(used, self.limit):
            # The provider answers most of the calls in flight (by call-seconds: a 429
            # past a limit comes back at once, a held slot counts as in flight): these
            # 429s are no overload of ours (random faults, another client's burst).
            return
        self._last_cut = now
        if target is None:  # too few answers to measure: halve at the start, else less
            cut = self.limit * (0.5 if self.srtt is None else 0.75)
        else:
            cut = min(self.limit * 0.9, target)
        self.limit = max(float(self.minimum), self.limit * 0.5, cut)
        self.cuts += 1
        self.lowest = min(self.lowest, self.current)

    def holds_slot(self, wait: float) -> bool:
        """Does a lane waiting `wait` keep its slot? Yes for a short wait (the server says
        "soon": letting another lane in at once only draws the next 429); no for a long
        one (the other lanes should not lose a slot for a second or more)."""
        return wait <= 4 * self.round_trip

    def wait_after_rate_limit(self, retry_after: float | None, attempt: int) -> float:
        """How long one lane waits before asking again: the server's Retry-After (never
        less), at least a round trip (a 429 comes back at once; asking again sooner only
        draws another), jittered so waiting lanes do not return together."""
        floor = self.round_trip * min(attempt, 4)
        wait = max(retry_after if retry_after is not None else 0.0, floor)
        return wait + random.uniform(0, max(self.round_trip, 0.1 * wait))


@dataclass
class Cell:
    variant_id: int
    example_id: Any
    position: int
    repetition: int
    input: dict
    expected: Any
    shard: int | None = None  # the shard (id) it was claimed with


@dataclass
class VariantPlan:
    variant: Variant
    provider: Any
    settings: ModelSettings
    prompt: PreparedPrompt
    steps: list[StepPlan] | None = None  # a chain's steps, in order
    chain_error: str = ""  # a chain whose steps do not resolve: every cell reports it


@dataclass(frozen=True)
class StepLink:
    """An evaluator applied to one step of a chain: scored like the evaluator, stored
    under "<evaluator> · <step>" with no evaluator id (one score per result and name)."""

    kind: str
    params: dict
    name: str
    evaluator_version: int
    evaluator_id: None = None


@dataclass
class EvaluatorPlan:
    link: ExperimentEvaluator
    judge: Any = None  # BoundJudge for LLM judges


@dataclass
class Finished:
    """A cell's outcome, built in the event loop, written by the database thread."""

    cell: Cell
    fields: dict
    scores: list = field(default_factory=list)  # (EvaluatorPlan, EvalOutcome)
    extra_cost: float = 0.0  # judge calls


class ExperimentRunner:
    def __init__(
        self,
        experiment: Experiment,
        *,
        batch_size: int = 200,
        turn_seconds: float | None = None,
        joined: bool = False,
    ):
        self.experiment = experiment
        self.team = experiment.team
        self.batch_size = batch_size
        # A run given a turn by the scheduler steps aside after this long when another run
        # waits (apps/experiments/scheduling.py); None: run to the end.
        self.turn_seconds = turn_seconds
        self.joined = joined  # this worker joined another worker's run (it holds no slot)
        self.stop_reason: str | None = None  # "cancelled" | "capped" | "yielded"
        self._stop = threading.Event()
        # Set by the event loop once every lane has ended (all finished cells are queued):
        # the database thread stores the last batch at once, while the loop closes clients.
        self._lanes_done = threading.Event()
        self._done: queue.Queue = queue.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._live_tasks: set = set()
        self._async_error: BaseException | None = None
        self.ledger = CostLedger(cap=None)
        # Every cell (its model call and its scoring) and every judge call runs under a
        # time limit; code evaluators cannot be interrupted in the loop's thread and are
        # bounded by construction instead (see apps/experiments/evaluators).
        self.cell_timeout = float(settings.PROMPTYARD_CELL_TIMEOUT_SECONDS)
        self.judge_timeout = float(settings.PROMPTYARD_EVALUATOR_TIMEOUT_SECONDS)
        self.calls = 0
        self.requests = 0  # model calls made, retries included
        self.rate_limited = 0
        self.limiter: AdaptiveLimiter | None = None
        # Shards: who this worker is in leases, the cells handed to the lanes and not yet
        # started (the loop takes from the left), and per shard held the cells not stored.
        self.worker = sharding.worker_label()
        self.shards_claimed = 0
        self._pending: deque[Cell] = deque()
        self._feed_closed = threading.Event()
        self._more: asyncio.Event | None = None
        self._outstanding: dict[int, int] = {}
        self._share = experiment.concurrency  # this worker's share of the run's concurrency

    # --- planning (database thread) ----------------------------------------------------

    def prepare(self) -> None:
        """What every shard needs: the variants, evaluators, ledger and the run's size."""
        experiment = self.experiment
        self.variants = {}
        for variant in Variant.objects.filter(experiment=experiment).select_related(
            "prompt_version", "prompt_version__prompt"
        ):
            settings_ = ModelSettings.from_stored(variant.settings)
            provider = (
                ProviderConfig.objects.filter(pk=settings_.provider_id).first()
                if settings_.provider_id is not None
                else None  # no provider chosen: the cells report it
            )
            variant_plan = VariantPlan(
                variant=variant,
                provider=provider,
                settings=settings_,
                prompt=PreparedPrompt(variant.prompt_version),
            )
            if variant.prompt_version is not None and variant.prompt_version.kind == Kind.CHAIN:
                self._plan_chain(variant_plan)
            self.variants[variant.pk] = variant_plan
        self.evaluators = []
        for link in ExperimentEvaluator.objects.filter(experiment=experiment):
            plan = EvaluatorPlan(link=link)
            if link.kind == JUDGE_KIND:
                try:
                    plan.judge = resolve_judge(link.params)
                except Exception as exc:  # noqa: BLE001 - becomes an error score per row
                    plan.judge = exc
            elif link.kind not in REGISTRY:
                plan.judge = ValueError(f"Unknown evaluator kind '{link.kind}'.")
            self.evaluators.append(plan)

        examples = self._examples().count()
        total = examples * len(self.variants) * experiment.repetitions
        spent = Result.objects.filter(experiment=experiment).aggregate(s=Sum("cost"))["s"]
        cap = experiment.cost_cap
        self.ledger = CostLedger(cap=None if cap is None else float(cap), spent=float(spent or 0))
        if cap is not None:
            # An unbounded answer has no worst case: bound it so the cap can hold.
            for variant_plan in self.variants.values():
                # max_completion_tokens bounds it too (sending both is refused by some).
                call_plans: list[VariantPlan | StepPlan] = [variant_plan]
                call_plans.extend(variant_plan.steps or [])
                for call_plan in call_plans:
                    if call_plan.settings.output_token_limit is None:
                        call_plan.settings = call_plan.settings.replace(
                            max_tokens=CAPPED_OUTPUT_TOKENS
                        )
        if total != experiment.total_cells:
            # reason: the run this worker claimed, by its primary key.
            Experiment.objects.unscoped().filter(pk=experiment.pk).update(total_cells=total)
            experiment.total_cells = total

    def _plan_chain(self, plan: VariantPlan) -> None:
        """A chain variant's steps, resolved when the run starts (tags read now), each on
        its version's own model (else the team default): apps/experiments/chain_steps.py."""
        version = plan.variant.prompt_version
        assert version is not None, "only a prompt version is a chain"
        try:
            plan.steps = plan_steps(version, team=self.team)
        except ValidationFailed as exc:
            plan.chain_error = exc.message

    def _examples(self):
        return experiment_examples(self.experiment)

    def cells_for(self, shard: Shard) -> list[Cell]:
        """The shard's cells that have no stored result (a resumed or re-claimed shard runs
        only what is missing)."""
        span = {"position__gte": shard.position_from, "position__lte": shard.position_to}
        done = set(
            Result.objects.filter(experiment=self.experiment, **span).values_list(
                "variant_id", "example_id", "repetition"
            )
        )
        cells = []
        for example_id, position, input_, expected in (
            self._examples()
            .filter(**span)
            .values_list("example_id", "position", "input", "expected")
        ):
            for variant_id in self.variants:
                for repetition in range(self.experiment.repetitions):
                    if (variant_id, example_id, repetition) in done:
                        continue
                    cells.append(
                        Cell(
                            variant_id, example_id, position, repetition, input_, expected, shard.pk
                        )
                    )
        return cells

    # --- shards (database thread) --------------------------------------------------------

    def _fill(self) -> None:
        """Claim shards while fewer cells wait for a lane than this worker has lanes: the
        next shard is held before the current one runs dry, so lanes never idle between
        shards, and no more than that is held from the other workers."""
        while (
            not self._feed_closed.is_set()
            and not self._stop.is_set()
            and len(self._pending) < max(1, self._share)
        ):
            if self._cap_reached():
                return
            shard = sharding.shard_claim(self.experiment, self.worker)
            if shard is None:
                self._close_feed()  # nothing left to claim: the lanes end when idle
                return
            self.shards_claimed += 1
            cells = self.cells_for(shard)
            if not cells:
                sharding.shard_finish(shard.pk)
                continue
            self._outstanding[shard.pk] = len(cells)
            self._pending.extend(cells)
            self._wake()

    def _settle_shards(self, batch: list[Finished]) -> None:
        """Count stored cells against their shards; a shard with all stored is done."""
        for item in batch:
            shard_id = item.cell.shard
            if shard_id is None or shard_id not in self._outstanding:
                continue
            self._outstanding[shard_id] -= 1
            if self._outstanding[shard_id] <= 0:
                del self._outstanding[shard_id]
                sharding.shard_finish(shard_id)

    def _share_concurrency(self) -> None:
        """The run's concurrency is shared by the workers on it: take this one's share."""
        if not self._outstanding:
            return
        workers = max(1, sharding.workers_on(self.experiment))
        share = max(1, math.ceil(self.experiment.concurrency / workers))
        limiter, loop = self.limiter, self._loop
        if limiter is None or loop is None or share == limiter.maximum:
            return
        try:
            loop.call_soon_threadsafe(limiter.set_maximum, share)
        except RuntimeError:
            pass  # the loop has closed

    def _wake(self) -> None:
        loop, more = self._loop, self._more
        if loop is None or more is None:
            return  # the lanes have not started: they will find the cells
        try:
            loop.call_soon_threadsafe(more.set)
        except RuntimeError:
            pass  # the loop has closed

    def _close_feed(self) -> None:
        self._feed_closed.set()
        self._wake()

    # --- the event loop side -----------------------------------------------------------

    @property
    def spent(self) -> float:
        return self.ledger.spent

    def _cap_reached(self) -> bool:
        cap = self.ledger.cap
        return self.ledger.capped or (cap is not None and self.ledger.spent >= cap)

    async def _amain(self) -> None:
        self._more = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.limiter = AdaptiveLimiter(self._share)
        self._judges = asyncio.Semaphore(self.experiment.concurrency)
        pending = self._pending  # shared by the lanes: each cell is taken once
        # The async clients need this loop; create them before the lanes start rather
        # than inside the first call.
        for plan in self.variants.values():
            if plan.provider is not None:
                warm_async_client(plan.provider)

        async def lane() -> None:
            # One of `concurrency` lanes, each running cells one after another: the next
            # cell starts as soon as the last is scored, in the same task, without a round
            # trip through a semaphore and a new task per cell on a busy loop. The database
            # thread adds each claimed shard's cells to `pending` and wakes idle lanes.
            more = self._more
            assert more is not None
            while True:
                if self._stop.is_set():
                    return
                if self._cap_reached():
                    self.stop_reason = self.stop_reason or "capped"
                    return
                try:
                    cell = pending.popleft()
                except IndexError:
                    if self._feed_closed.is_set():
                        return
                    more.clear()
                    await more.wait()
                    continue
                await self._cell(cell)

        try:
            for _ in range(max(1, self.experiment.concurrency)):
                task = asyncio.create_task(lane())
                self._live_tasks.add(task)
                task.add_done_callback(self._live_tasks.discard)
            if self._live_tasks:
                await asyncio.gather(*list(self._live_tasks), return_exceptions=True)
        finally:
            self._lanes_done.set()
            # Async clients belong to this loop, which is about to close.
            await aclose_loop_clients()

    def _cancel_in_flight(self) -> None:
        for task in list(self._live_tasks):
            task.cancel()

    def request_stop(self, reason: str) -> None:
        """Called from the database thread: stop launching; a cancel also drops calls in flight."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()
        self._close_feed()
        if reason == "cancelled" and self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._cancel_in_flight)
            except RuntimeError:
                pass

    async def _call(self, plan: VariantPlan | StepPlan, messages: list[dict]):
        attempts = 0
        other_failures = 0
        retries = getattr(plan.provider, "max_retries", 3)
        limiter = self.limiter
        assert limiter is not None, "_amain creates the limiter before any lane starts"
        while True:
            attempts += 1
            call = await limiter.acquire()
            self.requests += 1
            try:
                sent = time.monotonic()
                completion = await acomplete(
                    plan.provider,
                    settings=plan.settings,
                    messages=messages,
                    max_retries=0,  # retries happen here, where the limit can adapt
                )
                limiter.on_success(time.monotonic() - sent)
                limiter.on_budget(
                    completion.rate_budgets,
                    call,
                    completion.input_tokens + completion.output_tokens,
                )
                return completion, None, attempts
            except GatewayError as exc:
                failure = exc
                limiter.on_budget(failure.rate_budgets, call)
                if failure.kind == "rate_limit":
                    self.rate_limited += 1
                    limiter.on_rate_limit(failure.retry_after, failure.rate_budgets)
                    if attempts >= RATE_LIMIT_ATTEMPTS:
                        return None, failure, attempts
                    # This lane waits its Retry-After; the other lanes go on with theirs,
                    # within the new limit. A short wait keeps the slot (see holds_slot).
                    wait = limiter.wait_after_rate_limit(failure.retry_after, attempts)
                    if limiter.holds_slot(wait):
                        await asyncio.sleep(wait)
                        wait = 0.0
            finally:
                await limiter.release()
            if failure.kind == "rate_limit":
                if wait:
                    await asyncio.sleep(wait)
                continue
            other_failures += 1
            if failure.kind not in RETRYABLE or other_failures > retries:
                return None, failure, attempts
            await asyncio.sleep(backoff_delay(other_failures, failure.retry_after))

    async def _cell(self, cell: Cell) -> None:
        try:
            try:
                async with asyncio.timeout(self.cell_timeout):
                    finished = await self._run_cell(cell)
            except TimeoutError:
                finished = Finished(
                    cell,
                    {
                        "error": f"The cell timed out after {self.cell_timeout:g} s "
                        "(model call and scoring); the run went on without it.",
                        "error_kind": "timeout",
                    },
                )
            if finished is None:
                return  # not started: its worst case would cross the cost cap
            self._done.put(finished)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing row never fails the run
            logger.exception("experiment %s: cell failed", self.experiment.pk)
            self._done.put(
                Finished(
                    cell=cell,
                    fields={
                        "error": f"Internal error: {type(exc).__name__}: {exc}",
                        "error_kind": "internal",
                    },
                )
            )

    async def _reserved_call(self, plan: VariantPlan | StepPlan, messages: list[dict]):
        """One model call with its worst case reserved first: (completion, failure), or
        None when the reservation would cross the cost cap (the call is not made)."""
        bound = cost_bound(
            plan.provider,
            plan.settings,
            messages,
            output_tokens=plan.settings.output_token_limit or CAPPED_OUTPUT_TOKENS,
        )
        reserved = await self.ledger.reserve(bound)
        if reserved is None:
            return None
        self.calls += 1
        completion = None
        abandoned = False
        try:
            completion, failure, _ = await self._call(plan, messages)
        except asyncio.CancelledError:
            abandoned = True
            raise
        finally:
            # A call stopped mid-way (the time limit, a cancel) may still be billed: its
            # worst case stays spent, so the cap holds.
            actual = (
                reserved if abandoned else (completion.cost if completion is not None else None)
            )
            self.ledger.settle(reserved, actual)
        return completion, failure

    async def _run_chain(self, cell: Cell, plan: VariantPlan, values: dict) -> Finished | None:
        """A chain cell: its steps in order, each fed the chain's values and the earlier
        outputs; the last output is the cell's, scored like any; with `score_steps` every
        step's output is scored too."""
        if plan.chain_error or not plan.steps:
            return Finished(
                cell, {"error": plan.chain_error or "No steps.", "error_kind": "config"}
            )
        outcome = await run_steps(plan.steps, values, call=self._reserved_call)
        if outcome.not_started:
            return None  # not started: its worst case would cross the cost cap
        if outcome.error:
            return Finished(
                cell,
                {
                    "error": outcome.error,
                    "error_kind": outcome.error_kind,
                    "steps": outcome.records,
                },
            )
        fields = outcome.totals()
        records = outcome.records
        finished = Finished(cell, fields)
        ctx = EvalContext(
            output=fields["output"],
            expected=cell.expected,
            input=values,
            latency_ms=fields["latency_ms"],
            cost=fields["cost"],
            input_tokens=fields["input_tokens"],
            output_tokens=fields["output_tokens"],
        )
        for evaluator in self.evaluators:
            finished.scores.append((evaluator, await self._score(evaluator, ctx, finished)))
        if self.experiment.score_steps:
            for record in records:
                step_ctx = EvalContext(
                    output=record["output"],
                    expected=cell.expected,
                    input=values,
                    latency_ms=record["latency_ms"],
                    cost=record["cost"],
                    input_tokens=record["input_tokens"],
                    output_tokens=record["output_tokens"],
                )
                for evaluator in self.evaluators:
                    link = evaluator.link
                    per_step = EvaluatorPlan(
                        link=StepLink(  # type: ignore[arg-type]  # scored like the link
                            kind=link.kind,
                            params=link.params,
                            name=f"{link.name} · {record['name']}"[:100],
                            evaluator_version=link.evaluator_version,
                        ),
                        judge=evaluator.judge,
                    )
                    finished.scores.append(
                        (per_step, await self._score(per_step, step_ctx, finished))
                    )
        return finished

    async def _run_cell(self, cell: Cell) -> Finished | None:
        plan = self.variants[cell.variant_id]
        values = cell.input if isinstance(cell.input, dict) else {"input": cell.input}
        if plan.steps is not None or plan.chain_error:
            return await self._run_chain(cell, plan, values)
        if plan.provider is None:
            return Finished(
                cell,
                {"error": "The variant's model provider no longer exists.", "error_kind": "config"},
            )
        try:
            messages = plan.prompt.render(values)
        except RenderError as exc:
            return Finished(
                cell,
                {"error": f"The prompt failed to render: {exc.message}", "error_kind": "render"},
            )
        called = await self._reserved_call(plan, messages)
        if called is None:
            return None
        completion, failure = called
        if failure is not None:
            return Finished(cell, {"error": failure.message, "error_kind": failure.kind})
        output = completion.text
        if not output and completion.tool_calls:
            output = json.dumps(completion.tool_calls, ensure_ascii=False)
        fields = {
            "output": output,
            "latency_ms": completion.latency_ms,
            "input_tokens": completion.input_tokens,
            "output_tokens": completion.output_tokens,
            "cost": completion.cost,
        }
        finished = Finished(cell, fields)
        ctx = EvalContext(
            output=output,
            expected=cell.expected,
            input=values,
            latency_ms=completion.latency_ms,
            cost=completion.cost,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
        )
        for evaluator in self.evaluators:
            finished.scores.append((evaluator, await self._score(evaluator, ctx, finished)))
        return finished

    async def _score(self, evaluator: EvaluatorPlan, ctx: EvalContext, finished: Finished):
        link = evaluator.link
        if isinstance(evaluator.judge, Exception):
            message = getattr(evaluator.judge, "message", None) or str(evaluator.judge)
            return error_outcome(f"Evaluator unavailable: {message}")
        if link.kind != JUDGE_KIND:
            return evaluate(link.kind, link.params, ctx)
        try:
            async with self._judges, asyncio.timeout(self.judge_timeout):
                outcome, cost = await evaluator.judge.ajudge_with_cost(ctx, ledger=self.ledger)
        except TimeoutError:
            return error_outcome(f"The judge timed out after {self.judge_timeout:g} s.")
        finished.extra_cost += cost or 0.0
        return outcome

    def _loop_thread(self) -> None:
        try:
            asyncio.run(self._amain())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the database thread
            self._async_error = exc
        finally:
            self._lanes_done.set()

    # --- the database side -------------------------------------------------------------

    def _store(self, batch: list[Finished]) -> None:
        """Store finished cells with their scores, one transaction per batch.

        The usual case (no other worker stored any of these cells) is one INSERT of the
        results returning their ids and one INSERT of the scores. If a cell is already
        stored (a duplicate task raced this one), the batch is rolled back and stored again
        skipping what exists (ON CONFLICT DO NOTHING, then a lookup of the ids).
        """
        if connection.vendor == "postgresql":
            self._store_pg(batch)
            return
        rows = self._result_rows(batch)
        try:
            with transaction.atomic():
                Result.objects.bulk_create(rows)  # PostgreSQL/SQLite return the new ids
                if all(row.pk is not None for row in rows):
                    ids = {
                        (row.variant_id, str(row.example_id), row.repetition): row.pk
                        for row in rows
                    }
                    self._store_scores(batch, ids)
                    return
                raise _NoReturnedIds
        except (IntegrityError, _NoReturnedIds):
            pass
        with transaction.atomic():
            Result.objects.bulk_create(self._result_rows(batch), ignore_conflicts=True)
            scored = [item for item in batch if item.scores]
            if not scored:
                return
            ids = {
                (v, str(e), r): pk
                for pk, v, e, r in Result.objects.filter(
                    experiment=self.experiment,
                    example_id__in={item.cell.example_id for item in scored},
                ).values_list("pk", "variant_id", "example_id", "repetition")
            }
            self._store_scores(scored, ids)

    def _store_pg(self, batch: list[Finished]) -> None:
        """PostgreSQL: one multi-row INSERT of the results from plain tuples (no model
        instances: building ~2,000 of them per 1,000 rows held the GIL the event loop
        needs), skipping stored cells and returning the new ids, then one of the scores."""
        from psycopg.types.json import Jsonb

        now = timezone.now()
        team_id = self.team.pk
        experiment_id = self.experiment.pk
        rows = []
        for item in batch:
            cell = item.cell
            get = item.fields.get
            cost = get("cost")
            rows.append(
                (
                    cell.variant_id,
                    cell.example_id,
                    cell.position,
                    cell.repetition,
                    None if cell.input is None else Jsonb(cell.input),
                    None if cell.expected is None else Jsonb(cell.expected),
                    get("output") or "",
                    get("error") or "",
                    get("error_kind") or "",
                    get("latency_ms"),
                    get("input_tokens"),
                    get("output_tokens"),
                    None if cost is None else Decimal(str(cost)),
                    None if get("steps") is None else Jsonb(get("steps")),
                )
            )
        head: list[int | datetime] = [team_id, experiment_id, now]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                _PG_INSERT_RESULTS, head + [list(column) for column in zip(*rows, strict=True)]
            )
            returned = cursor.fetchall()
            scored = [item for item in batch if item.scores]
            if not scored:
                return
            ids = {(v, str(e), r): pk for pk, v, e, r in returned}
            if len(returned) < len(rows):
                # Some cells were stored already (a duplicate task raced this one): their
                # scores go to the stored results (ON CONFLICT skips those it has).
                ids = {
                    (v, str(e), r): pk
                    for pk, v, e, r in Result.objects.filter(
                        experiment=self.experiment,
                        example_id__in={item.cell.example_id for item in scored},
                    ).values_list("pk", "variant_id", "example_id", "repetition")
                }
            scores = []
            for item in scored:
                cell = item.cell
                result_id = ids.get((cell.variant_id, str(cell.example_id), cell.repetition))
                if result_id is None:
                    continue
                for plan, outcome in item.scores:
                    link = plan.link
                    scores.append(
                        (
                            result_id,
                            link.evaluator_id,
                            link.evaluator_version,
                            link.name or "",
                            None if outcome.value is None else float(outcome.value),
                            None if outcome.passed is None else bool(outcome.passed),
                            outcome.label or "",
                            (outcome.explanation or "")[:5000],
                            SOURCE_LLM if link.kind == JUDGE_KIND else SOURCE_CODE,
                        )
                    )
            if scores:
                cursor.execute(
                    _PG_INSERT_SCORES, head + [list(column) for column in zip(*scores, strict=True)]
                )

    def _result_rows(self, batch: list[Finished]) -> list[Result]:
        rows = []
        for item in batch:
            cell = item.cell
            fields = item.fields
            if fields.get("cost") is not None:
                fields = {**fields, "cost": Decimal(str(fields["cost"]))}
            rows.append(
                Result(
                    team=self.team,
                    experiment=self.experiment,
                    variant_id=cell.variant_id,
                    example_id=cell.example_id,
                    position=cell.position,
                    repetition=cell.repetition,
                    input=cell.input,
                    expected=cell.expected,
                    **fields,
                )
            )
        return rows

    def _store_scores(self, batch: list[Finished], ids: dict) -> None:
        now = timezone.now()
        scores = []
        for item in batch:
            cell = item.cell
            result_id = ids.get((cell.variant_id, str(cell.example_id), cell.repetition))
            if result_id is None:
                continue
            for plan, outcome in item.scores:
                link = plan.link
                scores.append(
                    Score(
                        team=self.team,
                        result_id=result_id,
                        experiment=self.experiment,
                        evaluator_id=link.evaluator_id,
                        evaluator_version=link.evaluator_version,
                        evaluator_name=link.name,
                        value=outcome.value,
                        passed=outcome.passed,
                        label=outcome.label,
                        explanation=outcome.explanation[:5000],
                        source=SOURCE_LLM if link.kind == JUDGE_KIND else SOURCE_CODE,
                        created_at=now,
                    )
                )
        if scores:
            Score.objects.bulk_create(scores, ignore_conflicts=True)

    def refresh_counters(self) -> bool:
        """Write counters from the stored results and the heartbeat; True if cancel was asked."""
        totals = Result.objects.filter(experiment=self.experiment).aggregate(
            done=Count("id"),
            errors=Count("id", filter=~Q(error="")),
            cost=Sum("cost"),
            tokens_in=Sum("input_tokens"),
            tokens_out=Sum("output_tokens"),
        )
        # reason: the run this worker claimed, by its primary key.
        Experiment.objects.unscoped().filter(pk=self.experiment.pk).update(
            done_count=totals["done"],
            error_count=totals["errors"],
            cost_total=totals["cost"] or 0,
            input_tokens_total=totals["tokens_in"] or 0,
            output_tokens_total=totals["tokens_out"] or 0,
            heartbeat_at=timezone.now(),
        )
        self.experiment.done_count = totals["done"]
        self.experiment.error_count = totals["errors"]
        self.experiment.cost_total = totals["cost"] or Decimal(0)
        flags = (
            # reason: the run this worker claimed, by its primary key.
            Experiment.objects.unscoped()
            .filter(pk=self.experiment.pk)
            .values_list("cancel_requested", "status")
            .first()
        )
        return flags is None or flags[0] or flags[1] == Status.CANCELLED

    def run(self) -> str:
        """Run the missing cells of every shard this worker can claim; returns "completed",
        "cancelled", "capped", "yielded" or "left" (no shard left to claim, others are
        finishing theirs)."""
        self.prepare()
        self.refresh_counters()
        if self._cap_reached() and self.experiment.done_count < self.experiment.total_cells:
            self.stop_reason = "capped"
            return "capped"
        self._fill()
        if self._outstanding:  # the others on the run are known: start at this one's share
            workers = max(1, sharding.workers_on(self.experiment))
            self._share = max(1, math.ceil(self.experiment.concurrency / workers))
        thread = threading.Thread(target=self._loop_thread, name=f"experiment-{self.experiment.pk}")
        thread.start()
        last_progress = last_turn_check = turn_started = time.monotonic()
        try:
            while True:
                batch = self._drain(timeout=0.05, window=STORE_WINDOW)
                if batch:
                    self._store(batch)
                    self._settle_shards(batch)
                if self.stop_reason is not None and not self._feed_closed.is_set():
                    self._close_feed()  # the lanes stopped on the cap: claim no more
                self._fill()
                if time.monotonic() - last_progress >= PROGRESS_EVERY:
                    last_progress = time.monotonic()
                    sharding.shards_renew(self._outstanding, self.worker)
                    self._share_concurrency()
                    if self.refresh_counters():
                        self.request_stop("cancelled")
                if time.monotonic() - last_turn_check >= TURN_CHECK_EVERY:
                    last_turn_check = time.monotonic()
                    if self._turn_over(last_turn_check - turn_started):
                        # Calls in flight finish and are stored; no new cell starts.
                        self.request_stop("yielded")
                if (self._lanes_done.is_set() or not thread.is_alive()) and self._done.empty():
                    break
        except BaseException:
            # The database side failed (or the worker is shutting down): stop the calls.
            self.request_stop("cancelled")
            thread.join(timeout=30)
            try:
                sharding.shards_release(self._outstanding, self.worker)
            except DB_ERRORS:
                pass  # the leases run out on their own
            raise
        for wait in (False, True):
            if wait:
                thread.join()  # the loop closes its clients meanwhile
            leftovers = self._drain(timeout=0)
            if leftovers:
                self._store(leftovers)
                self._settle_shards(leftovers)
        # Shards with cells not run (a stop, the cap, a turn over) go back for any worker.
        sharding.shards_release(self._outstanding, self.worker)
        cancelled = self.refresh_counters()
        if self._async_error is not None:
            raise self._async_error
        if cancelled or self.stop_reason == "cancelled":
            return "cancelled"
        done = sharding.all_done(self.experiment)
        if self.stop_reason == "yielded" and not done:
            return "yielded"
        if self.stop_reason == "capped" or (self._cap_reached() and not done):
            return "capped"
        return "completed" if done else "left"

    def _turn_over(self, elapsed: float) -> bool:
        return (
            self.turn_seconds is not None
            and self.stop_reason is None
            and elapsed >= self.turn_seconds
            and scheduling.others_waiting(self.experiment, joined=self.joined)
        )

    def _drain(self, timeout: float, window: float = 0.0) -> list[Finished]:
        """Wait up to `timeout` for a finished cell, then collect what else finishes within
        `window` (up to `batch_size`): one transaction per batch, not per cell."""
        items = []
        try:
            items.append(self._done.get(timeout=timeout) if timeout else self._done.get_nowait())
        except queue.Empty:
            return items
        if window > 0:
            # The last cells are stored as soon as the lanes end, not a window later.
            self._lanes_done.wait(window)
        while len(items) < self.batch_size:
            try:
                items.append(self._done.get_nowait())
            except queue.Empty:
                break
        return items


# --- the whole run, as the task executes it ------------------------------------------


def _claim(experiment_id: int) -> Experiment | None:
    with transaction.atomic():
        experiment = (
            # reason: a worker has no team until it has read the run it was given.
            Experiment.objects.unscoped()
            .select_for_update()
            .select_related("team", "dataset")
            .filter(pk=experiment_id)
            .first()
        )
        if experiment is None or experiment.is_code:
            return None  # a code experiment's cells are run by the team's own client
        if experiment.cancel_requested and experiment.status in (Status.QUEUED, Status.RUNNING):
            experiment.status = Status.CANCELLED
            experiment.finished_at = timezone.now()
            experiment.save(update_fields=["status", "finished_at"])
            return None
        if experiment.status == Status.RUNNING and not is_stale(experiment):
            return None  # another worker is on it (a duplicate task for the same run)
        if experiment.status not in (Status.QUEUED, Status.RUNNING):
            return None
        now = timezone.now()
        experiment.status = Status.RUNNING
        experiment.started_at = experiment.started_at or now
        experiment.heartbeat_at = now
        experiment.save(update_fields=["status", "started_at", "heartbeat_at"])
        # A fresh set of shards for this turn of the run (the stored results say which
        # cells are left): shards of an earlier turn or of a dead worker start over.
        with team_scope(experiment.team):
            per_example = (
                experiment.repetitions * Variant.objects.filter(experiment=experiment).count()
            )
            sharding.shards_create(experiment, cells_per_example=per_example)
        return experiment


def _join(experiment_id: int) -> Experiment | None:
    """A running run this worker may help with (not cancelled, no cost cap), locked while
    checked; None if it is no longer one."""
    with transaction.atomic():
        experiment = (
            # reason: a worker has no team until it has read the run it was given.
            Experiment.objects.unscoped()
            .select_for_update()
            .select_related("team", "dataset")
            .filter(pk=experiment_id)
            .first()
        )
        if (
            experiment is None
            or experiment.is_code
            or experiment.status != Status.RUNNING
            or experiment.cancel_requested
            or experiment.cost_cap is not None
        ):
            return None
        return experiment


def _money(value) -> str:
    return f"${Decimal(value or 0):.4f}"


def execute(experiment_id: int) -> dict:
    """Run (or resume) one experiment to its end; safe to call again at any time."""
    warm_up()  # before the run's clock starts
    experiment = _claim(experiment_id)
    if experiment is None:
        return {"experiment": experiment_id, "status": "skipped"}
    return _run_claimed(experiment)


def score_code_run(experiment_id: int) -> dict:
    """Score a code experiment's recorded outputs with its server-side evaluators."""
    experiment = (
        # reason: a worker has no team until it has read the run it was given.
        Experiment.objects.unscoped().select_related("team").filter(pk=experiment_id).first()
    )
    if experiment is None or not experiment.is_code:
        return {"experiment": experiment_id, "status": "skipped"}
    with team_scope(experiment.team):
        written = code_evaluators_run(experiment=experiment)
    return {"experiment": experiment_id, "status": "scored", "scores": written}


# Seconds before a ticket that found only runs of teams at their cap looks again.
DEFER_SECONDS = 1.0


def run_turn(ticket_experiment_id: int) -> dict:
    """What a worker does with a ticket (`tasks.run_experiment`): give a turn to the run
    that is fairest now (apps/experiments/scheduling.py), which may be another team's."""
    warm_up()
    experiment = _claim_fairest()
    if experiment is not None:
        _enqueue_helpers(experiment)
        return _run_claimed(experiment, turn_seconds=scheduling.turn_seconds())
    # No queued run may start: help a running one with shards left, if any.
    for experiment_id, _team_id in scheduling.help_order():
        experiment = _join(experiment_id)
        if experiment is not None:
            return _run_claimed(
                experiment, turn_seconds=scheduling.helper_turn_seconds(), joined=True
            )
    if not scheduling.queued_exists():
        return {"experiment": ticket_experiment_id, "status": "skipped"}
    # Every queued run belongs to a team at its cap: look again shortly.
    if worker_retries_supported():
        raise RetryLater(DEFER_SECONDS, "every queued run's team is at its cap")
    _enqueue_ticket(ticket_experiment_id, delay=DEFER_SECONDS)
    return {"experiment": ticket_experiment_id, "status": "deferred"}


def team_slot_lock(team_id: int) -> None:
    """The team's row is the lock on its run slots: two workers cannot both take its last
    free slot. FOR NO KEY UPDATE, not FOR UPDATE: the foreign-key checks of the team's own
    writes (FOR KEY SHARE of the same row, at their commit) must not wait behind it, or a
    run being started waits on a worker that waits on that run's row: a deadlock."""
    Team.objects.select_for_update(no_key=True).filter(pk=team_id).first()


def _claim_fairest() -> Experiment | None:
    for experiment_id, team_id in scheduling.fair_order():
        with transaction.atomic():
            team_slot_lock(team_id)
            experiment = _claim(experiment_id) if scheduling.below_cap(team_id) else None
        if experiment is not None:
            return experiment
    return None


def _enqueue_ticket(experiment_id: int, *, delay: float = 0.0, helper: bool = False) -> None:
    from apps.experiments.tasks import run_experiment  # noqa: PLC0415 - tasks imports us

    task = run_experiment
    if delay:
        task = task.using(run_after=timezone.now() + timedelta(seconds=delay))
    result = task.enqueue(experiment_id)
    if not helper:  # the run's own ticket is the one its page shows
        # reason: the run this worker claimed, by its primary key.
        Experiment.objects.unscoped().filter(pk=experiment_id).update(task_id=str(result.id)[:64])


def _enqueue_helpers(experiment: Experiment) -> None:
    """Tickets for other workers to join a run just claimed: one per shard beyond the
    first, at most PROMPTYARD_EXPERIMENT_MAX_WORKERS - 1 (a run with a cost cap keeps one
    worker). A ticket no worker needs ends at once ("skipped")."""
    if experiment.cost_cap is not None:
        return
    # reason: the run this worker claimed, by its primary key.
    shards = Shard.objects.unscoped().filter(experiment=experiment).count()
    for _ in range(min(shards, sharding.max_workers()) - 1):
        _enqueue_ticket(experiment.pk, helper=True)


def _requeue_after_transient(experiment_id: int, exc: BaseException) -> bool:
    """After a transient database error, put the run back in the queue (the worker runs the
    ticket again); False if even that cannot be written."""
    for attempt in range(1, 6):
        try:
            # reason: the run this worker claimed, by its primary key.
            Experiment.objects.unscoped().filter(pk=experiment_id).update(
                status=Status.QUEUED,
                status_detail=(
                    "Interrupted by a database error; it resumes where it stopped. "
                    f"({type(exc).__name__})"
                ),
            )
            return True
        except DB_ERRORS:
            reset_connections()
            time.sleep(backoff(attempt))
    return False


def _run_claimed(
    experiment: Experiment, *, turn_seconds: float | None = None, joined: bool = False
) -> dict:
    experiment_id = experiment.pk
    started = time.monotonic()
    with team_scope(experiment.team):
        runner = ExperimentRunner(experiment, turn_seconds=turn_seconds, joined=joined)
        try:
            outcome = runner.run()
        except Exception as exc:
            if is_transient(exc) and worker_retries_supported():
                logger.warning(
                    "experiment %s interrupted by %r; it will resume", experiment_id, exc
                )
                reset_connections()
                if _requeue_after_transient(experiment_id, exc):
                    raise  # the worker runs the ticket again after a backoff
            logger.exception("experiment %s failed", experiment_id)
            # reason: the run this worker claimed, by its primary key.
            Experiment.objects.unscoped().filter(pk=experiment_id).update(
                status=Status.FAILED,
                finished_at=timezone.now(),
                error=f"{type(exc).__name__}: {exc}"[:5000],
                status_detail="The run failed; the results stored so far are kept. Resume to retry the rest.",
            )
            raise
        experiment.refresh_from_db()
        summary = {
            "experiment": experiment_id,
            "status": outcome,
            "calls": runner.calls,
            "requests": runner.requests,
            "rate_limited": runner.rate_limited,
            "lowest_concurrency": runner.limiter.lowest if runner.limiter else None,
            "shards": runner.shards_claimed,
            "worker": runner.worker,
        }
        if outcome == "yielded":
            with transaction.atomic():
                # The run's row is the lock: of workers stepping aside at once, the last to
                # go (no one else holding a shard) puts the run back in the queue.
                # reason: the run this worker claimed, by its primary key.
                Experiment.objects.unscoped().select_for_update().filter(pk=experiment_id).first()
                alone = sharding.others_hold_until(experiment, runner.worker) is None
                if alone:
                    # reason: the run this worker claimed, by its primary key.
                    Experiment.objects.unscoped().filter(
                        pk=experiment_id, status=Status.RUNNING
                    ).update(
                        status=Status.QUEUED,
                        status_detail=(
                            f"Waiting for its next turn: {experiment.done_count} of "
                            f"{experiment.total_cells} cells done; other runs are taking theirs."
                        ),
                        heartbeat_at=timezone.now(),
                    )
            _enqueue_ticket(experiment_id, helper=not alone)
            return {**summary, "seconds": round(time.monotonic() - started, 3)}
        if outcome == "left":
            # Other workers hold the rest of the shards. Should one of them die, its lease
            # runs out: a ticket then lets a worker run what it left.
            until = sharding.others_hold_until(experiment, runner.worker)
            delay = 0.0 if until is None else (until - timezone.now()).total_seconds() + 0.5
            _enqueue_ticket(experiment_id, delay=max(0.0, delay), helper=True)
            return {**summary, "seconds": round(time.monotonic() - started, 3)}
        detail = ""
        if outcome == "capped":
            detail = (
                f"Stopped at the cost cap: spent {_money(max(Decimal(str(runner.spent)), experiment.cost_total))} "
                f"of the {_money(experiment.cost_cap)} cap; {experiment.done_count} of "
                f"{experiment.total_cells} cells done. Raise the cap and resume to finish."
            )
        elif outcome == "cancelled":
            detail = experiment.status_detail.replace("Cancelling (requested by", "Cancelled (by")
            detail = detail.rstrip("…") or "Cancelled."
            detail += f" {experiment.done_count} of {experiment.total_cells} cells done."
        elif runner.rate_limited:
            share = runner.rate_limited / max(1, runner.requests)
            detail = (
                f"{runner.rate_limited} rate-limited calls ({share:.1%} of this worker's "
                "calls) were retried; concurrency went down "
                f"to {runner.limiter.lowest if runner.limiter else experiment.concurrency}."
            )
        # reason: the run this worker claimed, by its primary key.
        finished = Experiment.objects.unscoped().filter(pk=experiment_id)
        if outcome == "completed":
            # Two workers finishing the last shards at once may both see the run done.
            finished = finished.filter(status=Status.RUNNING)
        finished.update(
            status={"capped": Status.CAPPED, "cancelled": Status.CANCELLED}.get(
                outcome, Status.COMPLETED
            ),
            finished_at=timezone.now(),
            status_detail=detail,
            heartbeat_at=timezone.now(),
        )
    return {**summary, "seconds": round(time.monotonic() - started, 3)}
