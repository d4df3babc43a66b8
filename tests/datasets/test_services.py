from __future__ import annotations

import pytest

from apps.core.errors import NotFound, PermissionRefused, ValidationFailed
from apps.datasets import selectors, services
from apps.datasets.models import DatasetRevision, Example
from apps.teams.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(acme_scope, alice):
    return services.dataset_create(team=acme_scope, actor=alice, name="tickets")


def _inputs(dataset, revision):
    return [row.input["q"] for row in selectors.examples_at_revision(dataset, revision)]


def test_it_starts_at_revision_zero_empty(dataset):
    assert dataset.current_revision == 0
    assert list(selectors.examples_at_revision(dataset, 0)) == []
    assert DatasetRevision.objects.get(dataset=dataset, number=0).row_count == 0


def test_it_shows_rows_as_of_each_revision_after_edits_and_deletes(acme_scope, alice, dataset):
    a = services.example_create(team=acme_scope, actor=alice, dataset=dataset, input={"q": "a"})
    b = services.example_create(team=acme_scope, actor=alice, dataset=dataset, input={"q": "b"})
    services.examples_bulk_create(
        team=acme_scope,
        actor=alice,
        dataset=dataset,
        rows=[
            {"input": {"q": "c"}, "split": "train"},
            {"input": {"q": "d"}, "split": "test"},
            {"input": {"q": "e"}, "split": "train"},
        ],
    )
    assert dataset.current_revision == 3
    edited = services.example_update(
        team=acme_scope, actor=alice, dataset=dataset, example_id=a.example_id, input={"q": "a2"}
    )
    assert edited.example_id == a.example_id and edited.pk != a.pk
    services.example_delete(team=acme_scope, actor=alice, dataset=dataset, example_id=b.example_id)
    assert dataset.current_revision == 5

    assert _inputs(dataset, 1) == ["a"]
    assert _inputs(dataset, 2) == ["a", "b"]
    assert _inputs(dataset, 3) == ["a", "b", "c", "d", "e"]
    assert _inputs(dataset, 4) == ["a2", "b", "c", "d", "e"]  # the edit keeps its position
    assert _inputs(dataset, 5) == ["a2", "c", "d", "e"]
    assert _inputs(dataset, None) == ["a2", "c", "d", "e"]
    assert [r.input["q"] for r in selectors.examples_at_revision(dataset, 5, split="test")] == ["d"]
    # Never updated in place: the old row still holds the old input.
    a.refresh_from_db()
    assert a.input == {"q": "a"} and a.valid_to == 4

    counts = {
        r.number: (r.added, r.changed, r.removed, r.row_count)
        for r in DatasetRevision.objects.filter(dataset=dataset)
    }
    assert counts == {
        0: (0, 0, 0, 0),
        1: (1, 0, 0, 1),
        2: (1, 0, 0, 2),
        3: (3, 0, 0, 5),
        4: (0, 1, 0, 5),
        5: (0, 0, 1, 4),
    }
    diff = selectors.revision_diff(dataset, 4)
    assert [(b.input, a.input) for b, a in diff.changed] == [({"q": "a"}, {"q": "a2"})]
    assert [r.input for r in selectors.revision_diff(dataset, 5).removed] == [{"q": "b"}]
    assert len(selectors.revision_diff(dataset, 3).added) == 3
    assert DatasetRevision.objects.get(dataset=dataset, number=5).splits == ["test", "train"]


def test_it_searches_input_and_expected(acme_scope, alice, dataset):
    services.example_create(
        team=acme_scope, actor=alice, dataset=dataset, input={"q": "Refund please"}
    )
    services.example_create(
        team=acme_scope, actor=alice, dataset=dataset, input={"q": "x"}, expected="BILLING"
    )
    assert selectors.examples_at_revision(dataset, search="refund").count() == 1
    assert selectors.examples_at_revision(dataset, search="billing").count() == 1
    assert selectors.examples_at_revision(dataset, search="nothing").count() == 0


def test_it_makes_no_revision_for_an_edit_that_changes_nothing(acme_scope, alice, dataset):
    row = services.example_create(team=acme_scope, actor=alice, dataset=dataset, input={"q": "a"})
    same = services.example_update(
        team=acme_scope, actor=alice, dataset=dataset, example_id=row.example_id, input={"q": "a"}
    )
    assert same.pk == row.pk and dataset.current_revision == 1


def test_it_refuses_a_non_object_input(acme_scope, alice, dataset):
    with pytest.raises(ValidationFailed, match="input must be a JSON object"):
        services.example_create(team=acme_scope, actor=alice, dataset=dataset, input=["x"])
    assert dataset.current_revision == 0


def test_it_writes_nothing_when_one_bulk_row_fails(acme_scope, alice, dataset):
    rows = [{"input": {"q": str(i)}} for i in range(2500)] + [{"input": "bad", "line": 2502}]
    with pytest.raises(ValidationFailed, match="Line 2502"):
        services.examples_bulk_create(team=acme_scope, actor=alice, dataset=dataset, rows=rows)
    dataset.refresh_from_db()
    assert dataset.current_revision == 0
    assert Example.objects.filter(dataset=dataset).count() == 0


def test_it_lets_editors_write_and_viewers_only_read(acme_scope, bob, carol, dataset):
    services.example_create(team=acme_scope, actor=bob, dataset=dataset, input={"q": "a"})
    with pytest.raises(PermissionRefused):
        services.example_create(team=acme_scope, actor=carol, dataset=dataset, input={"q": "b"})
    with pytest.raises(PermissionRefused):
        services.dataset_create(team=acme_scope, actor=carol, name="nope")


def test_it_needs_the_datasets_write_scope_for_keys(acme_scope, alice, dataset):
    from apps.teams.services import api_key_create

    reader, _ = api_key_create(team=acme_scope, actor=alice, name="r", scopes=["prompts:read"])
    writer, _ = api_key_create(team=acme_scope, actor=alice, name="w", scopes=["datasets:write"])
    with pytest.raises(PermissionRefused):
        services.example_create(team=acme_scope, actor=reader, dataset=dataset, input={"q": "a"})
    row = services.example_create(team=acme_scope, actor=writer, dataset=dataset, input={"q": "a"})
    assert DatasetRevision.objects.get(dataset=dataset, number=1).actor_label.startswith("API key")
    assert row.valid_from == 1


def test_it_keeps_names_unique_per_team(acme_scope, alice, dataset):
    with pytest.raises(ValidationFailed, match="already exists"):
        services.dataset_create(team=acme_scope, actor=alice, name="tickets")


def test_it_audits_every_write(acme_scope, alice, dataset):
    row = services.example_create(team=acme_scope, actor=alice, dataset=dataset, input={"q": "a"})
    services.example_update(
        team=acme_scope, actor=alice, dataset=dataset, example_id=row.example_id, split="dev"
    )
    services.example_delete(
        team=acme_scope, actor=alice, dataset=dataset, example_id=row.example_id
    )
    services.dataset_update(team=acme_scope, actor=alice, dataset=dataset, description="d")
    verbs = set(AuditEvent.objects.values_list("verb", flat=True))
    assert {
        "dataset.create",
        "dataset.example_create",
        "dataset.example_update",
        "dataset.example_delete",
        "dataset.update",
    } <= verbs


def test_it_refuses_to_edit_a_deleted_example(acme_scope, alice, dataset):
    row = services.example_create(team=acme_scope, actor=alice, dataset=dataset, input={"q": "a"})
    services.example_delete(
        team=acme_scope, actor=alice, dataset=dataset, example_id=row.example_id
    )
    with pytest.raises(NotFound):
        services.example_update(
            team=acme_scope, actor=alice, dataset=dataset, example_id=row.example_id, split="x"
        )


def test_it_seeds_the_demo_dataset_once(acme, alice, bob, carol, erin):
    from apps.core.tenancy import team_scope
    from apps.datasets import demo

    users = {"alice": alice, "bob": bob, "carol": carol, "erin": erin}
    first = demo.seed(acme, users)
    again = demo.seed(acme, users)
    assert first.pk == again.pk
    with team_scope(acme):
        first.refresh_from_db()
        rows = list(selectors.examples_at_revision(first))
        assert first.current_revision == 2
        assert len(rows) == 30 and {r.split for r in rows} == {"train", "dev", "test"}
        assert all("ticket" in r.input for r in rows)
