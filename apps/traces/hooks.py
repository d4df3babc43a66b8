"""What traces offers when another app provides it. Annotations sits in traces' own layer,
so neither imports the other: annotations registers these through `apps.core.hooks` in its
AppConfig.ready(), and traces reads them here.

- `traces.span_queues`: sending spans to an annotation queue, registered as a mapping with
  the fields of `SpanQueues`.
- `annotations.verdict_saved` (the other way): traces registers a listener that mirrors a
  queue's verdict on a span onto its trace as a human score.
- `traces.demo_steps`: `step(team, users, spans)`, run by the traces demo once its traces
  are stored, with their model-call spans (the annotations demo queues them for review).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from apps.core.hooks import hook_implementations

SPAN_QUEUES = "traces.span_queues"
DEMO_STEPS = "traces.demo_steps"


@dataclass(frozen=True)
class SpanQueues:
    may_send: Callable[[Any, Any], bool]  # (actor, team): may this actor add items?
    queues: Callable[..., Iterable]  # (*, team, actor): the queues to choose from
    queue_get: Callable[..., Any]  # (*, team, actor, queue_id): the queue, or NotFound
    send: Callable[..., list]  # (*, team, actor, queue, spans): the items added
    # (*, team, actor, queue, span, passed, reasoning, fields): a verdict under the queue's
    # rules; `fields` are the values of its extra fields (queue.form_fields) by name
    verdict: Callable[..., Any] | None = None


def span_queues() -> SpanQueues | None:
    """The registered annotation queues, or None when no app provides them."""
    found = hook_implementations(SPAN_QUEUES)
    return SpanQueues(**found[-1]) if found else None


def demo_steps() -> list[Callable]:
    return hook_implementations(DEMO_STEPS)
