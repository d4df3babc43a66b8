import pytest

from apps.annotations import services
from apps.core.errors import PermissionRefused, ValidationFailed
from apps.datasets.selectors import examples_at_revision
from apps.datasets.services import dataset_create, example_create
from tests.annotations.factories import make_experiment

CELLS = [{"variant": "v1", "example": n, "scores": {"exact": False}} for n in range(1, 4)]


@pytest.fixture
def annotated(acme_scope, alice, erin):
    experiment, _, _ = make_experiment(acme_scope, alice, variants=("v1",), cells=CELLS)
    queue = services.queue_create(team=acme_scope, actor=alice, name="Failures")
    services.queue_fill_from_experiment(
        team=acme_scope, actor=alice, queue=queue, experiment=experiment, mode="failed"
    )
    services.items_assign(team=acme_scope, actor=alice, queue=queue, users=[erin])
    items = list(queue.items.order_by("position"))
    annotations = [
        services.annotation_save(
            team=acme_scope,
            actor=erin,
            item=items[0],
            passed=False,
            reasoning="misses the refund window",
            corrected_expected="Refunds within 30 days.",
        ),
        services.annotation_save(team=acme_scope, actor=erin, item=items[1], passed=False),
        services.annotation_save(team=acme_scope, actor=erin, item=items[2], passed=True),
    ]
    dataset = dataset_create(team=acme_scope, actor=alice, name="Regression set")
    example_create(team=acme_scope, actor=alice, dataset=dataset, input={"question": "old"})
    dataset.refresh_from_db()
    return queue, items, annotations, dataset


def test_it_adds_a_failed_annotation_as_a_new_revision(acme_scope, bob, annotated):
    queue, items, annotations, dataset = annotated
    before = dataset.current_revision
    example = services.annotation_add_to_dataset(
        team=acme_scope, actor=bob, annotation=annotations[0], dataset=dataset
    )
    dataset.refresh_from_db()
    assert dataset.current_revision == before + 1
    assert example.valid_from == before + 1
    assert (example.source, example.expected) == ("annotation", "Refunds within 30 days.")
    assert example.source_ref == f"annotation:{annotations[0].pk}"
    assert example.input == {"question": "Question 1?"}
    assert examples_at_revision(dataset, before).count() == 1
    assert examples_at_revision(dataset, before + 1).count() == 2


def test_it_refuses_passed_annotations_and_annotators(acme_scope, bob, erin, annotated):
    queue, items, annotations, dataset = annotated
    with pytest.raises(ValidationFailed):
        services.annotation_add_to_dataset(
            team=acme_scope, actor=bob, annotation=annotations[2], dataset=dataset
        )
    with pytest.raises(PermissionRefused):  # annotators cannot write datasets
        services.annotation_add_to_dataset(
            team=acme_scope, actor=erin, annotation=annotations[0], dataset=dataset
        )


def test_it_adds_every_failure_of_a_queue_as_one_revision(acme_scope, alice, annotated):
    queue, items, annotations, dataset = annotated
    before = dataset.current_revision
    revision = services.queue_add_failures_to_dataset(
        team=acme_scope, actor=alice, queue=queue, dataset=dataset
    )
    dataset.refresh_from_db()
    assert (revision.number, revision.added) == (before + 1, 2)
    assert dataset.current_revision == before + 1
    added = examples_at_revision(dataset, before + 1).filter(source="annotation")
    assert sorted(str(e.expected) for e in added) == ["Answer 2", "Refunds within 30 days."]
    with pytest.raises(ValidationFailed):  # nothing new to add
        services.queue_add_failures_to_dataset(
            team=acme_scope, actor=alice, queue=queue, dataset=dataset
        )
