"""Dataset page at 10,000 rows: queries and latency per page, import throughput, parse memory.

Run: ./scripts/with_postgres.sh .venv/bin/python benchmarks/dataset_page.py
(without DATABASE_URL it uses a throwaway SQLite file).

1. Imports a 10,000-row CSV through the real import path (streaming parse, one revision),
   then edits one row (revision 2).
2. Renders the dataset page in-process with Django's test client (session, middleware,
   templates: everything but the socket) for pages 1, 50, 100 and 200, an old revision, a
   split filter and a search; each ROUNDS times. Queries are counted per request.
3. Parses a ~20 MB CSV file with tracemalloc on, to show the parse holds a window, not the file.
Last line: dataset_page rows=… max_queries=… p50_ms=… p99_ms=… import_rows_per_s=… parse_peak_mb=… file_mb=…
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
if not os.environ.get("DATABASE_URL"):
    os.environ["PROMPTYARD_VAR_DIR"] = tempfile.mkdtemp(prefix="promptyard-bench-")

ROWS = int(os.environ.get("BENCH_ROWS", 10_000))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 20))


def log(message: str) -> None:
    print(f"== {message}", flush=True)


def main() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from apps.accounts.models import User
    from apps.core.tenancy import team_scope
    from apps.datasets import importing, parsing, selectors, services
    from apps.teams.services import team_create

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
    log(f"database: {connection.vendor}")
    call_command("migrate", "--noinput", verbosity=0)
    stamp = str(int(time.time()))
    user = User.objects.create_user(email=f"bench-{stamp}@example.test", password="x" * 20)
    team = team_create(actor=user, name="Bench", slug=f"bench-{stamp}")

    csv_text = "ticket,label,split\n" + "".join(
        f"Ticket number {i} about invoice {i * 7},label {i % 5},{('train', 'dev', 'test')[i % 3]}\n"
        for i in range(ROWS)
    )
    with team_scope(team):
        dataset = services.dataset_create(team=team, actor=user, name="bench")
        started = time.perf_counter()
        importing.import_file(
            team=team,
            actor=user,
            dataset=dataset,
            uploaded=SimpleUploadedFile("bench.csv", csv_text.encode()),
        )
        import_seconds = time.perf_counter() - started
        first = selectors.examples_at_revision(dataset).first()
        services.example_update(
            team=team, actor=user, dataset=dataset, example_id=first.example_id, split="edited"
        )
    log(f"imported {ROWS} rows in {import_seconds:.2f} s")

    client = Client()
    client.force_login(user)
    base = f"/t/{team.slug}/datasets/{dataset.pk}/"
    last_page = (ROWS + 49) // 50
    cases = {
        "page 1": {},
        "page 50": {"page": 50},
        "page 100": {"page": 100},
        f"page {last_page}": {"page": last_page},
        "revision 1, page 150": {"revision": 1, "page": 150},
        "split dev, page 20": {"split": "dev", "page": 20},
        "search": {"q": "invoice 7"},
    }
    client.get(base)  # warm caches and the session
    timings: list[float] = []
    max_queries = 0
    for name, params in cases.items():
        samples = []
        sql_ms = []
        for _ in range(ROUNDS):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(base, params)
                samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (name, response.status_code)
            max_queries = max(max_queries, len(queries))
            sql_ms.append(sum(float(q["time"]) for q in queries.captured_queries) * 1000)
        timings.extend(samples)
        log(
            f"{name}: {len(queries)} queries, median {statistics.median(samples):.1f} ms "
            f"(SQL {statistics.median(sql_ms):.1f} ms)"
        )

    # Streaming parse of a big file: peak Python memory versus the file size.
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

    timings.sort()
    p50 = statistics.median(timings)
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    print(
        f"dataset_page rows={ROWS} max_queries={max_queries} p50_ms={p50:.1f} p99_ms={p99:.1f} "
        f"import_rows_per_s={ROWS / import_seconds:.0f} parse_peak_mb={peak / 1024 / 1024:.2f} "
        f"file_mb={file_mb:.1f}"
    )


if __name__ == "__main__":
    main()
