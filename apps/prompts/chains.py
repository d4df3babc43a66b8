"""Chains: a version of kind `chain` is an ordered list of steps, each another prompt's
version (pinned by number, or the version a tag points at when the chain runs) whose
variables may take earlier steps' outputs.

A step: {"name": "summarise", "prompt": "summariser", "version": 3 | "tag": "production",
"inputs": {"text": "{{ steps.summarise.output }}"}}. `inputs` maps a step's variable to a
template rendered (in the same sandbox as prompts) with the chain's input values and
`steps.<earlier name>.output`; a variable not mapped takes the chain input of its name.

Bounded: at most MAX_STEPS steps; a step names another prompt (never the chain's own) and
must resolve to a text or chat version, so chains do not nest and no chain can include
itself, whatever its tags point at later (a run refuses a step that resolves to a chain).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from apps.core.errors import ValidationFailed
from apps.prompts.models import Kind, Prompt, PromptVersion, Tag
from apps.prompts.rendering import RenderError, render_prompt, template_variables

MAX_STEPS = 8
STEP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
STEP_REF = re.compile(r"\bsteps\s*\.\s*([A-Za-z_]\w*)")
FIELD = "steps"


@dataclass(frozen=True)
class ResolvedStep:
    name: str
    version: PromptVersion
    inputs: dict[str, str]


def _refuse(index: int, message: str) -> ValidationFailed:
    return ValidationFailed(f"Step {index + 1}: {message}", field=FIELD)


def _resolve(index: int, spec: dict[str, Any], *, chain_prompt_id: int | None) -> PromptVersion:
    prompt = Prompt.objects.filter(name=spec["prompt"]).first()
    if prompt is None:
        raise _refuse(index, f"there is no prompt named {spec['prompt']!r}.")
    if prompt.pk == chain_prompt_id:
        raise _refuse(index, "a chain cannot include itself.")
    if spec.get("version") is not None:
        version = (
            PromptVersion.objects.select_related("prompt")
            .filter(prompt=prompt, number=spec["version"])
            .first()
        )
        if version is None:
            raise _refuse(index, f"{prompt.name} has no v{spec['version']}.")
    else:
        tag = (
            Tag.objects.select_related("version__prompt")
            .filter(prompt=prompt, name=spec["tag"])
            .first()
        )
        if tag is None:
            raise _refuse(index, f"{prompt.name} has no tag {spec['tag']!r}.")
        version = tag.version
    if version.kind == Kind.CHAIN:
        raise _refuse(index, f"{prompt.name} v{version.number} is a chain; chains do not nest.")
    return version


def clean_steps(steps: Any, *, chain_prompt: Prompt | None) -> list[dict[str, Any]]:
    """The steps in canonical form, or ValidationFailed on `steps` naming the step."""
    if not isinstance(steps, list) or not steps:
        raise ValidationFailed("A chain needs at least one step.", field=FIELD)
    if len(steps) > MAX_STEPS:
        raise ValidationFailed(f"A chain has at most {MAX_STEPS} steps.", field=FIELD)
    cleaned: list[dict[str, Any]] = []
    names: list[str] = []
    for index, spec in enumerate(steps):
        if not isinstance(spec, dict):
            raise _refuse(index, "must be an object.")
        name = spec.get("name")
        if not isinstance(name, str) or not STEP_NAME.match(name):
            raise _refuse(index, "name it with lowercase letters, digits and _ (e.g. summarise).")
        if name in names:
            raise _refuse(index, f"another step is already named {name!r}.")
        if not isinstance(spec.get("prompt"), str) or not spec["prompt"]:
            raise _refuse(index, "name the prompt it runs.")
        version, tag = spec.get("version"), spec.get("tag")
        if (version is None) == (tag in (None, "")):
            raise _refuse(index, "give either a version number or a tag.")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise _refuse(index, "the version is a number.")
        if tag not in (None, "") and not isinstance(tag, str):
            raise _refuse(index, "the tag is a name.")
        inputs = spec.get("inputs") or {}
        if not isinstance(inputs, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in inputs.items()
        ):
            raise _refuse(index, "inputs map variable names to templates.")
        for variable, source in inputs.items():
            try:
                template_variables(Kind.TEXT, source, [])
            except RenderError as exc:
                raise _refuse(index, f"input {variable!r}: {exc.message}") from None
            for ref in STEP_REF.findall(source):
                if ref not in names:
                    raise _refuse(
                        index, f"input {variable!r} uses steps.{ref}, which is not an earlier step."
                    )
        step: dict[str, Any] = {"name": name, "prompt": spec["prompt"], "inputs": dict(inputs)}
        if version is not None:
            step["version"] = version
        else:
            step["tag"] = tag
        _resolve(index, step, chain_prompt_id=chain_prompt.pk if chain_prompt else None)
        cleaned.append(step)
        names.append(name)
    return cleaned


def resolve_steps(version: PromptVersion) -> list[ResolvedStep]:
    """A chain version's steps as they run now (tags read now). ValidationFailed when one
    no longer resolves (a tag deleted, or moved to a chain)."""
    return [
        ResolvedStep(
            name=spec["name"],
            version=_resolve(index, spec, chain_prompt_id=version.prompt_id),
            inputs=dict(spec.get("inputs") or {}),
        )
        for index, spec in enumerate(version.steps or [])
    ]


def step_variables(spec: dict[str, Any], *, chain_prompt: Prompt | None) -> list[str] | None:
    """The variables of the version a step (as typed in the editor) runs now, or None when
    it does not resolve (the editor shows input fields only for a step it can read)."""
    if not isinstance(spec.get("prompt"), str) or not spec["prompt"]:
        return None
    if not isinstance(spec.get("version"), int) and not spec.get("tag"):
        return None
    try:
        version = _resolve(0, spec, chain_prompt_id=chain_prompt.pk if chain_prompt else None)
    except ValidationFailed:
        return None
    return list(version.variables or [])


def steps_shown(version: PromptVersion) -> list[dict[str, Any]]:
    """A chain version's steps for its page: each with `runs`, the version number it runs
    now (a tag read now), or None when it no longer resolves."""
    shown = []
    for index, spec in enumerate(version.steps or []):
        try:
            runs: int | None = _resolve(index, spec, chain_prompt_id=version.prompt_id).number
        except ValidationFailed:
            runs = None
        shown.append({**spec, "runs": runs})
    return shown


def chain_variables(steps: list[dict[str, Any]], *, chain_prompt: Prompt | None) -> list[str]:
    """The chain's own input variables: every step variable not mapped, and every name an
    input template reads other than `steps`, in first-seen order."""
    names: list[str] = []
    for index, spec in enumerate(steps):
        version = _resolve(index, spec, chain_prompt_id=chain_prompt.pk if chain_prompt else None)
        inputs = spec.get("inputs") or {}
        for variable in version.variables or []:
            if variable not in inputs and variable not in names:
                names.append(variable)
        for source in inputs.values():
            for variable in template_variables(Kind.TEXT, source, []):
                if variable != "steps" and variable not in names:
                    names.append(variable)
    return names


def step_values(step: ResolvedStep, values: dict[str, Any], outputs: dict[str, str]) -> dict:
    """The values one step renders with: mapped inputs rendered from the chain's values and
    earlier outputs, the rest passed through. RenderError when an input fails to render."""
    context = {**values, "steps": {name: {"output": text} for name, text in outputs.items()}}
    out = {k: v for k, v in values.items() if k in (step.version.variables or [])}
    for variable, source in step.inputs.items():
        rendered = render_prompt(
            kind=Kind.TEXT, template=source, messages=[], variables_schema={}, values=context
        )
        out[variable] = rendered if isinstance(rendered, str) else str(rendered)
    return out
