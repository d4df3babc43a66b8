"""Every keyset page reads an index that starts with the team and needs no sort: what the
dataset, experiment-result, trace-explorer and audit pages send to PostgreSQL, EXPLAINed.

The tables here are small, so sequential scans and sorts are switched off for the
EXPLAIN: the question is whether an index that starts with the team serves the query in
the page's order (the benchmarks EXPLAIN the same queries at a million rows, where the
planner chooses freely).
Run with ./scripts/with_postgres.sh."""

from __future__ import annotations

import re
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.tenancy import team_scope
from apps.datasets import services as dataset_services
from apps.experiments.models import Result
from apps.teams.services import audit_record
from tests.experiments.conftest import make_lab
from tests.traces.helpers import hex_id, ingest, raw_span

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN of PostgreSQL plans"),
]

TEAM_FIRST = {
    "datasets_example": {"example_team_page", "example_team_split_page"},
    "experiments_result": {
        "result_team_page",
        "result_team_variant_page",
        "result_team_error_page",
    },
    "traces_trace": {
        "trace_team_time",
        "trace_team_name",
        "trace_team_status",
        "trace_team_model",
        "trace_team_prompt",
        "trace_team_function",
    },
    "teams_auditevent": {
        "audit_team_page",
        "audit_team_verb",
        "audit_team_target",
        "audit_team_user",
        "audit_team_key",
    },
}


def _page_queries(client, url, params, table):
    """The page's own read (LIMIT 51 on `table`) while the view renders."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    found = [
        q["sql"]
        for q in captured.captured_queries
        if f'FROM "{table}"' in q["sql"] and "LIMIT 51" in q["sql"]
    ]
    assert found, f"no page query on {table} for {params}"
    return found


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def _assert_team_index(sql: str, table: str) -> None:
    plan = _plan(sql)
    scans = re.findall(r"Index (?:Only )?Scan(?: Backward)? using (\w+) on (\w+)", plan)
    used = {index for index, on in scans if on == table}  # (a join's pk lookups aside)
    assert used and used <= TEAM_FIRST[table], plan
    assert "Sort" not in plan, f"the index should hold the page order:\n{plan}"


@pytest.fixture
def world(client, acme, alice):
    with team_scope(acme):
        dataset = dataset_services.dataset_create(team=acme, actor=alice, name="big")
        dataset_services.examples_bulk_create(
            team=acme,
            actor=alice,
            dataset=dataset,
            rows=[{"input": {"t": f"row {i}"}, "split": "ab"[i % 2]} for i in range(300)],
        )
    lab = make_lab(acme, alice, "http://127.0.0.1:9/v1")
    experiment = lab.experiment()
    with team_scope(acme):
        variant = experiment.variants.get()
        Result.objects.bulk_create(
            Result(
                team=acme,
                experiment=experiment,
                variant=variant,
                example_id=f"00000000-0000-0000-0000-{i:012d}",
                position=i,
                error="x" if i % 4 == 0 else "",
            )
            for i in range(1, 301)
        )
        for i in range(120):
            audit_record(team=acme, actor=alice, verb=f"test.v{i % 3}", after={"i": i})
    base = time.time_ns() - 3_600_000_000_000
    for n in range(1, 121):
        ingest(
            acme,
            alice,
            [
                raw_span(
                    hex_id(n, 16),
                    hex_id(n, 8),
                    name=f"run-{n % 4}",
                    attrs={"gen_ai.request.model": f"m{n % 3}"},
                    base_ns=base + n * 1_000_000_000,
                )
            ],
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    client.force_login(alice)
    return {"dataset": dataset, "experiment": experiment, "variant": variant}


def test_it_reads_every_page_through_a_team_first_index(client, world):
    dataset, experiment = world["dataset"], world["experiment"]
    cases = [
        (f"/t/acme/datasets/{dataset.pk}/", {}, "datasets_example"),
        (f"/t/acme/datasets/{dataset.pk}/", {"after": 150}, "datasets_example"),
        (f"/t/acme/datasets/{dataset.pk}/", {"last": 1}, "datasets_example"),
        (f"/t/acme/datasets/{dataset.pk}/", {"split": "a", "after": 100}, "datasets_example"),
        (f"/t/acme/experiments/{experiment.pk}/", {"after": "120_0_0_0"}, "experiments_result"),
        (f"/t/acme/experiments/{experiment.pk}/", {"errors": 1, "last": 1}, "experiments_result"),
        (
            f"/t/acme/experiments/{experiment.pk}/",
            {"variant": world["variant"].pk, "after": "10_0_0_0"},
            "experiments_result",
        ),
        ("/t/acme/traces/", {}, "traces_trace"),
        ("/t/acme/traces/", {"last": 1}, "traces_trace"),
        ("/t/acme/traces/", {"model": "m1"}, "traces_trace"),
        ("/t/acme/traces/", {"name": "run-2", "status": "ok"}, "traces_trace"),
        ("/t/acme/settings/audit/", {}, "teams_auditevent"),
        ("/t/acme/settings/audit/", {"verb": "test.v1", "last": 1}, "teams_auditevent"),
    ]
    for url, params, table in cases:
        for sql in _page_queries(client, url, params, table):
            _assert_team_index(sql, table)
