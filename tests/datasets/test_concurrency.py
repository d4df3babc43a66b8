"""Concurrent writers to one dataset get consecutive revision numbers (PostgreSQL row lock)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from apps.core.tenancy import team_scope
from apps.datasets import services
from apps.datasets.models import Dataset, DatasetRevision


@pytest.mark.django_db(transaction=True)
def test_it_numbers_revisions_without_gaps_or_duplicates_under_concurrent_writes(acme, alice):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are a PostgreSQL behaviour; SQLite serialises whole transactions")
    with team_scope(acme):
        dataset = services.dataset_create(team=acme, actor=alice, name="race")
    errors = []

    def writer(index):
        from django.db import connections

        try:
            with team_scope(acme):
                for n in range(5):
                    mine = Dataset.objects.get(pk=dataset.pk)
                    services.example_create(
                        team=acme, actor=alice, dataset=mine, input={"w": index, "n": n}
                    )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with team_scope(acme):
        numbers = sorted(
            DatasetRevision.objects.filter(dataset=dataset).values_list("number", flat=True)
        )
        dataset.refresh_from_db()
    assert numbers == list(range(0, 21))
    assert dataset.current_revision == 20 and dataset.example_count == 20
