"""Prompt chains in the SDK: a fetched version of kind "chain" as its ordered steps, and
running it, each step's prompt fetched (pinned version or tag) and called by the caller,
earlier outputs fed to later steps exactly as the server does (apps/prompts/chains.py),
each step a span nested in the chain's span.

    chain = ChainPrompt.from_prompt(client.get_prompt("support-chain"))
    run = chain.run(
        values={"ticket": text},
        fetch=lambda step: client.get_prompt(step.prompt, tag=step.tag, version=step.version),
        call=lambda prompt, rendered: my_model_call(prompt.openai_kwargs(...)),
    )
    run.output, run.outputs["summarise"]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from promptyard.prompt import KIND_CHAIN, Prompt
from promptyard.rendering import KIND_TEXT, render_prompt
from promptyard.tracing import trace

MAX_STEPS = 8  # the server refuses longer chains


@dataclass(frozen=True)
class ChainStep:
    name: str
    prompt: str
    version: int | None = None
    tag: str | None = None
    # A step variable -> a template over the chain's values and `steps.<name>.output`.
    inputs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> ChainStep:
        if not isinstance(data, dict) or not data.get("name") or not data.get("prompt"):
            raise ValueError("a chain step needs a name and a prompt")
        version = data.get("version")
        return cls(
            name=str(data["name"]),
            prompt=str(data["prompt"]),
            version=int(version) if version is not None else None,
            tag=data.get("tag") or None,
            inputs={str(k): str(v) for k, v in (data.get("inputs") or {}).items()},
        )


@dataclass
class ChainRun:
    outputs: dict[str, str] = field(default_factory=dict)  # step name -> its output

    @property
    def output(self) -> str:
        """The last step's output: the chain's."""
        return list(self.outputs.values())[-1] if self.outputs else ""


@dataclass(frozen=True)
class ChainPrompt:
    prompt: Prompt
    steps: list[ChainStep]

    @classmethod
    def from_prompt(cls, prompt: Prompt) -> ChainPrompt:
        if prompt.kind != KIND_CHAIN:
            raise ValueError(f"{prompt.name} v{prompt.version} is a {prompt.kind} prompt")
        steps = [ChainStep.from_dict(step) for step in prompt.steps]
        if not steps or len(steps) > MAX_STEPS:
            raise ValueError(f"a chain has 1 to {MAX_STEPS} steps")
        return cls(prompt=prompt, steps=steps)

    def step_values(
        self, step: ChainStep, values: Mapping[str, Any], outputs: Mapping[str, str]
    ) -> dict[str, Any]:
        """The values `step` renders with: its mapped inputs rendered, the rest passed."""
        context = {**values, "steps": {name: {"output": text} for name, text in outputs.items()}}
        out = dict(values)
        for variable, source in step.inputs.items():
            rendered = render_prompt(kind=KIND_TEXT, template=source, values=context)
            out[variable] = rendered if isinstance(rendered, str) else str(rendered)
        return out

    def run(
        self,
        *,
        values: Mapping[str, Any],
        fetch: Callable[[ChainStep], Prompt],
        call: Callable[[Prompt, dict[str, Any]], str],
    ) -> ChainRun:
        """Run the steps in order: `fetch(step)` gives the step's prompt (a chain step
        never is a chain), `call(prompt, step_values)` its output. Traced as a span per
        step inside the chain's span (when tracing is configured)."""
        result = ChainRun()
        with trace(
            f"chain {self.prompt.name}",
            attributes={"promptyard.prompt": self.prompt.name,
                        "promptyard.prompt_version": self.prompt.version},
        ):  # fmt: skip
            for step in self.steps:
                with trace(f"step {step.name}", attributes={"promptyard.chain_step": step.name}):
                    prompt = fetch(step)
                    if prompt.kind == KIND_CHAIN:
                        raise ValueError(f"step {step.name}: chains do not nest")
                    step_values = self.step_values(step, values, result.outputs)
                    known = {k: v for k, v in step_values.items() if k in prompt.variables}
                    result.outputs[step.name] = call(prompt, known)
        return result
