"""Every write to annotation queues, items, assignments and annotations.

Locking: a claimed item is locked to its annotator for LOCK_DURATION. The claim runs
`SELECT … FOR UPDATE SKIP LOCKED`, so two annotators claiming at once never get the same
item while it needs only one more verdict; an expired lock is free again.
"""

from __future__ import annotations

import random
from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from apps.annotations.models import (
    LOCK_DURATION,
    Annotation,
    AnnotationQueue,
    Assignment,
    FieldKind,
    ItemStatus,
    QueueItem,
)
from apps.core.errors import Conflict, NotFound, PermissionRefused, ValidationFailed
from apps.core.validation import full_clean_or_raise
from apps.teams.audit import audit_record
from apps.teams.models import PERM_ANNOTATE, PERM_EDIT, PERM_OWN, Membership, Role
from apps.teams.permissions import actor_can, is_api_key

SCOPE = "annotations:write"
FILL_MODES = ("all", "failed", "regressions", "sample")
ASSIGN_MODES = ("each", "round_robin")
MAX_ANNOTATORS = 10
# Human scores have no Evaluator row; comparisons group them under this name.
HUMAN_EVALUATOR_NAME = "Human"


def _user_or_none(actor):
    return None if is_api_key(actor) or actor is None else actor


def can(actor, perm: str, team) -> bool:
    """`actor_can` remembered on the actor for its lifetime (one request): object
    permissions cost two queries each and a page asks several times."""
    if is_api_key(actor) or actor is None:
        return actor_can(actor, perm, team, scope=SCOPE)
    memo = actor.__dict__.setdefault("_annotation_perms", {})
    key = (perm, team.pk)
    if key not in memo:
        memo[key] = actor_can(actor, perm, team, scope=SCOPE)
    return memo[key]


def can_manage(actor, team) -> bool:
    """Editors and up (and keys with the scope) manage queues and see every item."""
    return can(actor, PERM_EDIT, team)


def _require(actor, perm, team, message):
    if not can(actor, perm, team):
        raise PermissionRefused(message)


def _require_manage(actor, team):
    _require(actor, PERM_EDIT, team, "Only editors can manage queues.")


def _require_annotate(actor, team):
    _require(actor, PERM_ANNOTATE, team, "You cannot annotate in this team.")


# --- queues --------------------------------------------------------------------------


def clean_form_fields(raw) -> list[dict]:
    """Validate the extra verdict fields; returns them normalised."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise ValidationFailed("Extra fields must be a list.", field="form_fields")
    cleaned, names = [], set()
    for index, spec in enumerate(raw, start=1):
        if not isinstance(spec, dict):
            raise ValidationFailed(f"Field {index}: expected an object.", field="form_fields")
        name = str(spec.get("name", "")).strip()
        kind = spec.get("kind")
        if not name or not name.replace("_", "").isalnum():
            raise ValidationFailed(
                f"Field {index}: give it a name of letters, digits and underscores.",
                field="form_fields",
            )
        if name in names or name in {"passed", "reasoning", "corrected_expected"}:
            raise ValidationFailed(f"Field name {name!r} is used twice.", field="form_fields")
        names.add(name)
        if kind not in FieldKind.values:
            raise ValidationFailed(
                f"Field {name!r}: kind must be one of {', '.join(FieldKind.values)}.",
                field="form_fields",
            )
        field = {
            "name": name,
            "kind": kind,
            "label": str(spec.get("label") or name.replace("_", " ").capitalize())[:100],
            "required": bool(spec.get("required", False)),
        }
        if kind == FieldKind.LABEL:
            choices = [str(c).strip() for c in spec.get("choices") or [] if str(c).strip()]
            if len(choices) < 2 or len(set(choices)) != len(choices):
                raise ValidationFailed(
                    f"Field {name!r}: list at least two distinct labels.", field="form_fields"
                )
            field["choices"] = choices
        elif kind == FieldKind.NUMBER:
            try:
                low = float(spec["min"]) if spec.get("min") not in (None, "") else None
                high = float(spec["max"]) if spec.get("max") not in (None, "") else None
            except (TypeError, ValueError):
                raise ValidationFailed(
                    f"Field {name!r}: min and max must be numbers.", field="form_fields"
                ) from None
            if low is not None and high is not None and low > high:
                raise ValidationFailed(f"Field {name!r}: min is above max.", field="form_fields")
            field["min"], field["max"] = low, high
        cleaned.append(field)
    return cleaned


def _queue_state(queue) -> dict:
    return {
        "name": queue.name,
        "instructions": queue.instructions,
        "form_fields": queue.form_fields,
        "annotators_per_item": queue.annotators_per_item,
        "hide_auto_scores": queue.hide_auto_scores,
    }


def _check_queue(queue):
    queue.name = (queue.name or "").strip()
    if not queue.name:
        raise ValidationFailed("Give the queue a name.", field="name")
    if not 1 <= int(queue.annotators_per_item or 0) <= MAX_ANNOTATORS:
        raise ValidationFailed(
            f"Annotators per item must be between 1 and {MAX_ANNOTATORS}.",
            field="annotators_per_item",
        )
    clash = AnnotationQueue.objects.filter(name__iexact=queue.name).exclude(pk=queue.pk)
    if clash.exists():
        raise ValidationFailed("A queue with that name exists.", field="name")
    full_clean_or_raise(queue, exclude=["team", "created_by"], validate_constraints=False)


@transaction.atomic
def queue_create(
    *,
    team,
    actor,
    name: str,
    instructions: str = "",
    form_fields=None,
    annotators_per_item: int = 1,
    hide_auto_scores: bool = False,
) -> AnnotationQueue:
    _require_manage(actor, team)
    queue = AnnotationQueue(
        team=team,
        name=name,
        instructions=instructions or "",
        form_fields=clean_form_fields(form_fields),
        annotators_per_item=annotators_per_item,
        hide_auto_scores=bool(hide_auto_scores),
        created_by=_user_or_none(actor),
    )
    _check_queue(queue)
    queue.save()
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.create",
        target=queue,
        after=_queue_state(queue),
    )
    return queue


_UPDATABLE = ("name", "instructions", "form_fields", "annotators_per_item", "hide_auto_scores")


@transaction.atomic
def queue_update(*, team, actor, queue: AnnotationQueue, **changes) -> AnnotationQueue:
    _require_manage(actor, team)
    unknown = set(changes) - set(_UPDATABLE)
    if unknown:
        raise ValidationFailed(f"Unknown field {sorted(unknown)[0]!r}.")
    queue = AnnotationQueue.objects.select_for_update().get(pk=queue.pk)
    before = _queue_state(queue)
    if "form_fields" in changes:
        changes["form_fields"] = clean_form_fields(changes["form_fields"])
    if "hide_auto_scores" in changes:
        changes["hide_auto_scores"] = bool(changes["hide_auto_scores"])
    for key, value in changes.items():
        setattr(queue, key, value)
    _check_queue(queue)
    queue.save()
    if queue.annotators_per_item != before["annotators_per_item"]:
        # Items judged so far may now have enough verdicts, or too few.
        for item in QueueItem.objects.filter(queue=queue, decided_at__isnull=True).exclude(
            annotation_count=0
        ):
            _settle(item, queue)
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.update",
        target=queue,
        before=before,
        after=_queue_state(queue),
    )
    return queue


@transaction.atomic
def queue_delete(*, team, actor, queue: AnnotationQueue) -> None:
    _require_manage(actor, team)
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.delete",
        target=queue,
        before=_queue_state(queue),
    )
    queue.delete()


# --- filling from an experiment --------------------------------------------------------


def variant_by_label(experiment, label, *, field: str | None = None):
    """The experiment's variant labelled `label`; None for a blank label."""
    from apps.experiments.models import Variant

    label = (label or "").strip()
    if not label:
        return None
    found = Variant.objects.filter(experiment=experiment, label=label).first()
    if found is None:
        raise ValidationFailed(f"No variant {label!r} in that experiment.", field=field)
    return found


def _auto_scores(result) -> list[dict]:
    scores = []
    for score in result.scores.all():
        if score.source == "human":
            continue
        scores.append(
            {
                "evaluator": score.evaluator_name
                or (score.evaluator.name if score.evaluator_id else score.source),
                "evaluator_id": score.evaluator_id,
                "source": score.source,
                "value": score.value,
                "passed": score.passed,
                "label": score.label,
                "explanation": score.explanation,
            }
        )
    return scores


def _version_label(variant) -> str:
    version = getattr(variant, "prompt_version", None)
    if version is None:
        return ""
    prompt = getattr(version, "prompt", None)
    return f"{prompt.name} v{version.number}" if prompt is not None else f"v{version.number}"


def result_snapshot(result) -> dict:
    """What the annotator needs, copied so the item page is one query."""
    variant = result.variant
    return {
        "input": result.input,
        "expected": result.expected,
        "output": result.output,
        "error": result.error or "",
        "experiment": result.experiment.name,
        "experiment_id": result.experiment_id,
        "variant": variant.label,
        "variant_id": result.variant_id,
        "prompt_version": _version_label(variant),
        "example_id": str(result.example_id),
        "repetition": result.repetition,
        "auto_scores": _auto_scores(result),
    }


def result_failed(result) -> bool:
    """A result fails when it errored or any automatic score says fail."""
    if result.error:
        return True
    return any(s.passed is False for s in result.scores.all() if s.source != "human")


def _result_passed(result) -> bool:
    auto = [s for s in result.scores.all() if s.source != "human"]
    return not result.error and bool(auto) and all(s.passed is not False for s in auto)


def _results_for(experiment):
    from apps.experiments.models import Result

    return (
        Result.objects.filter(experiment=experiment)
        .select_related("experiment", "variant__prompt_version__prompt")
        .prefetch_related("scores__evaluator")
        .order_by("position", "variant__position", "variant_id", "repetition", "id")
    )


def _regressions(results, *, baseline_variant, candidate_variant) -> list:
    """Candidate results failing on examples where the baseline passed every repetition."""
    baseline, candidate = defaultdict(list), defaultdict(list)
    for result in results:
        if result.variant_id == baseline_variant.pk:
            baseline[result.example_id].append(result)
        elif result.variant_id == candidate_variant.pk:
            candidate[result.example_id].append(result)
    chosen = []
    for example_id, rows in candidate.items():
        base = baseline.get(example_id)
        if not base or not all(_result_passed(r) for r in base):
            continue
        chosen.extend(r for r in rows if result_failed(r))
    return chosen


def _pick_variants(experiment, baseline_variant, candidate_variant):
    variants = list(experiment.variants.order_by("position", "id"))
    if baseline_variant is None:
        baseline_variant = next((v for v in variants if v.is_baseline), None) or (
            variants[0] if variants else None
        )
    if candidate_variant is None and baseline_variant is not None:
        others = [v for v in variants if v.pk != baseline_variant.pk]
        candidate_variant = others[0] if len(others) == 1 else None
    if baseline_variant is None or candidate_variant is None:
        raise ValidationFailed(
            "Choose the baseline and the candidate variant to find regressions.",
            field="candidate_variant",
        )
    ids = {v.pk for v in variants}
    if baseline_variant.pk not in ids or candidate_variant.pk not in ids:
        raise ValidationFailed(
            "Both variants must belong to the experiment.", field="baseline_variant"
        )
    if baseline_variant.pk == candidate_variant.pk:
        raise ValidationFailed("Baseline and candidate must differ.", field="candidate_variant")
    return baseline_variant, candidate_variant


@transaction.atomic
def queue_fill_from_experiment(
    *,
    team,
    actor,
    queue: AnnotationQueue,
    experiment,
    mode: str = "all",
    sample_size: int | None = None,
    seed: int | None = None,
    baseline_variant=None,
    candidate_variant=None,
) -> list[QueueItem]:
    """Add the experiment's results (all, failed only, regressions only, or a random
    sample of N) to the queue; results already in it are not added twice."""
    _require_manage(actor, team)
    if mode not in FILL_MODES:
        raise ValidationFailed(f"Choose one of: {', '.join(FILL_MODES)}.", field="mode")
    if experiment.team_id != team.pk:
        raise NotFound("No such experiment.")
    results = list(_results_for(experiment))
    if mode == "failed":
        results = [r for r in results if result_failed(r)]
    elif mode == "regressions":
        baseline_variant, candidate_variant = _pick_variants(
            experiment, baseline_variant, candidate_variant
        )
        results = _regressions(
            results, baseline_variant=baseline_variant, candidate_variant=candidate_variant
        )
    elif mode == "sample":
        try:
            size = int(sample_size or 0)
        except (TypeError, ValueError):
            size = 0
        if size < 1:
            raise ValidationFailed("Give the sample size N (1 or more).", field="sample_size")
        rng = random.Random(seed)
        results = sorted(rng.sample(results, min(size, len(results))), key=lambda r: r.pk)
    queue = AnnotationQueue.objects.select_for_update().get(pk=queue.pk)
    present = set(
        QueueItem.objects.filter(queue=queue, result__isnull=False).values_list(
            "result_id", flat=True
        )
    )
    position = queue.next_position
    items = []
    for result in results:
        if result.pk in present:
            continue
        present.add(result.pk)
        items.append(
            QueueItem(
                team=team,
                queue=queue,
                position=position,
                result=result,
                source_ref=f"result:{result.pk}",
                snapshot=result_snapshot(result),
            )
        )
        position += 1
    QueueItem.objects.bulk_create(items)
    queue.next_position = position
    queue.save(update_fields=["next_position"])
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.fill",
        target=queue,
        after={
            "experiment_id": experiment.pk,
            "mode": mode,
            "added": len(items),
            "sample_size": sample_size,
        },
    )
    return items


@transaction.atomic
def queue_add_spans(*, team, actor, queue: AnnotationQueue, spans) -> list[QueueItem]:
    """Add trace spans (model calls seen in production) as items."""
    _require_manage(actor, team)
    queue = AnnotationQueue.objects.select_for_update().get(pk=queue.pk)
    present = set(
        QueueItem.objects.filter(queue=queue, span__isnull=False).values_list("span_id", flat=True)
    )
    position, items = queue.next_position, []
    for span in spans:
        if span.pk in present or span.team_id != team.pk:
            continue
        present.add(span.pk)
        version = getattr(span, "prompt_version", None)
        items.append(
            QueueItem(
                team=team,
                queue=queue,
                position=position,
                span=span,
                source_ref=f"span:{span.trace.trace_id}/{span.span_id}",
                snapshot={
                    "input": span.input_text,
                    "expected": None,
                    "output": span.output_text,
                    "error": span.status_message if span.status_code == "error" else "",
                    "prompt_version": (
                        f"{span.prompt_name} v{span.prompt_version_number}"
                        if span.prompt_name and span.prompt_version_number
                        else (str(version) if version else "")
                    ),
                    "span": span.name,
                    "auto_scores": [],
                },
            )
        )
        position += 1
    QueueItem.objects.bulk_create(items)
    queue.next_position = position
    queue.save(update_fields=["next_position"])
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.fill",
        target=queue,
        after={"spans": len(items)},
    )
    return items


# --- assignment ----------------------------------------------------------------------


def resolve_annotators(*, team, users=(), emails=(), user_ids=()) -> list:
    """Members who may annotate, from users, emails or ids; unknown names are an error."""
    User = get_user_model()
    members = Membership.objects.filter(team=team).select_related("user")
    by_email = {m.user.email.lower(): m for m in members}
    by_id = {m.user_id: m for m in members}
    chosen: list = []

    def add(membership, name):
        if membership is None:
            raise ValidationFailed(f"{name} is not a member of this team.", field="users")
        if membership.role == Role.VIEWER:
            raise ValidationFailed(
                f"{membership.user.email} is a viewer and cannot annotate.", field="users"
            )
        if membership.user not in chosen:
            chosen.append(membership.user)

    for user in users:
        add(by_id.get(getattr(user, "pk", None)) if isinstance(user, User) else None, str(user))
    for email in emails:
        add(by_email.get(str(email).strip().lower()), str(email))
    for user_id in user_ids:
        try:
            key = int(user_id)
        except (TypeError, ValueError):
            key = None
        add(by_id.get(key), f"User {user_id}")
    if not chosen:
        raise ValidationFailed("Choose at least one member.", field="users")
    return chosen


@transaction.atomic
def items_assign(
    *,
    team,
    actor,
    queue: AnnotationQueue,
    users: list,
    items=None,
    mode: str = "each",
) -> list[Assignment]:
    """Assign items to members: `each` gives every item to every named member;
    `round_robin` deals items out in turn, annotators_per_item distinct members each.
    Without `items`: the queue's open items that nobody is assigned yet."""
    _require_manage(actor, team)
    if mode not in ASSIGN_MODES:
        raise ValidationFailed("Choose 'each' or 'round_robin'.", field="mode")
    if not users:
        raise ValidationFailed("Choose at least one member.", field="users")
    if items is None:
        items = list(
            QueueItem.objects.filter(queue=queue, status=ItemStatus.OPEN)
            .exclude(Exists(Assignment.objects.filter(item=OuterRef("pk"))))
            .order_by("position")
        )
    else:
        items = sorted(items, key=lambda i: i.position)
        if any(i.queue_id != queue.pk for i in items):
            raise ValidationFailed("Every item must belong to the queue.", field="items")
    per_item = min(queue.annotators_per_item, len(users))
    rows = []
    for index, item in enumerate(items):
        if mode == "each":
            chosen = users
        else:
            start = index * per_item
            chosen = [users[(start + k) % len(users)] for k in range(per_item)]
        rows.extend(Assignment(team=team, item=item, user=user) for user in chosen)
    Assignment.objects.bulk_create(rows, ignore_conflicts=True)
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.assign",
        target=queue,
        after={
            "mode": mode,
            "users": [u.email for u in users],
            "items": len(items),
            "assignments": len(rows),
        },
    )
    return rows


@transaction.atomic
def assignment_remove(*, team, actor, assignment: Assignment) -> None:
    _require_manage(actor, team)
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.unassign",
        target=assignment,
        before={"item": assignment.item_id, "user": assignment.user.email},
    )
    assignment.delete()


# --- visibility ----------------------------------------------------------------------


def visible_items(*, team, actor, queue=None):
    """Managers see every item; everyone else only the items assigned to them."""
    qs = QueueItem.objects.all()
    if queue is not None:
        qs = qs.filter(queue=queue)
    if can_manage(actor, team):
        return qs
    user = _user_or_none(actor)
    if user is None:
        return qs.none()
    return qs.filter(Exists(Assignment.objects.filter(item=OuterRef("pk"), user=user)))


def item_for(*, team, actor, item_id) -> QueueItem:
    item = (
        visible_items(team=team, actor=actor)
        .select_related("queue", "locked_by", "decided_by")
        .filter(pk=item_id)
        .first()
    )
    if item is None:
        raise NotFound("No such item.")
    return item


# --- claiming and locking ---------------------------------------------------------------


def _claimable(*, team, actor, queue, user, now):
    exclusive_from = queue.annotators_per_item - 1  # one verdict left to give
    qs = (
        visible_items(team=team, actor=actor, queue=queue)
        .filter(status=ItemStatus.OPEN)
        .exclude(Exists(Annotation.objects.filter(item=OuterRef("pk"), author=user)))
        .filter(
            Q(locked_by__isnull=True)
            | Q(locked_by=user)
            | Q(locked_until__lte=now)
            | Q(annotation_count__lt=exclusive_from)
        )
    )
    mine = Exists(Assignment.objects.filter(item=OuterRef("pk"), user=user, done_at__isnull=True))
    if can_manage(actor, team):
        # Managers also take from the pool nobody is assigned to, never others' items.
        return qs.filter(mine | ~Exists(Assignment.objects.filter(item=OuterRef("pk"))))
    return qs.filter(mine)


@transaction.atomic
def item_claim_next(*, team, actor, queue: AnnotationQueue, after: QueueItem | None = None):
    """Lock the user's next item (their own locked item first, skipped ones last).

    Returns None when nothing is left for this user."""
    _require_annotate(actor, team)
    user = _user_or_none(actor)
    if user is None:
        raise PermissionRefused("Claiming items needs a person, not an API key.")
    now = timezone.now()
    my_skip = Assignment.objects.filter(item=OuterRef("pk"), user=user).values("skipped_at")[:1]
    qs = _claimable(team=team, actor=actor, queue=queue, user=user, now=now).annotate(
        my_skip=Subquery(my_skip)
    )
    if after is not None:
        # "Next" after a save: prefer items further on, wrap round to the start.
        qs = qs.exclude(pk=after.pk)
    ordering = [
        F("my_skip").asc(nulls_first=True),
        "position",
    ]
    if after is not None:
        from django.db.models import Case, IntegerField, Value, When

        qs = qs.annotate(
            wrap=Case(
                When(position__gt=after.position, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        ordering.insert(1, "wrap")
    item = (
        qs.select_for_update(skip_locked=True, of=("self",))
        .order_by(*ordering)
        .select_related("queue")
        .first()
    )
    if item is None:
        return None
    _lock(item, user, now, team=team)
    return item


def _lock(item, user, now, *, team):
    fresh = item.locked_by_id != user.pk or item.locked_until is None or item.locked_until <= now
    item.locked_by = user
    item.locked_until = now + LOCK_DURATION
    item.save(update_fields=["locked_by", "locked_until"])
    if fresh:  # renewing one's own lock is not worth a line in the trail
        audit_record(
            team=team,
            actor=user,
            verb="annotation.claim",
            target=item,
            after={"locked_until": item.locked_until.isoformat()},
        )


@transaction.atomic
def item_claim(*, team, actor, item: QueueItem) -> QueueItem:
    """Lock a given item to the user (opening it by its URL); refused while another
    annotator holds it and it needs only one more verdict."""
    _require_annotate(actor, team)
    user = _user_or_none(actor)
    item = item_for(team=team, actor=actor, item_id=item.pk)
    locked = (
        QueueItem.objects.select_for_update(of=("self",)).select_related("queue").get(pk=item.pk)
    )
    now = timezone.now()
    if locked.status != ItemStatus.OPEN or user is None:
        return locked
    exclusive = locked.annotation_count >= locked.queue.annotators_per_item - 1
    if exclusive and locked.is_locked_by_other(user, now):
        return locked  # read-only for this user until the lock expires
    if Annotation.objects.filter(item=locked, author=user).exists():
        return locked  # revisiting one's own verdict takes nothing from anyone
    assigned = Assignment.objects.filter(item=locked)
    if assigned.exists() and not assigned.filter(user=user).exists():
        return locked  # a manager looking at someone else's item does not lock them out
    _lock(locked, user, now, team=team)
    return locked


@transaction.atomic
def item_skip(*, team, actor, item: QueueItem) -> None:
    """Put the item back for later: release the lock, order it last for this user."""
    _require_annotate(actor, team)
    user = _user_or_none(actor)
    item = item_for(team=team, actor=actor, item_id=item.pk)
    now = timezone.now()
    QueueItem.objects.filter(pk=item.pk, locked_by=user).update(locked_by=None, locked_until=None)
    if user is not None:
        Assignment.objects.filter(item=item, user=user).update(skipped_at=now)
    audit_record(team=team, actor=actor, verb="annotation.skip", target=item)


# --- annotating ------------------------------------------------------------------------


def clean_field_values(queue: AnnotationQueue, values) -> dict:
    values = values or {}
    if not isinstance(values, dict):
        raise ValidationFailed("Extra fields must be an object.", field="fields")
    cleaned = {}
    for spec in queue.form_fields or []:
        name, kind = spec["name"], spec["kind"]
        raw = values.get(name)
        if raw in (None, ""):
            if spec.get("required"):
                raise ValidationFailed(f"{spec['label']}: this field is required.", field=name)
            continue
        if kind == FieldKind.LABEL:
            if str(raw) not in spec["choices"]:
                raise ValidationFailed(
                    f"{spec['label']}: choose one of {', '.join(spec['choices'])}.", field=name
                )
            cleaned[name] = str(raw)
        elif kind == FieldKind.NUMBER:
            try:
                number = float(raw)
            except (TypeError, ValueError):
                raise ValidationFailed(f"{spec['label']}: enter a number.", field=name) from None
            if spec.get("min") is not None and number < spec["min"]:
                raise ValidationFailed(f"{spec['label']}: at least {spec['min']:g}.", field=name)
            if spec.get("max") is not None and number > spec["max"]:
                raise ValidationFailed(f"{spec['label']}: at most {spec['max']:g}.", field=name)
            cleaned[name] = int(number) if number.is_integer() else number
        else:
            cleaned[name] = str(raw)[:5000]
    unknown = set(values) - {s["name"] for s in queue.form_fields or []}
    if unknown:
        raise ValidationFailed(f"Unknown field {sorted(unknown)[0]!r}.", field="fields")
    return cleaned


def _parse_passed(passed):
    if isinstance(passed, bool):
        return passed
    text = str(passed or "").strip().lower()
    if text in {"pass", "passed", "true", "1", "yes", "p"}:
        return True
    if text in {"fail", "failed", "false", "0", "no", "f"}:
        return False
    raise ValidationFailed("Choose pass (P) or fail (F).", field="passed")


def _score_label(queue, fields) -> str:
    for spec in queue.form_fields or []:
        if spec["kind"] == FieldKind.LABEL and spec["name"] in fields:
            return fields[spec["name"]][:100]
    return ""


def _item_verdicts(item) -> list[bool]:
    return list(Annotation.objects.filter(item=item).values_list("passed", flat=True))


@transaction.atomic
def annotation_save(
    *,
    team,
    actor,
    item: QueueItem,
    passed,
    reasoning: str = "",
    fields=None,
    corrected_expected: str = "",
) -> Annotation:
    """Record (or revise) the actor's verdict on the item as a human Score.

    Completes the actor's assignment; the item is done once it has enough verdicts, or
    disputed when those verdicts disagree."""
    from apps.experiments.models import Score

    _require_annotate(actor, team)
    visible = item_for(team=team, actor=actor, item_id=item.pk)
    passed = _parse_passed(passed)
    item = (
        QueueItem.objects.select_for_update(of=("self",))
        .select_related("queue", "result")
        .get(pk=visible.pk)
    )
    queue = item.queue
    user = _user_or_none(actor)
    now = timezone.now()
    fields = clean_field_values(queue, fields)
    reasoning = (reasoning or "").strip()
    existing = (
        Annotation.objects.select_for_update()
        .select_related("score")
        .filter(item=item, author=user)
        .first()
        if user is not None
        else None
    )
    if existing is None:
        if item.status != ItemStatus.OPEN:
            raise Conflict("This item already has its verdicts.", field="passed")
        exclusive = item.annotation_count >= queue.annotators_per_item - 1
        if exclusive and item.is_locked_by_other(user, now):
            raise Conflict(
                f"{item.locked_by.email} is annotating this item; try another.", field="passed"
            )
    elif item.decided_at is not None:
        raise Conflict("An owner has decided this item; it can no longer change.")
    result = item.result
    author_label = user.email if user is not None else str(actor)
    if existing is None:
        score = Score(
            team=team,
            result=result,
            experiment_id=result.experiment_id if result is not None else None,
            evaluator=None,
            evaluator_name=HUMAN_EVALUATOR_NAME,
            source="human",
            author=user,
        )
        annotation = Annotation(item=item, team=team, author=user, author_label=author_label)
        before = None
    else:
        annotation, score = existing, existing.score
        before = {"passed": annotation.passed, "reasoning": annotation.reasoning}
    score.value = 1.0 if passed else 0.0
    score.passed = passed
    score.label = _score_label(queue, fields) or ("pass" if passed else "fail")
    score.explanation = reasoning
    score.save()
    annotation.score = score
    annotation.passed = passed
    annotation.reasoning = reasoning
    annotation.fields = fields
    annotation.corrected_expected = (corrected_expected or "").strip()
    annotation.updated_at = now
    annotation.save()
    if user is not None:
        Assignment.objects.filter(item=item, user=user).update(done_at=now, skipped_at=None)
    _settle(item, queue)
    if item.locked_by_id is not None and item.locked_by_id == getattr(user, "pk", None):
        item.locked_by, item.locked_until = None, None
        item.save(update_fields=["locked_by", "locked_until"])
    audit_record(
        team=team,
        actor=actor,
        verb="annotation.create" if before is None else "annotation.update",
        target=annotation,
        before=before,
        after={
            "item": item.pk,
            "passed": passed,
            "reasoning": reasoning[:500],
            "fields": fields,
            "item_status": item.status,
        },
    )
    return annotation


def _settle(item, queue):
    verdicts = _item_verdicts(item)
    item.annotation_count = len(verdicts)
    if item.decided_at is None:
        if len(verdicts) >= queue.annotators_per_item:
            item.status = ItemStatus.DISPUTED if len(set(verdicts)) > 1 else ItemStatus.DONE
        else:
            item.status = ItemStatus.OPEN
    item.save(update_fields=["annotation_count", "status"])


@transaction.atomic
def item_decide(*, team, actor, item: QueueItem, passed, reasoning: str = "") -> QueueItem:
    """An owner's final verdict on a disputed item; it becomes the item's human verdict."""
    from apps.experiments.models import Score

    _require(actor, PERM_OWN, team, "Only an owner decides disputed items.")
    passed = _parse_passed(passed)
    item = (
        QueueItem.objects.select_for_update(of=("self",)).select_related("result").get(pk=item.pk)
    )
    if item.status != ItemStatus.DISPUTED:
        raise Conflict("Only disputed items need a final decision.")
    user = _user_or_none(actor)
    now = timezone.now()
    score = Score.objects.create(
        team=team,
        result=item.result,
        experiment_id=item.result.experiment_id if item.result_id else None,
        evaluator=None,
        value=1.0 if passed else 0.0,
        passed=passed,
        evaluator_name=HUMAN_EVALUATOR_NAME,
        label="final decision",
        explanation=(reasoning or "").strip(),
        source="human",
        author=user,
    )
    item.final_passed = passed
    item.final_reasoning = (reasoning or "").strip()
    item.decided_by = user
    item.decided_at = now
    item.final_score = score
    item.status = ItemStatus.DONE
    item.save(
        update_fields=[
            "final_passed",
            "final_reasoning",
            "decided_by",
            "decided_at",
            "final_score",
            "status",
        ]
    )
    audit_record(
        team=team,
        actor=actor,
        verb="annotation.decide",
        target=item,
        after={"passed": passed, "reasoning": item.final_reasoning[:500]},
    )
    return item


# --- verdicts ----------------------------------------------------------------------------


def item_verdict(item, annotations=None) -> bool | None:
    """The item's human verdict: the owner's decision, else the annotators' unanimous one."""
    if item.final_passed is not None:
        return item.final_passed
    if item.status != ItemStatus.DONE:
        return None
    verdicts = {
        a.passed for a in (annotations if annotations is not None else item.annotations.all())
    }
    return verdicts.pop() if len(verdicts) == 1 else None


# --- closing the loop: datasets ------------------------------------------------------------


def _example_row(item, annotation=None, expected_override=None) -> dict:
    snap = item.snapshot or {}
    if expected_override not in (None, ""):
        expected = expected_override
    elif annotation is not None and annotation.corrected_expected:
        expected = annotation.corrected_expected
    else:
        expected = snap.get("expected")
    raw_input = snap.get("input")
    return {
        "input": raw_input if isinstance(raw_input, dict) else {"input": raw_input},
        "expected": expected,
        "metadata": {
            "annotation_queue": item.queue.name,
            "queue_item": item.pk,
            "reasoning": annotation.reasoning if annotation is not None else item.final_reasoning,
            "output": snap.get("output"),
        },
        "source_ref": f"annotation:{annotation.pk}"
        if annotation is not None
        else f"item:{item.pk}",
    }


@transaction.atomic
def annotation_add_to_dataset(*, team, actor, annotation: Annotation, dataset, expected=None):
    """A failed verdict becomes a dataset example whose expected output is the corrected one."""
    from apps.datasets.services import example_create

    _require_annotate(actor, team)
    if annotation.passed:
        raise ValidationFailed("Only failed annotations go to a dataset.", field="annotation")
    item = (
        QueueItem.objects.select_for_update(of=("self",))
        .select_related("queue")
        .get(pk=annotation.item_id)
    )
    row = _example_row(item, annotation, expected)
    if row["expected"] in (None, ""):
        raise ValidationFailed("Type the corrected expected output.", field="expected")
    example = example_create(
        team=team,
        actor=actor,
        dataset=dataset,
        input=row["input"],
        expected=row["expected"],
        metadata=row["metadata"],
        source="annotation",
        source_ref=row["source_ref"],
        message=f"From annotation queue {item.queue.name}",
    )
    item.added_to_dataset = dataset
    item.added_example_id = example.example_id
    item.save(update_fields=["added_to_dataset", "added_example_id"])
    audit_record(
        team=team,
        actor=actor,
        verb="annotation.add_to_dataset",
        target=annotation,
        after={"dataset": dataset.pk, "example_id": str(example.example_id)},
    )
    return example


@transaction.atomic
def queue_add_failures_to_dataset(*, team, actor, queue: AnnotationQueue, dataset):
    """Every failed item of the queue not yet in that dataset, as ONE new revision."""
    from apps.datasets.services import examples_bulk_create

    _require_manage(actor, team)
    items = list(
        QueueItem.objects.filter(queue=queue)
        .exclude(added_to_dataset=dataset)
        .select_related("queue")
        .prefetch_related("annotations")
        .order_by("position")
    )
    rows, chosen = [], []
    for item in items:
        annotations = list(item.annotations.all())
        if item_verdict(item, annotations) is not False:
            continue
        failing = [a for a in annotations if not a.passed]
        corrected = next((a for a in failing if a.corrected_expected), None)
        row = _example_row(item, corrected or (failing[0] if failing else None))
        rows.append(row)
        chosen.append(item)
    if not rows:
        raise ValidationFailed("No failed items to add (or all are in that dataset already).")
    revision = examples_bulk_create(
        team=team,
        actor=actor,
        dataset=dataset,
        rows=rows,
        source="annotation",
        message=f"{len(rows)} failed items from annotation queue {queue.name}",
    )
    QueueItem.objects.filter(pk__in=[i.pk for i in chosen]).update(added_to_dataset=dataset)
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.add_to_dataset",
        target=queue,
        after={"dataset": dataset.pk, "added": len(rows), "revision": revision.number},
    )
    return revision
