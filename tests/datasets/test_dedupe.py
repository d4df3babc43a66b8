"""Datasets stay clean: examples arriving from elsewhere (annotations, traces) skip exact
duplicates, by normalised input and expected output, of the dataset's current examples
and of each other, and say how many they skipped."""

from __future__ import annotations

import pytest

from apps.core.tenancy import team_scope
from apps.datasets.fields import content_key
from apps.datasets.selectors import examples_at_revision
from apps.datasets.services import (
    dataset_create,
    example_create,
    example_delete,
    examples_add_unique,
    examples_bulk_create,
)


def test_the_content_key_ignores_whitespace_and_key_order_but_not_words():
    base = content_key({"q": "Where is my order?", "lang": "en"}, "It ships today.")
    assert base == content_key({"lang": "en", "q": "  Where is  my\norder? "}, "It ships today. ")
    assert base != content_key({"q": "Where is my order?", "lang": "en"}, "It ships tomorrow.")
    assert base != content_key({"q": "where is my order?", "lang": "en"}, "It ships today.")
    assert content_key({"q": "x"}, None) == content_key({"q": "x"}, "")
    assert content_key({"q": "x"}, None) != content_key({"q": "x"}, "y")
    assert content_key({"q": 1}, None) != content_key({"q": "1"}, None)


@pytest.fixture
def golden(acme_scope, alice):
    dataset = dataset_create(team=acme_scope, actor=alice, name="golden")
    examples_bulk_create(
        team=acme_scope,
        actor=alice,
        dataset=dataset,
        rows=[
            {"input": {"q": "a"}, "expected": "A"},
            {"input": {"q": "b"}, "expected": "B"},
        ],
    )
    dataset.refresh_from_db()
    return dataset


def test_it_skips_duplicates_of_the_dataset_and_of_each_other(acme_scope, alice, golden):
    existing = {e.expected: e.example_id for e in examples_at_revision(golden)}
    result = examples_add_unique(
        team=acme_scope,
        actor=alice,
        dataset=golden,
        rows=[
            {"input": {"q": " a "}, "expected": "A"},  # in the dataset (whitespace aside)
            {"input": {"q": "c"}, "expected": "C"},
            {"input": {"q": "c"}, "expected": "C "},  # repeats the row before
            {"input": {"q": "a"}, "expected": "another answer"},  # a new expected: kept
        ],
        source="annotation",
        message="From a queue",
    )
    assert (result.added, result.skipped) == (2, 2)
    assert result.revision.number == 2 and result.revision.added == 2
    assert "(2 duplicates skipped)" in result.revision.message
    assert (
        result.summary() == "Added 2 examples to golden as revision 2; skipped 2 exact duplicates."
    )
    assert result.example_ids[0] == existing["A"]
    assert result.example_ids[1] == result.example_ids[2]
    assert examples_at_revision(golden).count() == 4


def test_all_duplicates_make_no_revision(acme_scope, alice, golden):
    result = examples_add_unique(
        team=acme_scope,
        actor=alice,
        dataset=golden,
        rows=[{"input": {"q": "b"}, "expected": "B"}],
        source="trace",
    )
    golden.refresh_from_db()
    assert (result.added, result.skipped, result.revision) == (0, 1, None)
    assert golden.current_revision == 1
    assert (
        result.summary()
        == "Nothing new for golden: skipped 1 exact duplicate (already in the dataset)."
    )


def test_a_deleted_example_may_come_back(acme_scope, alice, golden):
    gone = examples_at_revision(golden).get(expected="B")
    example_delete(team=acme_scope, actor=alice, dataset=golden, example_id=gone.example_id)
    golden.refresh_from_db()
    result = examples_add_unique(
        team=acme_scope,
        actor=alice,
        dataset=golden,
        rows=[{"input": {"q": "b"}, "expected": "B"}],
        source="trace",
    )
    assert (result.added, result.skipped) == (1, 0)


def test_every_write_keys_its_examples(acme_scope, alice, golden):
    row = example_create(
        team=acme_scope, actor=alice, dataset=golden, input={"q": "z"}, expected="Z"
    )
    assert row.content_key == content_key({"q": "z"}, "Z")
    assert all(e.content_key for e in examples_at_revision(golden))


def test_the_migration_keys_examples_written_before_it(acme, alice, golden):
    import importlib

    from django.apps import apps as django_apps

    from apps.datasets.models import Example

    with team_scope(acme):
        Example.objects.update(content_key="")
    backfill = importlib.import_module("apps.datasets.migrations.0003_example_content_key").backfill
    backfill(django_apps, None)
    with team_scope(acme):
        keys = {e.expected: e.content_key for e in Example.objects.all()}
    assert keys == {"A": content_key({"q": "a"}, "A"), "B": content_key({"q": "b"}, "B")}
