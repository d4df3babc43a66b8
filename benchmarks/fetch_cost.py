"""CPU cost of one tagged prompt fetch against the bare view, in one process: what
benchmarks/prompt_fetch.py's ratio is made of, measured without the machine's noise.

Run: ./scripts/with_postgres.sh .venv/bin/python benchmarks/fetch_cost.py [--callgrind]

Loads the same team, prompts and API key as prompt_fetch.py (into PostgreSQL), then, in
one process, calls the WSGI application with a prepared environ (as gunicorn's sync worker
does: the response iterated and closed) for
  bare:  GET /__bench__/bare.json  (the floor, the same Authorization header)
  fetch: GET /api/v1/prompts/bench-NNN/?tag=production, rotating over the 200 prompts.
Each side runs N requests per round, ROUNDS rounds interleaved; the figure is the median
over rounds of CPU microseconds per request (time.process_time). Its ratio (bare cost /
fetch cost) sits below prompt_fetch.py's, whose requests also carry gunicorn's and the
sockets' share, the same on both sides.

--callgrind also counts instructions per request under valgrind's callgrind (user-space
instructions, deterministic: the figure to compare before and after a change on a noisy
machine): one process runs CALLGRIND_N requests per phase, bare and fetch twice each,
and callgrind dumps its counters between phases.
(Needs Debian's valgrind.) --profile prints cProfile of the fetch (tottime, cumulative)
and the functions whose time differs most between the fetch and the bare view.

Last lines: fetch_cost bare_us=… fetch_us=… cpu_ratio=… n=… rounds=… load1=…
            fetch_instructions bare=… fetch=… extra=… ratio=… n=…  (with --callgrind)
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.honest import load_average, log, median, require_postgres, spread  # noqa: E402

PYTHON = sys.executable
PROMPTS = 200
N = int(os.environ.get("FETCH_COST_N", "5000"))
ROUNDS = int(os.environ.get("FETCH_COST_ROUNDS", "7"))
CALLGRIND_N = int(os.environ.get("FETCH_COST_CALLGRIND_N", "500"))


def bench_env(var_dir: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PROMPTYARD_VAR_DIR": var_dir,
        "PROMPTYARD_BENCHMARK_VIEWS": "1",
        "PROMPTYARD_SERVING_RATE": "10000000/s",
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONHASHSEED": "0",
    }


def environ_for(path: str, query: str, key: str) -> dict:
    """What gunicorn's sync worker hands the application for a wrk request."""
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "RAW_URI": path + (f"?{query}" if query else ""),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {key}",
        "SERVER_SOFTWARE": "gunicorn/23.0.0",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


class Driver:
    """Calls the WSGI application the way gunicorn's sync worker does."""

    def __init__(self, key: str):
        from config.wsgi import application

        self.app = application
        self.bare = [environ_for("/__bench__/bare.json", "", key)]
        self.fetch = [
            environ_for(f"/api/v1/prompts/bench-{i:03d}/", "tag=production", key)
            for i in range(PROMPTS)
        ]
        self.status = ""

    def _start(self, status, headers, exc_info=None):
        self.status = status

    def one(self, environ: dict) -> bytes:
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(b"")
        result = self.app(env, self._start)
        try:
            body = b"".join(result)
        finally:
            result.close()
        return body

    def run(self, side: str, n: int) -> None:
        environs = self.bare if side == "bare" else self.fetch
        count = len(environs)
        for i in range(n):
            self.one(environs[i % count])

    def warm(self) -> None:
        for environ in self.fetch * 3:
            self.one(environ)
            if not self.status.startswith("200"):
                raise SystemExit(f"fetch answered {self.status}")
        self.one(self.bare[0])
        if not self.status.startswith("200"):
            raise SystemExit(f"bare view answered {self.status}")


def setup(key_file: str) -> Driver:
    import django

    django.setup()
    driver = Driver(json.loads(Path(key_file).read_text())["key"])
    driver.warm()
    return driver


def measure(key_file: str) -> None:
    """In this process: ROUNDS interleaved rounds of N requests per side."""
    driver = setup(key_file)
    per_request: dict[str, list[float]] = {"bare": [], "fetch": []}
    for number in range(ROUNDS):
        sides = ["bare", "fetch"] if number % 2 == 0 else ["fetch", "bare"]
        for side in sides:
            started = time.process_time()
            driver.run(side, N)
            per_request[side].append((time.process_time() - started) / N * 1e6)
    ratios = [b / f for b, f in zip(per_request["bare"], per_request["fetch"], strict=True)]
    log(f"bare  CPU us/request: {spread(per_request['bare'], '{:.1f}')}")
    log(f"fetch CPU us/request: {spread(per_request['fetch'], '{:.1f}')}")
    extra = [f - b for b, f in zip(per_request["bare"], per_request["fetch"], strict=True)]
    log(f"fetch - bare us:      {spread(extra, '{:.1f}')}")
    print(
        f"fetch_cost bare_us={median(per_request['bare']):.1f} "
        f"fetch_us={median(per_request['fetch']):.1f} cpu_ratio={median(ratios):.3f} "
        f"n={N} rounds={ROUNDS} load1={os.getloadavg()[0]:.2f}",
        flush=True,
    )


def profile(key_file: str) -> None:
    """cProfile of the fetch (tottime, cumulative), then the functions whose own time
    differs most between the fetch and the bare view (what a fetch does beyond the floor)."""
    import cProfile
    import pstats

    driver = setup(key_file)
    stats = {}
    for side in ("bare", "fetch"):
        profiler = cProfile.Profile()
        profiler.enable()
        driver.run(side, N)
        profiler.disable()
        stats[side] = pstats.Stats(profiler)
    for order in ("tottime", "cumulative"):
        stats["fetch"].sort_stats(order).print_stats(45)

    def own(side):  # function -> (tottime us per request, cumulative us per request)
        raw = stats[side].stats  # type: ignore[attr-defined]
        return {f: (v[2] / N * 1e6, v[3] / N * 1e6) for f, v in raw.items()}

    bare, fetch = own("bare"), own("fetch")
    rows = []
    for func in set(bare) | set(fetch):
        b, f = bare.get(func, (0.0, 0.0)), fetch.get(func, (0.0, 0.0))
        rows.append((f[0] - b[0], f[1] - b[1], func))
    for column, title in ((0, "own time"), (1, "cumulative time")):
        rows.sort(key=lambda r: -abs(r[column]))
        print(f"by {title}: fetch - bare, us/request profiled (own, cumulative):")
        for d_own, d_cum, (file, line, name) in rows[:40]:
            where = file.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
            print(f"{d_own:8.2f} {d_cum:8.2f}  {where}:{line}({name})")


PHASES = ("bare", "fetch", "bare", "fetch")


def phases(key_file: str, n: int) -> None:
    """Under callgrind: set up, then n requests of each side per phase, interleaved; a call
    of os.getppid() between phases makes callgrind dump (and zero) its counters there."""
    driver = setup(key_file)
    os.getppid()
    for side in PHASES:
        driver.run(side, n)
        os.getppid()


def callgrind(key_file: str, env: dict) -> dict[str, float]:
    """Instructions per request of each side, counted by callgrind: deterministic, so the
    figure to compare before and after a change on a noisy machine."""
    with tempfile.TemporaryDirectory() as out:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--dump-before=os_getppid",
            f"--callgrind-out-file={out}/cg.out",
            PYTHON,
            __file__,
            "--phases",
            key_file,
            str(CALLGRIND_N),
        ]
        # Under callgrind a request takes ~50 times as long: work done once per interval
        # (the telemetry flush, every 10 s; a key's lookup, every 5 s) would be charged
        # ~50 times over, at random phases. Its real share is negligible; leave it out.
        quiet = {"PROMPTYARD_TELEMETRY_FLUSH_SECONDS": "3600"}
        quiet["PROMPTYARD_API_KEY_CACHE_SECONDS"] = "3600"
        done = subprocess.run(
            command, env={**env, **quiet}, capture_output=True, text=True, cwd=ROOT
        )
        if done.returncode != 0:
            raise SystemExit(f"callgrind run failed:\n{done.stderr[-3000:]}")
        totals = []
        for path in sorted(Path(out).glob("cg.out.*"), key=lambda p: int(p.name.split(".")[-1])):
            found = re.search(r"^(?:summary|totals): (\d+)", path.read_text(), re.M)
            totals.append(int(found.group(1)) if found else 0)
    # Dump 1 is the set-up; then one per phase.
    per: dict[str, list[float]] = {"bare": [], "fetch": []}
    for side, total in zip(PHASES, totals[1:], strict=True):
        per[side].append(total / CALLGRIND_N)
    # The cheapest phase of each side: a full collection of the process's heap (tens of
    # millions of instructions, once in a while) can land in either phase.
    figures = {side: min(values) for side, values in per.items()}
    log(f"instructions per request (callgrind, {CALLGRIND_N} per phase): {per}")
    print(
        f"fetch_instructions bare={figures['bare']:.0f} fetch={figures['fetch']:.0f} "
        f"extra={figures['fetch'] - figures['bare']:.0f} "
        f"ratio={figures['bare'] / figures['fetch']:.3f} n={CALLGRIND_N}",
        flush=True,
    )
    return figures


def load(env: dict, key_file: str) -> None:
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    out = subprocess.run(
        [PYTHON, str(ROOT / "benchmarks" / "prompt_fetch.py"), "--load"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    Path(key_file).write_text(out.stdout.strip().splitlines()[-1])


def main() -> None:
    require_postgres()
    log(load_average())
    with tempfile.TemporaryDirectory(prefix="promptyard-fetch-cost-") as workdir:
        env = bench_env(str(Path(workdir) / "var"))
        key_file = str(Path(workdir) / "key.json")
        load(env, key_file)
        here = [PYTHON, __file__]
        subprocess.run([*here, "--measure", key_file], env=env, check=True, cwd=ROOT)
        if "--profile" in sys.argv:
            subprocess.run([*here, "--profile", key_file], env=env, check=True, cwd=ROOT)
        if "--callgrind" in sys.argv:
            callgrind(key_file, env)
    log(load_average())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        measure(sys.argv[2])
    elif sys.argv[1:2] == ["--profile"] and len(sys.argv) == 3:
        profile(sys.argv[2])
    elif sys.argv[1:2] == ["--phases"]:
        phases(sys.argv[2], int(sys.argv[3]))
    else:
        main()
