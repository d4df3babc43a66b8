"""Running a chain version in the playground: its steps in order on the given values,
through the experiments' chain code (apps/experiments/chain_steps.py), recorded as one
PlaygroundRun of kind "chain" with a record per step."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from decimal import Decimal
from typing import Any

from apps.core.errors import ValidationFailed
from apps.core.tenancy import team_scope
from apps.experiments.chain_steps import ChainOutcome, StepPlan, plan_steps, run_steps
from apps.llm.gateway import GatewayError, aclose_loop_clients, acomplete
from apps.playground.models import PlaygroundRun, RunStatus
from apps.prompts.models import Kind, PromptVersion
from apps.teams.actors import Actor
from apps.teams.models import PERM_EDIT, Team
from apps.teams.permissions import actor_user, require

logger = logging.getLogger(__name__)


async def _call(step_plan: StepPlan, messages: list[dict[str, Any]]) -> tuple[Any, Any]:
    """One step's model call, retried by the gateway as a playground run is."""
    try:
        completion = await acomplete(
            step_plan.provider, settings=step_plan.settings, messages=messages
        )
    except GatewayError as exc:
        return None, exc
    return completion, None


async def _run(plans: list[StepPlan], values: dict[str, Any]) -> ChainOutcome:
    try:
        return await run_steps(plans, values, call=_call)
    finally:
        await aclose_loop_clients()


def _run_outcome(plans: list[StepPlan], values: dict[str, Any]) -> ChainOutcome:
    """The steps run on an event loop of their own (in a helper thread when this thread
    already runs one, as under an async server)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_run(plans, values))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _run(plans, values)).result()


def playground_chain_run(
    *,
    team: Team,
    actor: Actor,
    version: PromptVersion,
    values: dict[str, Any],
) -> PlaygroundRun:
    """Run a chain version's steps on `values` and record the run (ok or error: a step
    that fails stops the chain and the error names it)."""
    require(actor, PERM_EDIT, team, message="Only editors can run prompts in the playground.")
    if version.kind != Kind.CHAIN:
        raise ValidationFailed(
            f"{version.prompt.name} v{version.number} is not a chain.", field="version"
        )
    with team_scope(team):
        run = PlaygroundRun(
            team=team,
            user=actor_user(actor),
            prompt_version=version,
            kind=Kind.CHAIN,
            variables_schema=version.variables_schema or {},
            variables=values,
        )
        try:
            plans = plan_steps(version, team=team)
        except ValidationFailed as exc:
            run.status = RunStatus.ERROR
            run.error_kind, run.error_message = "config", exc.message
            run.save()
            return run
        models: list[str] = []  # the steps' models, each once, in step order
        for plan in plans:
            if plan.settings.model and plan.settings.model not in models:
                models.append(plan.settings.model)
        first = next((p.provider for p in plans if p.provider is not None), None)
        run.provider = first
        run.provider_name = first.name if first is not None else ""
        run.model = " · ".join(models)[:200]
    try:
        outcome = _run_outcome(plans, values)
    except Exception:
        logger.exception("playground chain run of version %s failed", version.pk)
        outcome = ChainOutcome(error="Something went wrong while running this chain.")
        outcome.error_kind = "internal"
    totals = outcome.totals()
    with team_scope(team):
        run.steps = [
            {**record, "messages": outcome.rendered.get(record["name"], [])}
            for record in outcome.records
        ]
        last = outcome.records[-1]["name"] if outcome.records else ""
        run.rendered = outcome.rendered.get(last, [])
        run.input_tokens = totals["input_tokens"]
        run.output_tokens = totals["output_tokens"]
        run.latency_ms = totals["latency_ms"] if outcome.records else None
        run.cost = Decimal(str(totals["cost"])) if totals["cost"] is not None else None
        if outcome.error:
            run.status = RunStatus.ERROR
            run.error_kind = outcome.error_kind or "error"
            run.error_message = outcome.error
        else:
            run.status = RunStatus.OK
            run.output = totals["output"]
        run.save()
    return run
