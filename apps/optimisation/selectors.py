"""Reads of optimisation runs (team-scoped)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.core.errors import NotFound, ValidationFailed
from apps.optimisation.models import ACTIVE, Candidate, OptimisationRun, Round
from apps.prompts.models import PromptVersion


def run_get(run_id: Any) -> OptimisationRun:
    try:
        pk = int(run_id)
    except (TypeError, ValueError):
        raise NotFound("No such optimisation run.") from None
    run = (
        OptimisationRun.objects.select_related(
            "prompt_version__prompt", "dataset", "best_candidate__version", "promotion"
        )
        .filter(pk=pk)
        .first()
    )
    if run is None:
        raise NotFound("No such optimisation run.")
    return run


def runs_list(*, version: PromptVersion | None = None, limit: int = 50) -> list[OptimisationRun]:
    runs = OptimisationRun.objects.select_related("prompt_version__prompt", "dataset")
    if version is not None:
        runs = runs.filter(prompt_version=version)
    return list(runs.order_by("-created_at", "-pk")[:limit])


def run_candidates(run: OptimisationRun) -> list[Candidate]:
    return list(Candidate.objects.filter(run=run).select_related("version").order_by("index"))


def run_rounds(run: OptimisationRun) -> list[Round]:
    return list(Round.objects.filter(run=run).order_by("number"))


def running_count(request: HttpRequest) -> int:
    return OptimisationRun.objects.filter(status__in=ACTIVE).count()


def version_for_field(raw: Any, *, field: str = "prompt_version") -> PromptVersion:
    """The team's prompt version by id, else a refusal naming the field."""
    text = str(raw or "")
    version = (
        PromptVersion.objects.select_related("prompt").filter(pk=text).first()
        if text.isdigit()
        else None
    )
    if version is None:
        raise ValidationFailed("Choose a prompt version of this team.", field=field)
    return version


def start_train_score(run: OptimisationRun) -> float | None:
    start = Candidate.objects.filter(run=run, index=0).values_list("train_score", flat=True)
    return start.first()
