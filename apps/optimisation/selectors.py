"""Reads of optimisation runs (team-scoped)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.annotations.models import AnnotationQueue
from apps.annotations.selectors import queue_for
from apps.core.errors import NotFound, ValidationFailed
from apps.optimisation.models import ACTIVE, Candidate, OptimisationRun, Proposal, Round
from apps.prompts.models import PromptVersion
from apps.teams.actors import Actor
from apps.teams.models import Team

MAX_ID = 2**63 - 1  # past this an id would overflow the database integer


def _id(raw: Any) -> int | None:
    text = str(raw if raw is not None else "").strip()
    if not text.isdigit() or int(text) > MAX_ID:
        return None
    return int(text)


def run_get(run_id: Any) -> OptimisationRun:
    pk = _id(run_id)
    if pk is None:
        raise NotFound("No such optimisation run.")
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


def run_proposals(run: OptimisationRun) -> list[Proposal]:
    """Every proposal of the run, accepted or not, round by round."""
    return list(Proposal.objects.filter(run=run).order_by("round", "position"))


def running_count(request: HttpRequest) -> int:
    return OptimisationRun.objects.filter(status__in=ACTIVE).count()


def version_for_field(raw: Any, *, field: str = "prompt_version") -> PromptVersion:
    """The team's prompt version by id, else a refusal naming the field."""
    pk = _id(raw)
    version = (
        PromptVersion.objects.select_related("prompt").filter(pk=pk).first()
        if pk is not None
        else None
    )
    if version is None:
        raise ValidationFailed("Choose a prompt version of this team.", field=field)
    return version


def start_train_score(run: OptimisationRun) -> float | None:
    start = Candidate.objects.filter(run=run, index=0).values_list("train_score", flat=True)
    return start.first()


def queue_for_field(
    raw: Any, *, team: Team, actor: Actor, field: str = "annotation_queue"
) -> AnnotationQueue | None:
    """The annotation queue a request names (None when it names none), else a refusal."""
    if raw in (None, ""):
        return None
    pk = _id(raw)
    try:
        if pk is None:
            raise NotFound("No such queue.")
        return queue_for(team=team, actor=actor, queue_id=pk)
    except NotFound:
        raise ValidationFailed("No such annotation queue in this team.", field=field) from None
