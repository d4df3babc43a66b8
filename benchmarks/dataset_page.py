"""Dataset page at 1,000,000 rows against the same pages at 10,000: the page costs the page.

Run: ./scripts/with_postgres.sh .venv/bin/python benchmarks/dataset_page.py

Two databases on the one PostgreSQL server: `big` holds a 1,000,000-row dataset, `small`
a 10,000-row one (the baseline: a table of 10,000 rows, not a small dataset inside the
big table). Both are loaded the same way (revision 1: the first 2,000 rows through the
bulk service, the rest written by PostgreSQL as the service writes them, checked on a
row; then one edited row through the service: revision 2), each is served by its own
gunicorn (1 worker), and the benchmark asks both over HTTP with a signed-in session, as
a browser would:

  first page, a middle page (after=<position N/2>), the last page (last=1), and, reported
  but not in the headline: revision 1 in the middle, split "dev" in the middle, a search.

Rounds (BENCH_ROUNDS, at least 7) interleave the two servers, the order rotated; in each
round every page is fetched BENCH_SAMPLES times and its p50 and p99 taken. Each figure is
the median of its per-round values, printed with its min–max over the rounds.

Also: the SQL queries of every page (in-process, big database; the headline's max_queries)
and the EXPLAIN of the middle page at 1,000,000 rows (which index, how many buffers);
import throughput through the real CSV import (10,000 rows, median of 3); the peak Python
memory of parsing a ~20 MB file.

Last line: dataset_page rows=… max_queries=… p50_ms=… p99_ms=… import_rows_per_s=…
parse_peak_mb=… file_mb=… baseline_rows=… first_p99_ms=… middle_p99_ms=… last_p99_ms=…
baseline_first_p99_ms=… baseline_middle_p99_ms=… baseline_last_p99_ms=… worst_ratio=…
rounds=… load1=…
(p50_ms / p99_ms: the median over rounds of the p50 / p99 of all pages at `rows`.)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from benchmarks import web  # noqa: E402
from benchmarks.honest import (  # noqa: E402
    MIN_ROUNDS,
    interleaved,
    load_average,
    log,
    median,
    percentile,
    require_postgres,
    spread,
)

ROWS = int(os.environ.get("BENCH_ROWS", 1_000_000))
BASELINE_ROWS = int(os.environ.get("BENCH_BASELINE_ROWS", 10_000))
ROUNDS = max(MIN_ROUNDS, int(os.environ.get("BENCH_ROUNDS", MIN_ROUNDS)))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", 20))
IMPORT_ROWS = 10_000
PYTHON = sys.executable
HEADLINE = ("first", "middle", "last")


def cases(rows: int) -> dict[str, dict]:
    half = rows // 2
    return {
        "first": {},
        "middle": {"after": half},
        "last": {"last": 1},
        "revision 1, middle": {"revision": 1, "after": int(rows * 0.685)},
        "split dev, middle": {"split": "dev", "after": half},
        "search": {"q": "invoice 7"},
    }


# --- in a child process, one per database (--prepare ROWS) ---------------------------------


def prepare(rows: int, with_checks: bool) -> None:
    """Migrate, load `rows` examples (revision 1) and edit one (revision 2), sign a user
    in; with_checks: count each page's queries and EXPLAIN the middle page; measure the
    CSV import. Prints a JSON line."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from apps.accounts.models import User
    from apps.core.tenancy import team_scope
    from apps.datasets import selectors, services
    from apps.teams.services import team_create

    call_command("migrate", "--noinput", verbosity=0)
    user = User.objects.create_user(email=f"bench-{rows}@example.test", password="x" * 20)
    team = team_create(actor=user, name="Bench", slug=f"bench-{rows}")
    started = time.perf_counter()
    with team_scope(team):
        dataset = services.dataset_create(team=team, actor=user, name="bench")
        services.examples_bulk_create(
            team=team,
            actor=user,
            dataset=dataset,
            rows=(example(i) for i in range(min(rows, THROUGH_SERVICE))),
        )
        if rows > THROUGH_SERVICE:
            load_rest(dataset, rows)
        first = selectors.examples_at_revision(dataset).first()
        services.example_update(
            team=team, actor=user, dataset=dataset, example_id=first.example_id, split="edited"
        )
    load_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE datasets_example")
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
    client = Client()
    client.force_login(user)
    path = f"/t/{team.slug}/datasets/{dataset.pk}/"
    out = {
        "session": web.signed_in_session(user),
        "path": path,
        "load_s": load_s,
    }
    if with_checks:
        queries = {}
        client.get(path)
        for name, params in cases(rows).items():
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path, params)
            assert response.status_code == 200 and response.context["page"].rows, name
            queries[name] = len(captured)
            if name == "middle":
                page_sql = next(
                    q["sql"] for q in captured.captured_queries if "LIMIT 51" in q["sql"]
                )
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + page_sql)
                    out["explain"] = [row[0] for row in cursor.fetchall()]
        out["queries"] = queries
        out["import_rows_per_s"] = import_rate(team, user)
    print(json.dumps(out))


THROUGH_SERVICE = 2_000  # rows through examples_bulk_create; the rest in SQL (same rows)


def example(i: int) -> dict:
    return {
        "input": {"ticket": f"Ticket number {i} about invoice {i * 7}"},
        "expected": f"label {i % 5}",
        "split": ("train", "dev", "test")[i % 3],
    }


def load_rest(dataset, rows: int) -> None:
    """Rows THROUGH_SERVICE.. of revision 1, written by PostgreSQL itself: the bulk service
    runs at a few thousand rows a second on a busy 2-core machine, too slow for a million.
    The rows are what the service writes (checked on one of them below), and revision 1's
    counts are brought up to date as _close_revision would."""
    from django.db import connection

    from apps.datasets.fields import content_key, search_text_for
    from apps.datasets.models import DatasetRevision, Example

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO datasets_example (team_id, dataset_id, example_id, position, input,
                expected, metadata, split, source, source_ref, search_text, content_key,
                valid_from, valid_to, created_at)
            SELECT %s, %s, gen_random_uuid(), i + 1,
                jsonb_build_object('ticket', 'Ticket number ' || i || ' about invoice ' || i * 7),
                to_jsonb('label ' || i %% 5), '{}'::jsonb, (ARRAY['train', 'dev', 'test'])[i %% 3 + 1],
                'upload', '', 'ticket number ' || i || ' about invoice ' || i * 7 || E'\n' ||
                'label ' || i %% 5,
                encode(sha256(convert_to('[{"ticket":"Ticket number ' || i || ' about invoice '
                    || i * 7 || '"},"label ' || i %% 5 || '"]', 'UTF8')), 'hex'),
                1, NULL, now()
            FROM generate_series(%s, %s) AS i
            """,
            [dataset.team_id, dataset.pk, THROUGH_SERVICE, rows - 1],
        )
    dataset.next_position = rows + 1
    dataset.example_count = rows
    dataset.save(update_fields=["next_position", "example_count"])
    DatasetRevision.objects.filter(dataset=dataset, number=1).update(added=rows, row_count=rows)
    made = Example.objects.get(dataset=dataset, position=THROUGH_SERVICE + 1)
    want = example(THROUGH_SERVICE)
    assert made.input == want["input"] and made.expected == want["expected"], made.input
    assert made.search_text == search_text_for(want["input"], want["expected"]), made.search_text
    assert made.content_key == content_key(want["input"], want["expected"]), made.content_key
    assert made.split == want["split"] and made.valid_from == 1 and made.valid_to is None


def import_rate(team, user) -> float:
    """Rows per second through the real import (streaming parse, one revision), median of 3."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.core.tenancy import team_scope
    from apps.datasets import importing, services

    csv_text = "ticket,label,split\n" + "".join(
        f"Ticket number {i} about invoice {i * 7},label {i % 5},{('train', 'dev', 'test')[i % 3]}\n"
        for i in range(IMPORT_ROWS)
    )
    rates = []
    with team_scope(team):
        for attempt in range(3):
            dataset = services.dataset_create(team=team, actor=user, name=f"import {attempt}")
            started = time.perf_counter()
            importing.import_file(
                team=team,
                actor=user,
                dataset=dataset,
                uploaded=SimpleUploadedFile("bench.csv", csv_text.encode()),
            )
            rates.append(IMPORT_ROWS / (time.perf_counter() - started))
    return median(rates)


# --- the benchmark ------------------------------------------------------------------------


def get(url: str, session: str) -> float:
    return web.get(url, session, expect=b'id="examples"')


def parse_memory() -> tuple[float, float]:
    """Peak Python memory of parsing a ~20 MB CSV: the parse holds a window, not the file."""
    import tracemalloc

    import django

    django.setup()
    from apps.datasets import parsing

    path = Path(tempfile.mkdtemp()) / "big.csv"
    with open(path, "w") as handle:
        handle.write("ticket,label\n")
        line = 0
        while handle.tell() < 20 * 1024 * 1024:
            handle.write(
                f"A fairly long support ticket text number {line} with details,l{line % 7}\n"
            )
            line += 1
    file_mb = path.stat().st_size / 1024 / 1024
    tracemalloc.start()
    parsed = sum(1 for _ in parsing.records(parsing.file_chunks(path)(), "csv"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    path.unlink()
    log(f"parsed {parsed} rows of a {file_mb:.1f} MB file, peak {peak / 1024 / 1024:.2f} MB")
    return peak / 1024 / 1024, file_mb


def main() -> None:
    require_postgres()
    log(load_average())
    prepared, servers = web.prepare_databases(
        __file__, "bench_dataset", {"big": ROWS, "small": BASELINE_ROWS}, "rows"
    )
    for side, figures in prepared.items():
        log(f"{side}: loaded in {figures['load_s']:.1f} s (bulk service)")
    big = prepared["big"]
    log(f"queries per page at {ROWS:,} rows: {big['queries']}")
    log(f"EXPLAIN (ANALYZE, BUFFERS) of the middle page at {ROWS:,} rows:")
    for line in big["explain"]:
        print(f"   {line}")

    processes = []
    try:
        bases = {}
        for side, (env, port) in servers.items():
            processes.append(
                web.start_gunicorn(env, port, prepared[side]["path"], prepared[side]["session"])
            )
            bases[side] = f"http://127.0.0.1:{port}{prepared[side]['path']}"
        for side in bases:  # warm each worker on every page once
            for params in cases(ROWS if side == "big" else BASELINE_ROWS).values():
                get(bases[side] + "?" + urllib.parse.urlencode(params), prepared[side]["session"])

        def measure(side: str, rows: int):
            def run() -> dict[str, tuple[float, float]]:
                figures = {}
                for name, params in cases(rows).items():
                    url = bases[side] + "?" + urllib.parse.urlencode(params)
                    samples = [get(url, prepared[side]["session"]) for _ in range(SAMPLES)]
                    figures[name] = (percentile(samples, 50), percentile(samples, 99))
                return figures

            return run

        def report(number: int, this_round: dict) -> None:
            log(
                f"round {number}: "
                + "; ".join(
                    f"{side} "
                    + ", ".join(f"{page} p99 {this_round[side][page][1]:.1f}" for page in HEADLINE)
                    for side in ("big", "small")
                )
            )

        results = interleaved(
            ROUNDS,
            {"big": measure("big", ROWS), "small": measure("small", BASELINE_ROWS)},
            report=report,
        )
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)

    peak_mb, file_mb = parse_memory()

    def per_page(side: str, page: str, which: int) -> list[float]:
        return [r[page][which] for r in results[side]]

    log(f"{ROUNDS} rounds x {SAMPLES} requests per page, HTTP through gunicorn (1 worker each)")
    for page in cases(ROWS):
        for side, rows in (("big", ROWS), ("small", BASELINE_ROWS)):
            log(
                f"{page:>20} at {rows:>9,} rows: p50 {spread(per_page(side, page, 0), '{:.1f}')}"
                f" ms; p99 {spread(per_page(side, page, 1), '{:.1f}')} ms"
            )
    p99 = {side: {p: median(per_page(side, p, 1)) for p in HEADLINE} for side in results}
    ratios = {page: p99["big"][page] / p99["small"][page] for page in HEADLINE}
    log(
        f"p99 ratio {ROWS:,} / {BASELINE_ROWS:,} rows: "
        + ", ".join(f"{p} {r:.2f}" for p, r in ratios.items())
    )
    all_p50 = median(median(r[page][0] for page in r) for r in results["big"])
    all_p99 = median(max(r[page][1] for page in r) for r in results["big"])
    log(load_average())
    print(
        f"dataset_page rows={ROWS} max_queries={max(big['queries'].values())} "
        f"p50_ms={all_p50:.1f} p99_ms={all_p99:.1f} "
        f"import_rows_per_s={big['import_rows_per_s']:.0f} parse_peak_mb={peak_mb:.2f} "
        f"file_mb={file_mb:.1f} baseline_rows={BASELINE_ROWS} "
        + " ".join(f"{p}_p99_ms={p99['big'][p]:.1f}" for p in HEADLINE)
        + " "
        + " ".join(f"baseline_{p}_p99_ms={p99['small'][p]:.1f}" for p in HEADLINE)
        + f" worst_ratio={max(ratios.values()):.2f} rounds={ROUNDS} load1={os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--prepare"]:
        prepare(int(sys.argv[2]), "--checks" in sys.argv)
    else:
        main()
