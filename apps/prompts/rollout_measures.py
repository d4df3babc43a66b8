"""How a rollout's two arms compare in production: the traces app (which holds the
traces, above prompts) registers its measure here in `AppConfig.ready()`, as the
experiments app registers the promotion gate (apps.prompts.gates). With none registered
the rollout page shows the split and its steps only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RolloutMeasure:
    # page_context(request, rollout) -> extra context of the rollout page; names the
    # template of its panel as `measure_template`
    page_context: Callable[[Any, Any], dict]
    # as_dict(rollout) -> the comparison for the API (JSON-ready)
    as_dict: Callable[[Any], dict] | None = None


_measure: RolloutMeasure | None = None


def register_rollout_measure(measure: RolloutMeasure) -> None:
    global _measure
    _measure = measure


def page_context(request, rollout) -> dict:
    return _measure.page_context(request, rollout) if _measure is not None else {}


def comparison(rollout) -> dict | None:
    if _measure is None or _measure.as_dict is None:
        return None
    return _measure.as_dict(rollout)
