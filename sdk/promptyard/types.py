"""What the client's calls return: plain frozen dataclasses (no dependency), built from
the server's JSON. Each keeps the full answer in `raw`, so a field the server adds later
is reachable before the SDK names it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

from promptyard.prompt import ChatPrompt, Prompt, TextPrompt

T = TypeVar("T")


def _build(cls: type[T], data: Any, **extra: Any) -> T:
    """An instance of dataclass `cls` from a JSON object: known keys taken, others kept in
    `raw`; missing keys take the field's default."""
    if not isinstance(data, dict):
        raise ValueError(f"expected an object for {cls.__name__}, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]  # a dataclass
    values = {k: v for k, v in data.items() if k in names and k != "raw"}
    values.update(extra)
    values["raw"] = data
    return cls(**values)


@dataclass(frozen=True)
class PromptInfo:
    """A prompt of the Hub (not a version): its tags map tag name -> version number."""

    name: str
    description: str = ""
    owner: str | None = None
    tags: dict[str, int] = field(default_factory=dict)
    version_count: int = 0
    created_at: str | None = None
    updated_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class PromptVersion:
    """One saved (immutable) version of a prompt."""

    prompt: str
    number: int
    kind: str = "text"
    template: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)
    variables_schema: dict[str, Any] = field(default_factory=dict)
    model_settings: dict[str, Any] = field(default_factory=dict)
    commit_message: str = ""
    author: str | None = None
    parent: int | None = None
    content_hash: str = ""
    created_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def as_prompt(self) -> TextPrompt | ChatPrompt:
        """This version as a renderable prompt (`render()`, `openai_kwargs()`)."""
        prompt = Prompt.from_dict({**self.raw, "name": self.prompt, "version": self.number})
        assert isinstance(prompt, (TextPrompt, ChatPrompt))
        return prompt


@dataclass(frozen=True)
class DiffSection:
    title: str
    same: bool
    unified: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class PromptDiff:
    """What changed from one version to another: the content and the model settings."""

    prompt: str
    from_version: int
    to_version: int
    sections: list[DiffSection] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def same(self) -> bool:
        return all(section.same for section in self.sections)

    @property
    def unified(self) -> str:
        """Every section's unified diff, one after the other."""
        return "".join(section.unified for section in self.sections if not section.same)


@dataclass(frozen=True)
class Tag:
    name: str
    version: int
    protected: bool = False
    immutable: bool = False
    updated_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class TagEvent:
    """One move of a tag (who, when, from, to, why)."""

    id: int
    tag_name: str
    to_version: int
    from_version: int | None = None
    actor: str | None = None
    approver: str | None = None
    reason: str = ""
    is_rollback: bool = False
    created_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class PromotionRequest:
    id: int
    prompt: str
    tag_name: str
    candidate: int
    status: str
    current_version: int | None = None
    description: str = ""
    evidence: list[int] = field(default_factory=list)
    requester: str | None = None
    reviewer: str | None = None
    blocked_reasons: list[str] = field(default_factory=list)
    created_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Dataset:
    id: int
    name: str
    description: str = ""
    current_revision: int = 0
    example_count: int = 0
    created_at: str | None = None
    updated_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class DatasetRevision:
    number: int
    message: str = ""
    actor_label: str = ""
    added: int = 0
    changed: int = 0
    removed: int = 0
    row_count: int = 0
    splits: Any = None
    created_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Experiment:
    id: int
    name: str
    status: str
    description: str = ""
    status_detail: str = ""
    error: str = ""
    dataset_id: int | None = None
    dataset_name: str = ""
    dataset_revision: int | None = None
    split: str = ""
    repetitions: int = 1
    concurrency: int = 1
    total_cells: int = 0
    done_count: int = 0
    error_count: int = 0
    progress_percent: int = 0
    cost_total: float | None = None
    variants: list[dict[str, Any]] = field(default_factory=list)
    evaluators: list[dict[str, Any]] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    created_at: str | None = None
    finished_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # Statuses after which nothing runs any more (a draft has not started) (see `client.experiments.wait`).
    FINISHED = ("completed", "failed", "cancelled", "capped")

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED


@dataclass(frozen=True)
class ExperimentResult:
    """One cell: an example's output under one variant and repetition, with its scores."""

    id: int
    variant_id: int
    example_id: Any
    position: int = 0
    repetition: int = 0
    input: Any = None
    expected: Any = None
    output: Any = None
    error: str = ""
    error_kind: str = ""
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    scores: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Comparison:
    """The comparison page's numbers: per-evaluator statistics of every variant against
    the baseline, and the gate's verdict (`regression`, `undecided`, `findings`)."""

    gate: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def regression(self) -> bool:
        return bool(self.gate.get("regression"))

    @property
    def undecided(self) -> bool:
        return bool(self.gate.get("undecided"))

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.gate.get("findings") or [])


@dataclass(frozen=True)
class Score:
    id: str
    trace_id: str
    name: str
    value: Any = None
    kind: str = ""
    span_id: str | None = None
    comment: str = ""
    source: str = ""
    author: str = ""
    created_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class AnnotationQueue:
    id: int
    name: str
    instructions: str = ""
    total: int = 0
    done: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class QueueFill:
    """What `client.annotations.fill` added."""

    added: int
    item_ids: list[int] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Span:
    span_id: str
    name: str
    parent_span_id: str | None = None
    kind: str = ""
    start_ns: int | None = None
    end_ns: int | None = None
    duration_ms: float | None = None
    status_code: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    input_text: str = ""
    output_text: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    prompt_name: str = ""
    prompt_version_number: int | None = None
    function_name: str = ""
    function_version: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Trace:
    """A trace; `spans` is filled by `client.traces.get` (the list leaves it empty)."""

    trace_id: str
    name: str = ""
    status: str = ""
    start_time: str | None = None
    end_time: str | None = None
    duration_ms: float | None = None
    span_count: int = 0
    model: str = ""
    prompt_name: str = ""
    prompt_version_number: int | None = None
    function_name: str = ""
    input_preview: str = ""
    output_preview: str = ""
    spans: list[Span] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
