"""What a run will cost before it starts: calls, tokens and dollars, from a sample render."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from apps.core.errors import ValidationFailed
from apps.datasets.selectors import examples_at_revision
from apps.experiments.evaluators.judge import KIND as JUDGE_KIND
from apps.experiments.runner import PreparedPrompt
from apps.experiments.variants import VariantSpec, effective_settings, unique_specs
from apps.llm.models import ProviderConfig
from apps.prompts.models import PromptVersion
from apps.prompts.rendering import RenderError

# Output tokens assumed per call for the estimate when a variant sets no max_tokens.
ESTIMATE_OUTPUT_TOKENS = 256


@dataclass
class Estimate:
    calls: int
    examples: int
    input_tokens: int
    output_tokens: int
    cost: Decimal | None  # None when no variant's model is priced
    unpriced: list[str]
    cap: Decimal | None
    judge_calls: int = 0
    render_problems: list[str] = field(default_factory=list)

    @property
    def over_cap(self) -> bool:
        return self.cap is not None and self.cost is not None and self.cost > self.cap


def _rendered_chars(prepared: PreparedPrompt, values: dict[str, Any]) -> int | str:
    """Characters of the rendered prompt, or the render error's message."""
    try:
        rendered = prepared.render(values)
    except RenderError as exc:
        return exc.message
    return sum(len(m.get("content") or "") for m in rendered)


def estimate(
    *,
    dataset,
    revision: int,
    split: str,
    variants: Sequence[tuple[PromptVersion, Mapping[str, Any]]],
    repetitions: int,
    cap: Decimal | None = None,
    judges: int = 0,
    sample: int = 200,
) -> Estimate:
    """Calls and an estimated cost: tokens ≈ characters / 4 of the rendered prompts.

    Up to `sample` examples are rendered and the average extrapolated; output tokens are
    the variant's max_tokens, else ESTIMATE_OUTPUT_TOKENS. It is an estimate.
    """
    examples = examples_at_revision(dataset, revision, split=split or None)
    count = examples.count()
    inputs = list(examples.values_list("input", flat=True)[:sample])
    total_in = total_out = 0
    cost = Decimal(0)
    priced = False
    unpriced = []
    render_problems = []
    for version, settings_ in variants:
        prepared = PreparedPrompt(version)
        sizes = [_rendered_chars(prepared, v if isinstance(v, dict) else {}) for v in inputs]
        failures = [s for s in sizes if isinstance(s, str)]
        if failures:
            render_problems.append(
                f"{version.prompt.name} v{version.number} fails to render {len(failures)} of "
                f"{len(inputs)} sampled examples ({failures[0]}): those rows will be errors."
            )
        chars = sum(s for s in sizes if not isinstance(s, str))
        per_call_in = math.ceil(chars / 4 / len(inputs)) if inputs else 0
        per_call_out = int(settings_.get("max_tokens") or ESTIMATE_OUTPUT_TOKENS)
        calls = count * repetitions
        tokens_in, tokens_out = per_call_in * calls, per_call_out * calls
        total_in += tokens_in
        total_out += tokens_out
        provider = None
        if settings_.get("provider_id"):
            provider = ProviderConfig.objects.filter(pk=settings_["provider_id"]).first()
        price = provider.price_for(settings_.get("model", "")) if provider else None
        if price is None:
            model = settings_.get("model") or "no model"
            unpriced.append(f"{version.prompt.name} v{version.number} · {model}")
            continue
        priced = True
        cost += (
            Decimal(str(price.get("input", 0))) * tokens_in
            + Decimal(str(price.get("output", 0))) * tokens_out
        ) / Decimal(1_000_000)
    calls = count * repetitions * len(variants)
    return Estimate(
        calls=calls,
        examples=count,
        input_tokens=total_in,
        output_tokens=total_out,
        cost=cost.quantize(Decimal("0.0001")) if priced else None,
        unpriced=unpriced,
        cap=cap,
        judge_calls=calls * judges,
        render_problems=list(dict.fromkeys(render_problems)),
    )


def estimate_specs(
    *,
    dataset,
    revision: int | None,
    split: str,
    specs: list[VariantSpec],
    repetitions: int,
    cap: Decimal | None = None,
    evaluators=(),
    team=None,
) -> Estimate:
    """The estimate of the experiment these arguments would create (both front ends)."""
    if revision is None:
        revision = dataset.current_revision
    if not 0 <= revision <= dataset.current_revision:
        raise ValidationFailed(
            f"Dataset {dataset.name} has no revision {revision}.", field="dataset_revision"
        )
    variants = [
        (spec.prompt_version, effective_settings(spec.prompt_version, spec.overrides, team=team))
        for spec in unique_specs(specs, team=team)
    ]
    return estimate(
        dataset=dataset,
        revision=revision,
        split=split or "",
        variants=variants,
        repetitions=repetitions,
        cap=cap,
        judges=sum(1 for e in evaluators if e.kind == JUDGE_KIND),
    )
