import pytest

from apps.annotations import services
from apps.core.errors import PermissionRefused, ValidationFailed
from apps.datasets.selectors import example_at_revision, examples_at_revision
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
        services.annotation_save(
            team=acme_scope, actor=erin, item=items[1], passed=False, reasoning="no answer"
        ),
        services.annotation_save(team=acme_scope, actor=erin, item=items[2], passed=True),
    ]
    dataset = dataset_create(team=acme_scope, actor=alice, name="Regression set")
    example_create(team=acme_scope, actor=alice, dataset=dataset, input={"question": "old"})
    dataset.refresh_from_db()
    return queue, items, annotations, dataset


def test_it_adds_a_failed_annotation_as_a_new_revision(acme_scope, bob, annotated):
    queue, items, annotations, dataset = annotated
    before = dataset.current_revision
    result = services.annotation_add_to_dataset(
        team=acme_scope, actor=bob, annotation=annotations[0], dataset=dataset
    )
    assert (result.added, result.skipped) == (1, 0)
    example = example_at_revision(dataset, result.example_ids[0], before + 1)
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
    result = services.queue_add_failures_to_dataset(
        team=acme_scope, actor=alice, queue=queue, dataset=dataset
    )
    dataset.refresh_from_db()
    assert (result.revision.number, result.added, result.skipped) == (before + 1, 2, 0)
    assert dataset.current_revision == before + 1
    added = examples_at_revision(dataset, before + 1).filter(source="annotation")
    assert sorted(str(e.expected) for e in added) == ["Answer 2", "Refunds within 30 days."]
    with pytest.raises(ValidationFailed):  # nothing new to add
        services.queue_add_failures_to_dataset(
            team=acme_scope, actor=alice, queue=queue, dataset=dataset
        )


def _two_annotators_fail_the_same_item(acme_scope, alice, bob, erin):
    """A queue of 2 annotators per item: both fail item 1 (with the same correction), and
    both fail item 2, which repeats item 1's input with no expected output."""
    cells = [{"variant": "v1", "example": n, "scores": {"exact": False}} for n in (1, 2)]
    experiment, _, _ = make_experiment(acme_scope, alice, variants=("v1",), cells=cells)
    queue = services.queue_create(team=acme_scope, actor=alice, name="Twice", annotators_per_item=2)
    services.queue_fill_from_experiment(
        team=acme_scope, actor=alice, queue=queue, experiment=experiment, mode="failed"
    )
    services.items_assign(team=acme_scope, actor=alice, queue=queue, users=[erin, bob])
    return queue, list(queue.items.order_by("position"))


def test_it_adds_an_item_failed_by_two_annotators_once(acme_scope, alice, bob, erin):
    queue, items = _two_annotators_fail_the_same_item(acme_scope, alice, bob, erin)
    for user in (erin, bob):
        for item in items:
            services.annotation_save(
                team=acme_scope,
                actor=user,
                item=item,
                passed=False,
                reasoning="wrong",
                corrected_expected="  Refunds   within 30 days. ",
            )
    # Item 2 asks what item 1 asks (whitespace aside): the same example.
    items[1].snapshot = {**items[1].snapshot, "input": {"question": " Question 1? "}}
    items[1].save(update_fields=["snapshot"])
    dataset = dataset_create(team=acme_scope, actor=alice, name="Golden")
    result = services.queue_add_failures_to_dataset(
        team=acme_scope, actor=alice, queue=queue, dataset=dataset
    )
    assert (result.added, result.skipped) == (1, 1)
    assert examples_at_revision(dataset).count() == 1
    assert result.summary() == (
        "Added 1 example to Golden as revision 1; skipped 1 exact duplicate."
    )
    # Both items now point at the one example.
    items = list(queue.items.order_by("position"))
    assert items[0].added_example_id == items[1].added_example_id == result.example_ids[0]


def test_it_skips_failures_the_dataset_already_has(acme_scope, alice, annotated):
    queue, items, annotations, dataset = annotated
    example_create(
        team=acme_scope,
        actor=alice,
        dataset=dataset,
        input={"question": "Question 1?"},
        expected="Refunds within 30 days.",
    )
    dataset.refresh_from_db()
    before = dataset.current_revision
    result = services.queue_add_failures_to_dataset(
        team=acme_scope, actor=alice, queue=queue, dataset=dataset
    )
    assert (result.added, result.skipped) == (1, 1)
    assert examples_at_revision(dataset).count() == before_count(dataset, before) + 1
    # One annotation added alone, when the dataset has it: nothing new, said so.
    single = services.annotation_add_to_dataset(
        team=acme_scope, actor=alice, annotation=annotations[0], dataset=dataset
    )
    dataset.refresh_from_db()
    assert (single.added, single.skipped, single.revision) == (0, 1, None)
    assert dataset.current_revision == before + 1


def before_count(dataset, revision):
    return examples_at_revision(dataset, revision).count()
