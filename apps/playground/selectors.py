"""Reads for the playground: its runs, and the versions and prompts it opens and saves to."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from apps.core.errors import NotFound, ValidationFailed
from apps.experiments.models import Experiment, Result, Score
from apps.playground.models import PlaygroundRun, RefineConversation, RefineMessage
from apps.prompts.models import Prompt, PromptVersion

PROMPT_CHOICES = 500  # prompts offered to save to


def run_list() -> QuerySet[PlaygroundRun]:
    """The team's runs, newest first."""
    return PlaygroundRun.objects.select_related("user", "prompt_version__prompt").order_by(
        "-created_at", "-pk"
    )


def run_get(run_id: Any) -> PlaygroundRun:
    try:
        return run_list().get(pk=int(run_id))
    except (PlaygroundRun.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such playground run.") from None


def version_named(version_id: Any) -> PromptVersion | None:
    """The version a page or post names by id (`?version=`, `version_id`): None when it
    names none, NotFound when there is no such version."""
    if not version_id:
        return None
    try:
        return PromptVersion.objects.select_related("prompt").get(pk=int(version_id))
    except (PromptVersion.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such prompt version.") from None


def prompt_for_field(value: Any, *, field: str = "prompt_id") -> Prompt:
    """The prompt a posted id names, or ValidationFailed on `field`."""
    try:
        return Prompt.objects.get(pk=int(value or 0))
    except (Prompt.DoesNotExist, ValueError, TypeError):
        raise ValidationFailed("Choose the prompt to save to.", field=field) from None


def prompt_choices() -> QuerySet[Prompt]:
    """The prompts a variant may be saved to, by name."""
    return Prompt.objects.order_by("name")[:PROMPT_CHOICES]


FAILING_ROWS = 50  # failing rows offered to show the refine assistant


def failing_results(experiment: Experiment, *, ids: list[Any] | None = None) -> list[Result]:
    """An experiment's failed cells (a model error, or an automatic or human score that
    failed), in dataset order, with their scores; with `ids`, only those of them."""
    failed = Score.objects.filter(result=OuterRef("pk"), passed=False)
    qs = (
        Result.objects.filter(experiment=experiment)
        .filter(Q(Exists(failed)) | ~Q(error=""))
        .select_related("variant")
        .prefetch_related(Prefetch("scores", queryset=Score.objects.order_by("id")))
        .order_by("position", "variant_id", "repetition")
    )
    if ids is not None:
        wanted = [int(i) for i in ids if str(i).isdigit()]
        qs = qs.filter(pk__in=wanted)
    return list(qs[:FAILING_ROWS])


def failing_rows(experiment: Experiment, ids: list[Any]) -> list[dict[str, Any]]:
    """The chosen failed cells as the assistant is shown them: input, expected, output and
    every evaluator's feedback."""
    rows = []
    for result in failing_results(experiment, ids=ids):
        feedback = [
            f"{s.evaluator_name or s.source}: {'pass' if s.passed else 'fail'}"
            + (f" ({s.explanation})" if s.explanation else "")
            for s in result.scores.all()
            if s.passed is not None or s.explanation
        ]
        if result.error:
            feedback.insert(0, f"model error: {result.error}")
        rows.append(
            {
                "result_id": result.pk,
                "input": result.input,
                "expected": result.expected,
                "output": result.output,
                "feedback": feedback,
            }
        )
    return rows


def experiment_or_none(raw: Any) -> Experiment | None:
    """The experiment a form names ("12" or "#12"), None when it names none or no such."""
    raw = str(raw or "").lstrip("#").strip()
    return Experiment.objects.filter(pk=raw).first() if raw.isdigit() else None


def conversation_get(conversation_id: Any) -> RefineConversation:
    try:
        return RefineConversation.objects.select_related(
            "prompt", "base_version", "produced_version__prompt", "assistant_version__prompt"
        ).get(pk=int(conversation_id))
    except (RefineConversation.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such conversation.") from None


def conversation_or_none(raw: Any) -> RefineConversation | None:
    return conversation_get(raw) if str(raw or "").isdigit() else None


def conversation_messages(conversation: RefineConversation) -> list[RefineMessage]:
    return list(conversation.messages.order_by("created_at", "pk"))


def refine_message_get(message_id: Any) -> RefineMessage:
    try:
        return RefineMessage.objects.select_related(
            "conversation__prompt", "conversation__base_version"
        ).get(pk=int(message_id))
    except (RefineMessage.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such answer.") from None


def conversations_recent(*, limit: int = 50) -> list[RefineConversation]:
    return list(
        RefineConversation.objects.select_related(
            "prompt", "produced_version__prompt", "user"
        ).order_by("-created_at", "-pk")[:limit]
    )
