"""Running a chain version's steps: one code path for the experiment runner (a chain cell)
and the playground (a chain run).

`plan_steps` resolves the steps (tags read now) onto their versions' own models (else the
team default); `run_steps` runs them in order, each fed the chain's values and the earlier
outputs (apps/prompts/chains.py), making its model calls through the caller's `call`
(the runner reserves cost and shares its rate limiter; the playground calls the gateway).
The first step that fails stops the chain, and the error names it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from apps.experiments.prepared import PreparedPrompt
from apps.experiments.variants import effective_settings
from apps.llm.model_settings import ModelSettings
from apps.llm.models import ProviderConfig
from apps.prompts import chains
from apps.prompts.models import PromptVersion
from apps.prompts.rendering import RenderError
from apps.teams.models import Team


@dataclass
class StepPlan:
    """One step of a chain: its resolved version, model and compiled prompt."""

    step: chains.ResolvedStep
    provider: Any
    settings: ModelSettings
    prompt: PreparedPrompt


@dataclass
class ChainOutcome:
    """What a chain run produced: a record per step that ran (the stored `steps`), the
    messages each step sent, and the error that stopped it (naming the step), if any."""

    records: list[dict] = field(default_factory=list)
    rendered: dict[str, list[dict]] = field(default_factory=dict)
    error: str = ""
    error_kind: str = ""
    # The cost cap refused the first step's call: nothing ran (the runner skips the cell).
    not_started: bool = False

    @property
    def output(self) -> str:
        return self.records[-1].get("output", "") if self.records else ""

    def totals(self) -> dict[str, Any]:
        """The cell's fields from its steps: the last output, summed latency and tokens,
        and the cost (None when any step's is unknown)."""
        costs = [r.get("cost") for r in self.records]
        return {
            "output": self.output,
            "latency_ms": sum(r.get("latency_ms") or 0 for r in self.records),
            "input_tokens": sum(r.get("input_tokens") or 0 for r in self.records),
            "output_tokens": sum(r.get("output_tokens") or 0 for r in self.records),
            "cost": None if any(c is None for c in costs) else sum(costs),
            "steps": self.records,
        }


# call(step plan, messages) -> (completion, None) | (None, GatewayError) | None (capped)
StepCall = Callable[[StepPlan, list[dict]], Awaitable[tuple[Any, Any] | None]]


def plan_steps(version: PromptVersion, *, team: Team) -> list[StepPlan]:
    """A chain version's steps as they run now, each on its version's own model settings
    with the team's defaults. ValidationFailed when a step no longer resolves."""
    plans = []
    for step in chains.resolve_steps(version):
        settings_ = ModelSettings.from_stored(effective_settings(step.version, {}, team=team))
        provider = (
            ProviderConfig.objects.filter(pk=settings_.provider_id).first()
            if settings_.provider_id is not None
            else None
        )
        plans.append(StepPlan(step, provider, settings_, PreparedPrompt(step.version)))
    return plans


async def run_steps(steps: list[StepPlan], values: dict, *, call: StepCall) -> ChainOutcome:
    """Run the steps in order; the first failure stops the chain (no database access)."""
    outcome = ChainOutcome()
    records = outcome.records
    outputs: dict[str, str] = {}
    if not steps:
        outcome.error, outcome.error_kind = "No steps.", "config"
        return outcome
    for step_plan in steps:
        name = step_plan.step.name
        if step_plan.provider is None:
            outcome.error = f"Step {name}: its model provider no longer exists."
            outcome.error_kind = "config"
            return outcome
        try:
            messages = step_plan.prompt.render(chains.step_values(step_plan.step, values, outputs))
        except RenderError as exc:
            outcome.error = f"Step {name}: the prompt failed to render: {exc.message}"
            outcome.error_kind = "render"
            return outcome
        outcome.rendered[name] = messages
        called = await call(step_plan, messages)
        if called is None:
            if not records:
                outcome.not_started = True
            outcome.error = f"Step {name}: not run, the cost cap was reached."
            outcome.error_kind = "capped"
            return outcome
        completion, failure = called
        if failure is not None:
            records.append({"name": name, "error": failure.message})
            outcome.error = f"Step {name}: {failure.message}"
            outcome.error_kind = failure.kind
            return outcome
        records.append(
            {
                "name": name,
                "prompt": step_plan.step.version.prompt.name,
                "version": step_plan.step.version.number,
                "output": completion.text,
                "latency_ms": completion.latency_ms,
                "input_tokens": completion.input_tokens,
                "output_tokens": completion.output_tokens,
                "cost": completion.cost,
            }
        )
        outputs[name] = completion.text
    return outcome
