"""An experiment against a real rate limit: demo-echo with a token bucket of 200 requests/s.

Run: ./scripts/with_postgres.sh .venv/bin/python benchmarks/experiment_rate_limited.py

demo-echo answers in 50 ms and admits LIMIT_RPS requests a second (a bucket holding BURST,
default one second's worth, full at the start of each round as a provider's would be after
a pause); past it, 429 at once with Retry-After. Every answer states the budget left in
OpenAI's `x-ratelimit-*-requests` headers, as hosted providers do: the workers pace their
calls by it (`AdaptiveLimiter` in apps/experiments/runner.py), so this measures pacing by
the provider's headers; the AIMD on 429s alone is for providers that send none (the
random-429 run of benchmarks/experiment_run.py exercises it). The experiment asks for
concurrency 32 (640 calls/s at 50 ms, more than three times the limit), ROWS rows
(default 2,000: ten seconds at the limit), one exact-match evaluator, WORKERS (default 2)
`manage.py worker` processes sharing the run (started before the rounds, as `make run`
keeps them), PostgreSQL from DATABASE_URL.

The baseline is the limit itself: what a client that knew it could achieve at best. The
run's achieved rate counts every row over the run (started_at -> finished_at), so the
first second's burst is in it: `burst=` says how large it was (the most it can add is
BURST / run seconds). `share_429` is the 429 answers over every chat request demo-echo
received (retries included), from its own counts; `lowest_concurrency` the lowest limit any
worker's AIMD reached (its share of the run's 32; paced by the headers, nothing is cut, so
it stays the share). ROUNDS (>= 7) rounds; each figure is
its median over the rounds, with its min–max; the load average before and after.

Last line: rate_limited rows=… concurrency=… latency_ms=… limit_rps=… burst=… achieved_rps=…
of_limit=… share_429=… lowest_concurrency=… workers=… rounds=… load1=…
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("BENCH_ROWS", "2000")

from benchmarks.experiment_run import run_once as run_experiment  # noqa: E402
from benchmarks.experiment_run import (  # noqa: E402
    setup_world,
    start_demo_echo,
    start_workers,
    stop_workers,
)
from benchmarks.honest import (  # noqa: E402
    MIN_ROUNDS,
    load_average,
    log,
    median,
    require_postgres,
    spread,
)

ROWS = int(os.environ["BENCH_ROWS"])
CONCURRENCY = 32
LATENCY_MS = 50
LIMIT_RPS = float(os.environ.get("BENCH_LIMIT_RPS", 200))
BURST = float(os.environ.get("BENCH_LIMIT_BURST", LIMIT_RPS))
WORKERS = int(os.environ.get("BENCH_WORKERS", 2))
ROUNDS = max(MIN_ROUNDS, int(os.environ.get("BENCH_ROUNDS", MIN_ROUNDS)))


def main() -> None:
    require_postgres()
    import django

    django.setup()
    from django.core.management import call_command

    log(f"{load_average()}; {WORKERS} worker processes")
    call_command("migrate", verbosity=0)
    world = setup_world()
    running, startup = start_workers(WORKERS)
    log(f"{WORKERS} workers started before the rounds (as make run keeps them) in {startup:.2f} s")
    rounds = []
    for number in range(1, ROUNDS + 1):
        # A fresh demo-echo each round: its bucket full, as after a pause.
        echo, url = start_demo_echo("--limit-rps", f"{LIMIT_RPS:g}", "--limit-burst", f"{BURST:g}")
        try:
            r = run_experiment(
                f"limited {number}", world, url, workers=WORKERS, rows=ROWS, running=running
            )
            with urllib.request.urlopen(f"{url}/stats", timeout=5) as answer:
                stats = json.load(answer)
        finally:
            echo.kill()
            echo.wait()
        r["achieved_rps"] = r["rows"] / r["run_s"]
        r["calls"] = stats["chat_requests"]
        r["limited"] = stats["outcomes"].get("limited", 0)
        r["share_429"] = r["limited"] / max(1, r["calls"])
        rounds.append(r)
        log(
            f"round {number}: {r['achieved_rps']:.0f} rows/s over {r['run_s']:.2f} s "
            f"({r['achieved_rps'] / LIMIT_RPS:.2f} of the limit), {r['limited']} 429s of "
            f"{r['calls']} calls ({r['share_429']:.1%}; the workers counted {r['rate_limited']} "
            f"of {r['requests']}), lowest concurrency "
            f"{r['lowest_concurrency']}, errors {r['errors']}, shards by worker {r['shards']}"
        )
    stop_workers(running)
    log(f"{ROUNDS} rounds:")
    log(f"achieved rows/s: {spread([r['achieved_rps'] for r in rounds], '{:.0f}')}")
    log(f"429 share: {spread([r['share_429'] for r in rounds], '{:.3f}')}")
    log(f"lowest concurrency: {spread([r['lowest_concurrency'] or 0 for r in rounds], '{:.0f}')}")
    log(load_average())
    achieved = median(r["achieved_rps"] for r in rounds)
    print(
        f"rate_limited rows={ROWS} concurrency={CONCURRENCY} latency_ms={LATENCY_MS} "
        f"limit_rps={LIMIT_RPS:g} burst={BURST:g} achieved_rps={achieved:.1f} "
        f"of_limit={achieved / LIMIT_RPS:.2f} "
        f"share_429={median(r['share_429'] for r in rounds):.3f} "
        f"lowest_concurrency={median(r['lowest_concurrency'] or 0 for r in rounds):.0f} "
        f"errors={sum(r['errors'] for r in rounds)} workers={WORKERS} rounds={ROUNDS} "
        f"load1={os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
