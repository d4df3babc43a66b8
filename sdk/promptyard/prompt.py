"""A fetched prompt version: what the server sent, and how to turn it into model input."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field, fields, replace
from typing import Any

from promptyard.llm_capture import note_rendered
from promptyard.rendering import KIND_CHAT, KIND_TEXT, render_prompt
from promptyard.rollouts import ARM_CANDIDATE, ARM_CURRENT, arm_for

# Model settings that are Promptyard's, not the provider's: never sent.
NOT_SENT = ("provider_id", "model")
# The settings the editor has always had fields for; `openai_kwargs` passes these and every
# other Chat Completions parameter a version holds (seed, reasoning_effort, logit_bias...).
OPENAI_SETTINGS = (
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "response_format",
    "tools",
    "tool_choice",
    "seed",
    "frequency_penalty",
    "presence_penalty",
)

REQUIRED_FIELDS = ("name", "version", "kind", "content_hash")
KIND_CHAIN = "chain"  # steps, each another prompt's version (promptyard.chain)


@dataclass(frozen=True)
class RolloutDef:
    """A tag under rollout: `candidate` is served to `percent` % of caller keys (sticky,
    promptyard.rollouts), the prompt carrying this to the rest."""

    id: int
    percent: int
    current_version: int
    candidate: Prompt

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "percent": self.percent,
            "current_version": self.current_version,
            "candidate": self.candidate.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any, *, source: str) -> RolloutDef | None:
        """None when `data` names only an arm (a keyed answer of the server)."""
        if not isinstance(data, dict) or "candidate" not in data:
            return None
        rollout_id, percent = data.get("id"), data.get("percent")
        if not isinstance(rollout_id, int) or not isinstance(percent, (int, float)):
            raise ValueError("rollout lacks its id or percent")
        return cls(
            id=rollout_id,
            percent=int(percent),
            current_version=int(data.get("current_version") or 0),
            candidate=Prompt.from_dict(data["candidate"], source=source),
        )


@dataclass(frozen=True)
class Prompt:
    name: str
    version: int
    kind: str = KIND_TEXT
    template: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)
    variables_schema: dict[str, Any] = field(default_factory=dict)
    model_settings: dict[str, Any] = field(default_factory=dict)
    content_hash: str = ""
    tag: str | None = None
    # Where this copy came from: "server", "cache" (memory), "disk", "fallback".
    source: str = "server"
    # True when served past its TTL (a refresh is under way or the server is unreachable).
    stale: bool = False
    # The tag's rollout, when one is under way (both versions and the split).
    rollout: RolloutDef | None = None
    # Under a rollout: the arm this copy is ("current" or "candidate"); None otherwise.
    arm: str | None = None
    # A chain's steps (kind "chain"): see promptyard.chain.ChainPrompt; [] otherwise.
    steps: list[dict[str, Any]] = field(default_factory=list)

    def for_key(self, key: Any = None) -> Prompt:
        """Under a rollout, the version of `key`'s arm (sticky per key: the same function
        as the server's); without a key a random arm. Without a rollout: itself."""
        rollout = self.rollout
        if rollout is None:
            return self
        arm = arm_for(self.name, rollout.id, rollout.percent, None if key is None else str(key))
        if arm == ARM_CANDIDATE:
            chosen = rollout.candidate
            return type(chosen)(
                **{
                    **chosen.__dict__,
                    "tag": self.tag,
                    "source": self.source,
                    "stale": self.stale,
                    "rollout": rollout,
                    "arm": ARM_CANDIDATE,
                }
            )
        return replace(self, arm=ARM_CURRENT)

    @property
    def is_fallback(self) -> bool:
        return self.source == "fallback"

    def render(self, **variables: Any) -> str | list[dict[str, Any]]:
        """The text (text prompts) or the messages (chat prompts), exactly as the server renders."""
        rendered = render_prompt(
            kind=self.kind,
            template=self.template,
            messages=self.messages,
            variables_schema=self.variables_schema,
            values=variables,
        )
        # An instrumented LLM call sending this text names this version (llm_capture).
        note_rendered(self.name, self.version, rendered)
        return rendered

    def openai_kwargs(self, **variables: Any) -> dict[str, Any]:
        """Keyword arguments for `openai_client.chat.completions.create(**kwargs)`: the
        messages, the model and every model setting the version holds (the server checked
        they are Chat Completions parameters)."""
        rendered = self.render(**variables)
        messages = rendered if self.kind == KIND_CHAT else [{"role": "user", "content": rendered}]
        settings = self.model_settings or {}
        kwargs: dict[str, Any] = {"messages": messages}
        if settings.get("model"):
            kwargs["model"] = settings["model"]
        for key, value in settings.items():
            if key not in NOT_SENT and value not in (None, "", []):
                kwargs[key] = value
        if isinstance(kwargs.get("response_format"), str):
            kwargs["response_format"] = {"type": kwargs["response_format"]}
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        skip = ("source", "stale", "rollout", "arm")
        data = {f.name: deepcopy(getattr(self, f.name)) for f in fields(self) if f.name not in skip}
        if self.rollout is not None:
            data["rollout"] = self.rollout.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "server") -> Prompt:
        """Build from the server's JSON; ValueError when the body is not a prompt."""
        if not isinstance(data, dict):
            raise ValueError("prompt payload is not an object")
        missing = [name for name in REQUIRED_FIELDS if name not in data]
        if missing:
            raise ValueError(f"prompt payload lacks {missing[0]!r}")
        kind = data["kind"]
        if kind not in (KIND_TEXT, KIND_CHAT, KIND_CHAIN):
            raise ValueError(f"unknown prompt kind {kind!r}")
        version = data["version"]
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError("prompt version is not an integer")
        return _class_of(kind)(
            name=str(data["name"]),
            version=version,
            kind=kind,
            template=data.get("template") or "",
            messages=list(data.get("messages") or []),
            variables=list(data.get("variables") or []),
            variables_schema=dict(data.get("variables_schema") or {}),
            model_settings=dict(data.get("model_settings") or {}),
            content_hash=str(data["content_hash"]),
            tag=data.get("tag"),
            source=source,
            rollout=RolloutDef.from_dict(data.get("rollout"), source=source),
            arm=_arm_of(data.get("rollout")),
            steps=list(data.get("steps") or []),
        )

    @classmethod
    def from_fallback(cls, name: str, fallback: Any, *, tag: str | None = None) -> Prompt:
        """A prompt from what the caller shipped with the code: a template string, a list
        of chat messages, a prompt-shaped dict, or a Prompt."""
        if isinstance(fallback, Prompt):
            return _class_of(fallback.kind)(
                **{**fallback.__dict__, "source": "fallback", "stale": False}
            )
        if isinstance(fallback, str):
            return TextPrompt(name=name, version=0, kind=KIND_TEXT, template=fallback, tag=tag,
                              source="fallback")  # fmt: skip
        if isinstance(fallback, list):
            return ChatPrompt(name=name, version=0, kind=KIND_CHAT, messages=fallback, tag=tag,
                              source="fallback")  # fmt: skip
        if isinstance(fallback, dict):
            data = {"name": name, "version": 0, "content_hash": "", "tag": tag, **fallback}
            data.setdefault("kind", KIND_CHAT if data.get("messages") else KIND_TEXT)
            return cls.from_dict(data, source="fallback")
        raise TypeError(
            "fallback must be a template string, a list of messages, a dict or a Prompt"
        )


@dataclass(frozen=True)
class TextPrompt(Prompt):
    """A text prompt: `render()` returns the text.

    `get_prompt` returns a TextPrompt or a ChatPrompt; `isinstance` narrows `render()`:

        prompt = client.get_prompt("summary")
        if isinstance(prompt, TextPrompt):
            text: str = prompt.render(doc=doc)
    """

    kind: str = KIND_TEXT

    def render(self, **variables: Any) -> str:
        rendered = super().render(**variables)
        assert isinstance(rendered, str)
        return rendered


@dataclass(frozen=True)
class ChatPrompt(Prompt):
    """A chat prompt: `render()` returns the list of messages (`{"role", "content"}`)."""

    kind: str = KIND_CHAT

    def render(self, **variables: Any) -> list[dict[str, Any]]:
        rendered = super().render(**variables)
        assert isinstance(rendered, list)
        return rendered


def _class_of(kind: str) -> type[Prompt]:
    return ChatPrompt if kind == KIND_CHAT else TextPrompt


def _arm_of(rollout: Any) -> str | None:
    if isinstance(rollout, dict) and rollout.get("arm") in (ARM_CURRENT, ARM_CANDIDATE):
        return str(rollout["arm"])
    return None
