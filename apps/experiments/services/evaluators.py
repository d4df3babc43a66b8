"""Writes to a team's evaluators: create, update (a new version when the rule changes), delete."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.experiments.evaluators import get_kind, resolve_judge, validate_params
from apps.experiments.evaluators.judge import KIND as JUDGE_KIND
from apps.experiments.models import Evaluator
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import PERM_EDIT, ApiKeyScope, Team
from apps.teams.permissions import actor_user, require

WRITE = ApiKeyScope.EXPERIMENTS_WRITE


def _clean_evaluator(name: str, kind: str, params: Any) -> tuple[str, dict[str, Any]]:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the evaluator a name.", field="name")
    if len(name) > 100:
        raise ValidationFailed("The name is longer than 100 characters.", field="name")
    get_kind(kind)
    cleaned = validate_params(kind, params)
    if kind == JUDGE_KIND:
        resolve_judge(cleaned)  # the judge prompt version must exist and name a model
    return name, cleaned


@transaction.atomic
def evaluator_create(
    *,
    team: Team,
    actor: Actor,
    name: str,
    kind: str,
    params: dict[str, Any] | None = None,
    description: str = "",
) -> Evaluator:
    require(actor, PERM_EDIT, team, scope=WRITE)
    name, cleaned = _clean_evaluator(name, kind, params)
    if Evaluator.objects.filter(name=name).exists():
        raise ValidationFailed("An evaluator with that name exists.", field="name")
    evaluator = Evaluator(
        team=team,
        name=name,
        kind=kind,
        params=cleaned,
        description=description or "",
        created_by=actor_user(actor),
    )
    try:
        with transaction.atomic():
            evaluator.save()
    except IntegrityError:
        raise ValidationFailed("An evaluator with that name exists.", field="name") from None
    audit_record(
        team=team,
        actor=actor,
        verb="evaluator.create",
        target=evaluator,
        after={"name": name, "kind": kind, "params": cleaned},
    )
    return evaluator


@transaction.atomic
def evaluator_update(
    *,
    team: Team,
    actor: Actor,
    evaluator: Evaluator,
    name: str | None = None,
    kind: str | None = None,
    params: dict[str, Any] | None = None,
    description: str | None = None,
) -> Evaluator:
    """Change an evaluator; a change of kind or params is a new version."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    evaluator = Evaluator.objects.select_for_update().get(pk=evaluator.pk)
    before = {"name": evaluator.name, "kind": evaluator.kind, "params": evaluator.params}
    new_kind = evaluator.kind if kind is None else kind
    new_params = evaluator.params if params is None and kind is None else (params or {})
    new_name, cleaned = _clean_evaluator(
        evaluator.name if name is None else name, new_kind, new_params
    )
    if new_name != evaluator.name and Evaluator.objects.filter(name=new_name).exists():
        raise ValidationFailed("An evaluator with that name exists.", field="name")
    if new_kind != evaluator.kind or cleaned != evaluator.params:
        evaluator.version += 1
    evaluator.name, evaluator.kind, evaluator.params = new_name, new_kind, cleaned
    if description is not None:
        evaluator.description = description
    evaluator.updated_at = timezone.now()
    evaluator.save()
    audit_record(
        team=team,
        actor=actor,
        verb="evaluator.update",
        target=evaluator,
        before=before,
        after={"name": new_name, "kind": new_kind, "params": cleaned, "version": evaluator.version},
    )
    return evaluator


@transaction.atomic
def evaluator_delete(*, team: Team, actor: Actor, evaluator: Evaluator) -> None:
    require(actor, PERM_EDIT, team, scope=WRITE)
    audit_record(
        team=team,
        actor=actor,
        verb="evaluator.delete",
        target=evaluator,
        before={"name": evaluator.name, "kind": evaluator.kind},
    )
    evaluator.delete()
