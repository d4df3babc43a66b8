"""Evaluating the playground's variants on a dataset, and saving one (with a tag) after.

An evaluation is an experiment like any other (same runner, evaluators, budgets, caps and
worker; its page and statistics): each variant is pinned as a version of the prompt being
edited, reusing a version with the same content, so the run is real promotion evidence for
the version it measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from apps.core.errors import ValidationFailed
from apps.datasets.models import Dataset
from apps.experiments.models import Evaluator, Experiment
from apps.experiments.selectors import prompt_version_with_hash
from apps.experiments.services import experiment_create, experiment_start
from apps.experiments.variants import VariantSpec
from apps.playground.variants import Variant
from apps.prompts import content as prompt_content
from apps.prompts.models import Kind, Prompt, PromptVersion
from apps.prompts.selectors import version_at_tag
from apps.prompts.services import tag_move, version_create
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import PERM_EDIT, Team
from apps.teams.permissions import require

MAX_EVALUATORS = 10


def _version_for(
    *,
    team: Team,
    actor: Actor,
    prompt: Prompt,
    variant: Variant,
    variables_schema: dict[str, Any],
    commit_message: str,
    parent: PromptVersion | None,
) -> tuple[PromptVersion, bool]:
    """The version holding exactly this variant: an existing one with the same content, or
    a new one. Returns (version, created)."""
    if variant.kind == "chat" and not variant.messages:
        raise ValidationFailed("Add at least one message.", field="messages")
    settings = prompt_content.normalize_model_settings(variant.settings.to_json())
    digest = prompt_content.content_hash(
        kind=variant.kind,
        template=variant.template if variant.kind == "text" else "",
        messages=variant.messages if variant.kind == "chat" else [],
        variables_schema=variables_schema,
        model_settings=settings,
    )
    existing = prompt_version_with_hash(prompt, digest)
    if existing is not None:
        return existing, False
    version = version_create(
        team=team,
        actor=actor,
        prompt=prompt,
        kind=variant.kind,
        template=variant.template,
        messages=variant.messages,
        variables_schema=variables_schema,
        model_settings=variant.settings.to_json(),
        commit_message=commit_message,
        parent=parent if parent is not None and parent.prompt_id == prompt.pk else None,
    )
    return version, True


@transaction.atomic
def playground_evaluation_start(
    *,
    team: Team,
    actor: Actor,
    prompt: Prompt,
    variants: list[Variant],
    variables_schema: dict[str, Any],
    dataset: Dataset,
    evaluators: list[Evaluator],
    sample_size: int | str | None = None,
    sample_seed: int | str = 0,
    parent: PromptVersion | None = None,
    cost_cap: Any = None,
) -> Experiment:
    """Run the variants over the dataset (or a seeded sample of it) with the evaluators:
    an experiment, queued for the worker."""
    require(actor, PERM_EDIT, team, message="Only editors can evaluate prompts.")
    if not variants:
        raise ValidationFailed("Add a variant to evaluate.", field="variants")
    _check_evaluators(evaluators)
    specs = []
    for index, variant in enumerate(variants):
        label = variant.label or "ABCD"[index % 4]
        version, _ = _version_for(
            team=team,
            actor=actor,
            prompt=prompt,
            variant=variant,
            variables_schema=variables_schema,
            commit_message=f"Playground evaluation: variant {label}",
            parent=parent,
        )
        specs.append(
            VariantSpec(
                prompt_version=version,
                label=f"{label} · v{version.number}",
                is_baseline=index == 0,
            )
        )
    return _experiment_start(
        team=team,
        actor=actor,
        prompt=prompt,
        specs=specs,
        dataset=dataset,
        evaluators=evaluators,
        sample_size=sample_size,
        sample_seed=sample_seed,
        cost_cap=cost_cap,
    )


def _check_evaluators(evaluators: list[Evaluator]) -> None:
    if not evaluators:
        raise ValidationFailed("Attach at least one evaluator.", field="evaluators")
    if len(evaluators) > MAX_EVALUATORS:
        raise ValidationFailed(f"At most {MAX_EVALUATORS} evaluators.", field="evaluators")


def _experiment_start(
    *,
    team: Team,
    actor: Actor,
    prompt: Prompt,
    specs: list[VariantSpec],
    dataset: Dataset,
    evaluators: list[Evaluator],
    sample_size: int | str | None,
    sample_seed: int | str,
    cost_cap: Any,
    score_steps: bool = False,
) -> Experiment:
    """The evaluation as an ordinary experiment, created, queued for the worker, audited."""
    sampled = f" (sample of {sample_size}, seed {sample_seed or 0})" if sample_size else ""
    experiment = experiment_create(
        team=team,
        actor=actor,
        name=f"Playground: {prompt.name} on {dataset.name}{sampled}"[:200],
        description="Run from the playground.",
        dataset=dataset,
        variants=specs,
        evaluators=evaluators,
        sample_size=sample_size,
        sample_seed=sample_seed or 0,
        cost_cap=cost_cap,
        score_steps=score_steps,
    )
    experiment = experiment_start(team=team, actor=actor, experiment=experiment)
    audit_record(
        team=team,
        actor=actor,
        verb="playground.evaluate",
        target=experiment,
        after={
            "prompt": prompt.name,
            "dataset": dataset.name,
            "variants": len(specs),
            "score_steps": score_steps,
        },
    )
    return experiment


@transaction.atomic
def playground_chain_evaluation_start(
    *,
    team: Team,
    actor: Actor,
    version: PromptVersion,
    dataset: Dataset,
    evaluators: list[Evaluator],
    label: str = "",
    sample_size: int | str | None = None,
    sample_seed: int | str = 0,
    score_steps: bool = False,
    cost_cap: Any = None,
) -> Experiment:
    """Run a chain version over the dataset (or a seeded sample) with the evaluators on its
    final output and, with `score_steps`, on each step's: an experiment with the chain as
    its one variant (the runner runs the steps: apps/experiments/chain_steps.py)."""
    require(actor, PERM_EDIT, team, message="Only editors can evaluate prompts.")
    if version.kind != Kind.CHAIN:
        raise ValidationFailed(
            f"{version.prompt.name} v{version.number} is not a chain.", field="version"
        )
    _check_evaluators(evaluators)
    spec = VariantSpec(prompt_version=version, label=label or f"chain · v{version.number}")
    return _experiment_start(
        team=team,
        actor=actor,
        prompt=version.prompt,
        specs=[spec],
        dataset=dataset,
        evaluators=evaluators,
        sample_size=sample_size,
        sample_seed=sample_seed,
        cost_cap=cost_cap,
        score_steps=score_steps,
    )


@dataclass
class Saved:
    version: PromptVersion
    created: bool  # False: a version with this content existed (an evaluation made it)
    tagged: str  # the unprotected tag moved to it, or ""
    needs_promotion: str  # the protected tag asked for: a promotion request is the way


@transaction.atomic
def playground_version_save(
    *,
    team: Team,
    actor: Actor,
    prompt: Prompt,
    variant: Variant,
    variables_schema: dict[str, Any],
    commit_message: str,
    tag_name: str = "",
    parent: PromptVersion | None = None,
) -> Saved:
    """Save a variant as a version and, in the same step, point an unprotected tag at it.

    Content already saved (e.g. by an evaluation) is that version, not a refusal. A
    protected tag is never moved here: the caller opens a promotion request for it."""
    require(actor, PERM_EDIT, team, message="Only editors can save versions.")
    if not (commit_message or "").strip():
        raise ValidationFailed("Describe the change in a commit message.", field="commit_message")
    version, created = _version_for(
        team=team,
        actor=actor,
        prompt=prompt,
        variant=variant,
        variables_schema=variables_schema,
        commit_message=commit_message,
        parent=parent,
    )
    tag_name = (tag_name or "").strip()
    tagged = needs_promotion = ""
    if tag_name:
        if team.is_protected_tag(tag_name):
            needs_promotion = tag_name
        else:
            current = version_at_tag(prompt, tag_name)
            if current is None or current.pk != version.pk:
                tag_move(
                    team=team,
                    actor=actor,
                    prompt=prompt,
                    tag_name=tag_name,
                    version=version,
                    reason=f"Saved from the playground: {commit_message.strip()}"[:500],
                )
            tagged = tag_name
    audit_record(
        team=team,
        actor=actor,
        verb="playground.save_version",
        target=version,
        after={"prompt": prompt.name, "number": version.number, "tag": tagged or None},
    )
    return Saved(version, created, tagged, needs_promotion)
