"""LLM-as-judge: a Hub prompt version judges one output and answers JSON.

The judge prompt is rendered with the variables `input`, `expected` and `output` and sent
through the model gateway with that version's model settings. It must answer
{"passed": true|false, "reasoning": "..."} (optionally "score": 0..1). Anything else is
an error score that says what was wrong, never a crash.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from apps.core.errors import ValidationFailed
from apps.experiments.evaluators.base import (
    SOURCE_LLM,
    EvalContext,
    EvalOutcome,
    EvaluatorKind,
    Param,
    error,
    register,
    verdict,
)
from apps.experiments.evaluators.builtin import FENCE
from apps.experiments.ledger import CAPPED_OUTPUT_TOKENS, CostLedger
from apps.llm.gateway import GatewayError, acomplete, cost_bound
from apps.llm.model_settings import ModelSettings
from apps.llm.models import ProviderConfig
from apps.prompts.models import PromptVersion
from apps.prompts.rendering import RenderError, render_prompt

KIND = "llm_judge"


def _judge_check(params: dict) -> None:
    if not params["prompt"].strip():
        raise ValidationFailed("Name the judge prompt.", field="params")


JUDGE = register(
    EvaluatorKind(
        kind=KIND,
        name="LLM judge",
        description=(
            "A prompt from the Hub (a pinned version) judges the output; it sees input, "
            'expected and output and answers {"passed": bool, "reasoning": str}.'
        ),
        params=(
            Param("prompt", "str", help="Name of the judge prompt in the Hub."),
            Param("version", "int", min=1, help="The judge prompt's version number."),
        ),
        evaluate=None,
        check=_judge_check,
        source=SOURCE_LLM,
    )
)


class JsonText(dict):
    """A dict that prints as JSON: `{{ input }}` shows JSON, `{{ input.question }}` a field."""

    def __str__(self):
        return json.dumps(self, ensure_ascii=False, sort_keys=True)


def _template_value(value: Any) -> Any:
    if isinstance(value, dict):
        return JsonText(value)
    if isinstance(value, str) or value is None:
        return "" if value is None else value
    return json.dumps(value, ensure_ascii=False)


def judge_values(ctx: EvalContext) -> dict:
    return {
        "input": _template_value(ctx.input or {}),
        "expected": _template_value(ctx.expected),
        "output": ctx.output or "",
    }


def render_judge_messages(version, ctx: EvalContext) -> list[dict]:
    rendered = render_prompt(
        kind=version.kind,
        template=version.template,
        messages=version.messages,
        variables_schema=version.variables_schema,
        values=judge_values(ctx),
    )
    if isinstance(rendered, str):
        return [{"role": "user", "content": rendered}]
    return rendered


def _outer_object(text: str) -> str | None:
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else None


def parse_judge_output(text: str | None) -> EvalOutcome:
    """Turn the judge's answer into an outcome; malformed answers become explained errors."""
    raw = (text or "").strip()
    if not raw:
        return error(
            "The judge returned an empty answer; expected JSON with 'passed' and 'reasoning'."
        )
    fenced = FENCE.match(raw)
    candidate = fenced.group(1) if fenced else raw
    try:
        data = json.loads(candidate)
    except json.JSONDecodeError:
        inner = _outer_object(candidate)
        try:
            data = json.loads(inner) if inner else None
        except json.JSONDecodeError:
            data = None
        if data is None:
            return error(
                f"The judge's answer is not JSON: {_clip(raw)!r}. "
                'Expected {"passed": true|false, "reasoning": "..."}.'
            )
    if not isinstance(data, dict):
        return error(
            f"The judge answered a JSON {type(data).__name__}, not an object: {_clip(raw)!r}."
        )
    if "passed" not in data:
        return error(f"The judge's JSON has no 'passed' field: {_clip(raw)!r}.")
    passed = data["passed"]
    if not isinstance(passed, bool):
        return error(f"The judge's 'passed' must be true or false, got {passed!r}.")
    reasoning = data.get("reasoning", "")
    if not isinstance(reasoning, str):
        return error(f"The judge's 'reasoning' must be text, got {type(reasoning).__name__}.")
    value = None
    score = data.get("score")
    if isinstance(score, (int, float)) and not isinstance(score, bool) and 0 <= score <= 1:
        value = float(score)
    return verdict(passed, reasoning or "(The judge gave no reasoning.)", value=value)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class BoundJudge:
    """A judge resolved in sync code (version and provider loaded) for use in async code."""

    version: Any
    provider: Any
    settings: ModelSettings

    async def ajudge(self, ctx: EvalContext) -> EvalOutcome:
        outcome, _ = await self.ajudge_with_cost(ctx)
        return outcome

    async def ajudge_with_cost(
        self, ctx: EvalContext, *, ledger: CostLedger | None = None
    ) -> tuple[EvalOutcome, float]:
        """The outcome and what the judge call cost (0 when unpriced or not made). With a
        run's ledger, the call first reserves its worst case against the run's cost cap."""
        try:
            messages = render_judge_messages(self.version, ctx)
        except RenderError as exc:
            return error(f"The judge prompt failed to render: {exc.message}"), 0.0
        settings = self.settings
        reserved = 0.0
        if ledger is not None and ledger.cap is not None:
            if settings.max_tokens is None:
                settings = settings.replace(max_tokens=CAPPED_OUTPUT_TOKENS)
            bound = cost_bound(
                self.provider, settings, messages, output_tokens=settings.max_tokens or 0
            )
            amount = await ledger.reserve(bound)
            if amount is None:
                return error("Not judged: the judge call could cross the run's cost cap."), 0.0
            reserved = amount
        completion = None
        abandoned = False
        try:
            completion = await acomplete(self.provider, settings=settings, messages=messages)
        except GatewayError as exc:
            return error(f"The judge call failed ({exc.kind}): {exc.message}"), 0.0
        except asyncio.CancelledError:
            abandoned = True
            raise
        finally:
            if ledger is not None:
                # A call stopped mid-way (a time limit, a cancel) may still be billed.
                actual = (
                    reserved if abandoned else (completion.cost if completion is not None else None)
                )
                ledger.settle(reserved, actual)
        return parse_judge_output(completion.text), float(completion.cost or 0)


def resolve_judge(params: dict) -> BoundJudge:
    """Load the judge's version and provider; call inside the team's scope."""
    version = (
        PromptVersion.objects.select_related("prompt")
        .filter(prompt__name=params["prompt"], number=params["version"])
        .first()
    )
    if version is None:
        raise ValidationFailed(
            f"The judge prompt {params['prompt']} v{params['version']} does not exist.",
            field="params",
        )
    settings = ModelSettings.from_stored(version.model_settings)
    provider = (
        ProviderConfig.objects.filter(pk=settings.provider_id).first()
        if settings.provider_id is not None
        else None
    )
    if provider is None:
        raise ValidationFailed(
            f"The judge prompt {params['prompt']} v{params['version']} names no provider "
            "in its model settings.",
            field="params",
        )
    if not settings.model:
        raise ValidationFailed(
            f"The judge prompt {params['prompt']} v{params['version']} names no model.",
            field="params",
        )
    # A judge answers in text or JSON; the prompt's tools are not offered to it.
    return BoundJudge(version=version, provider=provider, settings=settings.replace(tools=()))
