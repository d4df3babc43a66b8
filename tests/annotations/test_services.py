import pytest

from apps.annotations import selectors, services
from apps.annotations.models import AnnotationQueue, Assignment, ItemStatus, QueueItem
from apps.core.errors import Conflict, NotFound, PermissionRefused, ValidationFailed
from apps.experiments.models import Score
from apps.teams.models import AuditEvent
from tests.annotations.factories import make_experiment

CELLS = [
    # example 1: passes in both variants
    {"variant": "v1", "example": 1, "scores": {"exact": True}},
    {"variant": "v2", "example": 1, "scores": {"exact": True}},
    # example 2: regression (v1 passes, v2 fails)
    {"variant": "v1", "example": 2, "scores": {"exact": True}},
    {"variant": "v2", "example": 2, "scores": {"exact": False}},
    # example 3: fails in both
    {"variant": "v1", "example": 3, "scores": {"exact": False}},
    {"variant": "v2", "example": 3, "scores": {"exact": False}},
    # example 4: v2 errored
    {"variant": "v1", "example": 4, "scores": {"exact": True}},
    {"variant": "v2", "example": 4, "error": "timeout"},
]


@pytest.fixture
def experiment(acme, alice):
    exp, _, _ = make_experiment(acme, alice, cells=CELLS)
    return exp


@pytest.fixture
def queue(acme_scope, alice):
    return services.queue_create(team=acme_scope, actor=alice, name="Review")


def test_it_creates_queues_for_editors_only(acme_scope, bob, erin):
    queue = services.queue_create(
        team=acme_scope,
        actor=bob,
        name="Tone",
        instructions="**Be strict**",
        form_fields=[{"name": "tone", "kind": "label", "choices": ["polite", "rude"]}],
        annotators_per_item=2,
    )
    assert queue.form_fields[0]["label"] == "Tone"
    assert AuditEvent.objects.filter(verb="annotation_queue.create").exists()
    with pytest.raises(PermissionRefused):
        services.queue_create(team=acme_scope, actor=erin, name="Mine")
    with pytest.raises(ValidationFailed):
        services.queue_create(team=acme_scope, actor=bob, name="tone")


def test_it_fills_with_each_mode(acme_scope, alice, experiment):
    def fill(mode, **kw):
        q = services.queue_create(team=acme_scope, actor=alice, name=f"q-{mode}")
        services.queue_fill_from_experiment(
            team=acme_scope, actor=alice, queue=q, experiment=experiment, mode=mode, **kw
        )
        return list(q.items.order_by("position"))

    assert len(fill("all")) == 8
    failed = fill("failed")
    assert len(failed) == 4
    regressions = fill("regressions")
    assert {i.snapshot["input"]["question"] for i in regressions} == {
        "Question 2?",
        "Question 4?",
    }
    assert all(i.snapshot["variant"] == "v2" for i in regressions)
    assert len(fill("sample", sample_size=3, seed=1)) == 3
    item = failed[0]
    assert item.snapshot["auto_scores"][0]["evaluator"] == "exact"
    assert item.snapshot["prompt_version"].endswith("v1") or "v" in item.snapshot["prompt_version"]


def test_it_does_not_add_a_result_twice(acme_scope, alice, experiment, queue):
    services.queue_fill_from_experiment(
        team=acme_scope, actor=alice, queue=queue, experiment=experiment, mode="failed"
    )
    added = services.queue_fill_from_experiment(
        team=acme_scope, actor=alice, queue=queue, experiment=experiment, mode="all"
    )
    assert len(added) == 4
    assert queue.items.count() == 8
    assert list(queue.items.values_list("position", flat=True)) == list(range(1, 9))


def test_it_annotates_as_a_human_score(acme_scope, alice, erin, experiment, queue):
    services.queue_fill_from_experiment(
        team=acme_scope, actor=alice, queue=queue, experiment=experiment, mode="failed"
    )
    services.items_assign(team=acme_scope, actor=alice, queue=queue, users=[erin])
    item = services.item_claim_next(team=acme_scope, actor=erin, queue=queue)
    assert item.locked_by == erin
    annotation = services.annotation_save(
        team=acme_scope, actor=erin, item=item, passed="fail", reasoning="Wrong refund policy"
    )
    score = Score.objects.get(pk=annotation.score_id)
    assert (score.source, score.passed, score.author, score.result_id) == (
        "human",
        False,
        erin,
        item.result_id,
    )
    item.refresh_from_db()
    assert item.status == ItemStatus.DONE and item.locked_by is None
    assert Assignment.objects.get(item=item, user=erin).done_at is not None
    # Revising keeps one score.
    services.annotation_save(team=acme_scope, actor=erin, item=item, passed=True)
    assert Score.objects.filter(source="human").count() == 1
    nxt = services.item_claim_next(team=acme_scope, actor=erin, queue=queue)
    assert nxt.pk != item.pk


def test_it_disputes_and_lets_an_owner_decide(acme_scope, alice, bob, erin, experiment):
    queue = services.queue_create(team=acme_scope, actor=alice, name="Two", annotators_per_item=2)
    services.queue_fill_from_experiment(
        team=acme_scope, actor=alice, queue=queue, experiment=experiment, mode="failed"
    )
    services.items_assign(team=acme_scope, actor=alice, queue=queue, users=[erin, bob])
    item = queue.items.first()
    services.annotation_save(team=acme_scope, actor=erin, item=item, passed=True)
    services.annotation_save(team=acme_scope, actor=bob, item=item, passed=False, reasoning="wrong")
    item.refresh_from_db()
    assert item.status == ItemStatus.DISPUTED
    with pytest.raises(PermissionRefused):
        services.item_decide(team=acme_scope, actor=bob, item=item, passed=False)
    services.item_decide(team=acme_scope, actor=alice, item=item, passed=False, reasoning="policy")
    item.refresh_from_db()
    assert item.status == ItemStatus.DONE and selectors.item_verdict(item) is False


def test_it_refuses_items_locked_by_another_annotator(
    acme_scope, alice, bob, erin, experiment, queue
):
    services.queue_fill_from_experiment(
        team=acme_scope, actor=alice, queue=queue, experiment=experiment, mode="failed"
    )
    services.items_assign(team=acme_scope, actor=alice, queue=queue, users=[erin, bob])
    mine = services.item_claim_next(team=acme_scope, actor=erin, queue=queue)
    theirs = services.item_claim_next(team=acme_scope, actor=bob, queue=queue)
    assert mine.pk != theirs.pk
    with pytest.raises(Conflict):
        services.annotation_save(team=acme_scope, actor=bob, item=mine, passed=True)


def test_it_hides_unassigned_items_from_annotators(acme_scope, alice, erin, experiment, queue):
    services.queue_fill_from_experiment(
        team=acme_scope, actor=alice, queue=queue, experiment=experiment, mode="failed"
    )
    first, second = list(queue.items.order_by("position"))[:2]
    services.items_assign(team=acme_scope, actor=alice, queue=queue, users=[erin], items=[first])
    assert list(selectors.visible_items(team=acme_scope, actor=erin)) == [first]
    with pytest.raises(NotFound):
        selectors.item_for(team=acme_scope, actor=erin, item_id=second.pk)
    with pytest.raises(NotFound):
        services.annotation_save(team=acme_scope, actor=erin, item=second, passed=True)
    assert selectors.visible_items(team=acme_scope, actor=alice).count() == 4


def test_it_deals_round_robin(acme_scope, alice, bob, erin, experiment, queue):
    services.queue_fill_from_experiment(
        team=acme_scope, actor=alice, queue=queue, experiment=experiment, mode="all"
    )
    services.items_assign(
        team=acme_scope, actor=alice, queue=queue, users=[erin, bob], mode="round_robin"
    )
    owners = list(
        Assignment.objects.order_by("item__position").values_list("user__email", flat=True)
    )
    assert owners == ["erin@acme.test", "bob@acme.test"] * 4


def test_it_resolves_members_by_email(acme_scope, carol, erin):
    assert selectors.resolve_annotators(team=acme_scope, emails=["ERIN@acme.test"]) == [erin]
    with pytest.raises(ValidationFailed):
        selectors.resolve_annotators(team=acme_scope, emails=["carol@acme.test"])  # viewer
    with pytest.raises(ValidationFailed):
        selectors.resolve_annotators(team=acme_scope, emails=["dave@globex.test"])


def test_it_validates_extra_fields(acme_scope, alice, erin, experiment):
    queue = services.queue_create(
        team=acme_scope,
        actor=alice,
        name="Fields",
        form_fields=[
            {"name": "tone", "kind": "label", "choices": ["polite", "rude"], "required": True},
            {"name": "quality", "kind": "number", "min": 1, "max": 5},
            {"name": "note", "kind": "text"},
        ],
    )
    services.queue_fill_from_experiment(
        team=acme_scope, actor=alice, queue=queue, experiment=experiment, mode="failed"
    )
    services.items_assign(team=acme_scope, actor=alice, queue=queue, users=[erin])
    item = queue.items.first()
    with pytest.raises(ValidationFailed):
        services.annotation_save(team=acme_scope, actor=erin, item=item, passed=True, fields={})
    with pytest.raises(ValidationFailed):
        services.annotation_save(
            team=acme_scope,
            actor=erin,
            item=item,
            passed=True,
            fields={"tone": "polite", "quality": 9},
        )
    annotation = services.annotation_save(
        team=acme_scope,
        actor=erin,
        item=item,
        passed=True,
        fields={"tone": "polite", "quality": "4", "note": "ok"},
    )
    assert annotation.fields == {"tone": "polite", "quality": 4, "note": "ok"}
    assert annotation.score.label == "polite"


def test_it_counts_my_queue(acme_scope, alice, erin, experiment, queue, rf):
    from apps.annotations.selectors import my_queue_count

    services.queue_fill_from_experiment(
        team=acme_scope, actor=alice, queue=queue, experiment=experiment, mode="failed"
    )
    services.items_assign(team=acme_scope, actor=alice, queue=queue, users=[erin])
    request = rf.get("/")
    request.user, request.team = erin, acme_scope
    from apps.teams.models import Membership

    request.membership = Membership.objects.get(user=erin)
    assert my_queue_count(request) == 4
    assert AnnotationQueue.objects.count() == 1 and QueueItem.objects.count() == 4


def test_it_keeps_managers_off_items_assigned_to_others(acme_scope, alice, erin, experiment, queue):
    services.queue_fill_from_experiment(
        team=acme_scope, actor=alice, queue=queue, experiment=experiment, mode="failed"
    )
    items = list(queue.items.order_by("position"))
    services.items_assign(team=acme_scope, actor=alice, queue=queue, users=[erin], items=items[:3])
    # alice's "Start annotating" takes the unassigned item, not erin's.
    assert services.item_claim_next(team=acme_scope, actor=alice, queue=queue).pk == items[3].pk
    # Opening erin's item to look at it does not lock erin out.
    looked = services.item_claim(team=acme_scope, actor=alice, item=items[0])
    assert looked.locked_by_id is None
    assert services.item_claim_next(team=acme_scope, actor=erin, queue=queue).pk == items[0].pk


def test_it_audits_every_write(acme_scope, alice, bob, erin, experiment):
    queue = services.queue_create(
        team=acme_scope, actor=alice, name="Audited", annotators_per_item=2
    )
    services.queue_update(team=acme_scope, actor=alice, queue=queue, instructions="Be fair")
    services.queue_fill_from_experiment(
        team=acme_scope, actor=alice, queue=queue, experiment=experiment, mode="failed"
    )
    services.items_assign(team=acme_scope, actor=alice, queue=queue, users=[erin, bob])
    item = services.item_claim_next(team=acme_scope, actor=erin, queue=queue)
    services.item_skip(team=acme_scope, actor=erin, item=item)
    services.annotation_save(team=acme_scope, actor=erin, item=item, passed=True)
    services.annotation_save(
        team=acme_scope, actor=erin, item=item, passed=False, reasoning="wrong"
    )
    services.annotation_save(team=acme_scope, actor=bob, item=item, passed=True)
    services.item_decide(team=acme_scope, actor=alice, item=item, passed=True)
    verbs = set(AuditEvent.objects.values_list("verb", flat=True))
    assert {
        "annotation_queue.create",
        "annotation_queue.update",
        "annotation_queue.fill",
        "annotation_queue.assign",
        "annotation.claim",
        "annotation.skip",
        "annotation.create",
        "annotation.update",
        "annotation.decide",
    } <= verbs


def test_it_resettles_items_when_the_annotator_count_changes(acme_scope, alice, erin, experiment):
    queue = services.queue_create(team=acme_scope, actor=alice, name="Grow", annotators_per_item=1)
    services.queue_fill_from_experiment(
        team=acme_scope, actor=alice, queue=queue, experiment=experiment, mode="failed"
    )
    services.items_assign(team=acme_scope, actor=alice, queue=queue, users=[erin])
    item = queue.items.first()
    services.annotation_save(team=acme_scope, actor=erin, item=item, passed=True)
    services.queue_update(team=acme_scope, actor=alice, queue=queue, annotators_per_item=2)
    item.refresh_from_db()
    assert item.status == ItemStatus.OPEN
