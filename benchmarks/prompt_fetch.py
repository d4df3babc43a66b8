"""Prompt fetch throughput and latency, against the framework's floor.

Run: ./scripts/with_postgres.sh .venv/bin/python benchmarks/prompt_fetch.py

Starts the app under gunicorn (2 sync workers) on loopback against PostgreSQL
(DATABASE_URL), loads 200 prompts tagged production, then drives it with Debian's `wrk`
from another process, in the same run and server:
  1. the bare JSON view (/__bench__/bare.json, PROMPTYARD_BENCHMARK_VIEWS=1): the floor,
  2. tagged fetches GET /api/v1/prompts/<name>/?tag=production (cache warm), rotating
     over the 200 prompts with a real API key,
  3. the same fetches with If-None-Match: 304 Not Modified,
  4. tagged fetches of 200 other prompts, each under a 50 % rollout on production, with a
     caller key (GET /api/v1/prompts/<name>/?tag=production&key=user-<n>): the server
     picks each key's arm (the SDK's sticky hash) from the cached answer.
Each runs once per round for ROUNDS (>= 7) rounds, interleaved, the order rotated. Every
figure is the median over the rounds of that figure (ratio: of each round's fetch rps
over the same round's floor rps), printed with its min–max; the load average is printed
before and after.

A user's program also waits for its own start: a new Python process that imports the SDK
and fetches one prompt (wall time, interpreter start included) is timed against a new
process that fetches the bare view with httpx, interleaved over the same number of rounds.

Last line: prompt_fetch rps=… baseline_rps=… ratio=… p50_ms=… p99_ms=… not_modified_rps=…
ratio_min=… ratio_max=… cold_fetch_ms=… cold_baseline_ms=… rounds=… load1=…
rollout_rps=… rollout_ratio=… rollout_ratio_min=…
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.honest import (  # noqa: E402
    MIN_ROUNDS,
    interleaved,
    load_average,
    median,
    require_postgres,
    spread,
    wall_of,
)

PYTHON = sys.executable
PROMPTS = 200
DURATION = int(os.environ.get("BENCH_DURATION", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
ROUNDS = max(MIN_ROUNDS, int(os.environ.get("BENCH_ROUNDS", MIN_ROUNDS)))
WORKERS = 2


def log(message: str) -> None:
    print(f"== {message}", flush=True)


COLD_FETCH = """
import sys
from promptyard import Promptyard
prompt = Promptyard(api_key=sys.argv[1], base_url=sys.argv[2]).get_prompt("bench-000")
assert prompt.version
"""
COLD_BASELINE = """
import sys
import httpx
assert httpx.get(sys.argv[2] + "/__bench__/bare.json").status_code == 200
"""


def cold_starts(base: str, key: str) -> dict[str, list[float]]:
    """Wall ms of a fresh process fetching one prompt through the SDK, and of one fetching
    the bare view with httpx (the SDK's own HTTP client): interleaved rounds."""

    def run(code: str):
        return lambda: wall_of([PYTHON, "-c", code, key, base], cwd=ROOT) * 1000

    return interleaved(ROUNDS, {"sdk": run(COLD_FETCH), "bare": run(COLD_BASELINE)})


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    log("installing wrk (Debian package)")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-q", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return shutil.which("wrk") or "wrk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_prompts(env: dict) -> str:
    """Migrate, then create a team with 200 prompts at production and a read key."""
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    out = subprocess.run(
        [PYTHON, __file__, "--load"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["key"]


def load_into_database() -> None:
    """Runs in a child process with the benchmark's environment (--load)."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from apps.core.tenancy import team_scope
    from apps.prompts import services
    from apps.prompts.models import Prompt
    from apps.teams.services import api_key_create
    from benchmarks.web import bench_team

    user, team = bench_team("bench", "Bench", protected_tags=["locked"])
    with team_scope(team):
        load_rollouts(team, user)
        for i in range(PROMPTS):
            name = f"bench-{i:03d}"
            if Prompt.objects.filter(name=name).exists():
                continue
            prompt = services.prompt_create(team=team, actor=user, name=name)
            version = services.version_create(
                team=team,
                actor=user,
                prompt=prompt,
                kind="chat",
                messages=[
                    {
                        "role": "system",
                        "content": f"You are support agent #{i} for {{{{ company }}}}.",
                    },
                    {"role": "user", "content": "{{ question }}"},
                ],
                model_settings={"model": "demo-echo", "temperature": 0.2, "max_tokens": 256},
                commit_message="benchmark prompt",
            )
            services.tag_move(
                team=team, actor=user, prompt=prompt, tag_name="production", version=version
            )
        _, raw = api_key_create(
            team=team, actor=user, name="bench", scopes=["prompts:read"], environment="production"
        )
    print(json.dumps({"key": raw}))


def load_rollouts(team, user) -> None:
    """roll-000…199: v1 at production, v2 served to 50 % of keys by a rollout."""
    from apps.prompts import services
    from apps.prompts.models import Prompt

    for i in range(PROMPTS):
        name = f"roll-{i:03d}"
        if Prompt.objects.filter(name=name).exists():
            continue
        prompt = services.prompt_create(team=team, actor=user, name=name)
        v1, v2 = (
            services.version_create(
                team=team,
                actor=user,
                prompt=prompt,
                kind="chat",
                messages=[
                    {"role": "system", "content": f"{tone} agent #{i} for {{{{ company }}}}."},
                    {"role": "user", "content": "{{ question }}"},
                ],
                model_settings={"model": "demo-echo", "temperature": 0.2, "max_tokens": 256},
                commit_message=f"{tone} benchmark prompt",
            )
            for tone in ("You are a support", "You are a warm, brief support")
        )
        services.tag_move(team=team, actor=user, prompt=prompt, tag_name="production", version=v1)
        services.rollout_start(
            team=team, actor=user, prompt=prompt, tag_name="production", candidate=v2, percent=50
        )


def move_production_tag() -> None:
    """--move, in a child process: a new version of bench-000 becomes production."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from apps.accounts.models import User
    from apps.core.tenancy import team_scope
    from apps.prompts import services
    from apps.prompts.models import Prompt
    from apps.teams.models import Team

    user = User.objects.get(email="bench@example.test")
    team = Team.objects.get(slug="bench")
    with team_scope(team):
        prompt = Prompt.objects.get(name="bench-000")
        version = services.version_create(
            team=team,
            actor=user,
            prompt=prompt,
            kind="text",
            template="Moved {{ question }}",
            commit_message="moved by the benchmark",
        )
        services.tag_move(
            team=team, actor=user, prompt=prompt, tag_name="production", version=version
        )
    print(version.number)


def check_invalidation(base: str, key: str, env: dict) -> None:
    """A tag moved by another process: every worker serves the new version at once."""
    out = subprocess.run(
        [PYTHON, __file__, "--move"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    expected = int(out.stdout.strip().splitlines()[-1])
    url = f"{base}/api/v1/prompts/bench-000/?tag=production"
    seen = set()
    for _ in range(40):  # connections close after each answer: both workers answer
        status, _, body = fetch(url, {"Authorization": f"Bearer {key}"})
        seen.add(json.loads(body)["version"] if status == 200 else status)
    if seen != {expected}:
        raise SystemExit(f"stale read after a tag move: saw {seen}, expected v{expected}")
    log(f"invalidation across {WORKERS} workers: every answer after the move was v{expected}")


def start_gunicorn(env: dict, port: int) -> subprocess.Popen:
    gunicorn = str(Path(PYTHON).with_name("gunicorn"))
    process = subprocess.Popen(
        [
            gunicorn,
            "config.wsgi:application",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/__bench__/bare.json", timeout=1)
            return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not start")


def fetch(url: str, headers: dict) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def warm(base: str, key: str) -> list[str]:
    """Fill both workers' caches (every prompt several times) and collect the ETags."""
    auth = {"Authorization": f"Bearer {key}"}
    etags = []
    for i in range(PROMPTS):
        url = f"{base}/api/v1/prompts/bench-{i:03d}/?tag=production"
        for _ in range(2 * WORKERS):
            status, headers, body = fetch(url, auth)
            if status != 200:
                raise SystemExit(f"warm-up fetch answered {status}: {body[:200]!r}")
        etags.append(headers["ETag"])
    status, _, body = fetch(
        f"{base}/api/v1/prompts/bench-000/?tag=production", {**auth, "If-None-Match": etags[0]}
    )
    if status != 304 or body:
        raise SystemExit(f"conditional fetch answered {status}, expected an empty 304")
    versions = set()
    for i in range(PROMPTS):
        url = f"{base}/api/v1/prompts/roll-{i:03d}/?tag=production&key=user-{i}"
        for _ in range(2 * WORKERS):
            status, _, body = fetch(url, auth)
            if status != 200:
                raise SystemExit(f"warm-up rollout fetch answered {status}: {body[:200]!r}")
        versions.add(json.loads(body)["version"])
    if versions != {1, 2}:
        raise SystemExit(f"a 50 % rollout served only {versions} to 200 keys")
    return etags


def lua_script(directory: Path, key: str, kind: str, etags: list[str]) -> Path:
    """wrk request generators. The baseline goes through the same Lua rotation with the
    same headers, so both sides pay the same load-generator cost."""
    prefix = "roll" if kind == "rollout" else "bench"
    names = ", ".join(f'"{prefix}-{i:03d}"' for i in range(PROMPTS))
    tags = ", ".join(json.dumps(e) for e in etags) if kind == "not_modified" else ""
    path_expr = {
        "baseline": '"/__bench__/bare.json"',
        # A different caller on every request: the server hashes each key to its arm.
        "rollout": '"/api/v1/prompts/" .. names[i] .. "/?tag=production&key=user-" .. n',
    }.get(kind, '"/api/v1/prompts/" .. names[i] .. "/?tag=production"')
    script = f"""
local names = {{{names}}}
local etags = {{{tags}}}
local i = 0
local n = 0
request = function()
  i = i % #names + 1
  n = n + 1
  local headers = {{["Authorization"] = "Bearer {key}"}}
  if #etags > 0 then headers["If-None-Match"] = etags[i] end
  return wrk.format("GET", {path_expr}, headers)
end
"""
    path = directory / f"{kind}.lua"
    path.write_text(script)
    return path


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(wrk: str, url: str, script: Path) -> dict:
    command = [wrk, "-t", "2", "-c", str(CONNECTIONS), "-d", f"{DURATION}s", "--latency"]
    command += ["-s", str(script)]
    out = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {
        pct: float(value) * UNITS[unit]
        for pct, value, unit in re.findall(
            r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M
        )
    }
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} error responses:\n{out}")
    return {"rps": rps, "p50": latency.get("50"), "p99": latency.get("99"), "raw": out,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}  # fmt: skip


def main() -> None:
    require_postgres()
    log(load_average())
    wrk = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="promptyard-bench-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PROMPTYARD_VAR_DIR": str(workdir / "var"),
        "PROMPTYARD_BENCHMARK_VIEWS": "1",
        # Every fetch still passes the team's serving throttle (its cost is in the
        # figures), under a limit wrk cannot reach: a 429 would end the run.
        "PROMPTYARD_SERVING_RATE": "10000000/s",
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
    }
    log(f"loading {PROMPTS} prompts into PostgreSQL")
    key = load_prompts(env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log(f"gunicorn ({WORKERS} workers) on {base}")
    server = start_gunicorn(env, port)
    try:
        etags = warm(base, key)
        scripts = {
            kind: lua_script(workdir, key, kind, etags)
            for kind in ("baseline", "fetch", "not_modified", "rollout")
        }

        def report(number: int, this_round: dict) -> None:
            log(
                f"round {number}: "
                + ", ".join(
                    f"{name} {run['rps']:.0f} rps p50 {run['p50']:.2f} ms p99 {run['p99']:.2f} ms"
                    for name, run in this_round.items()
                )
            )

        results = interleaved(
            ROUNDS,
            {kind: (lambda kind=kind: run_wrk(wrk, base, scripts[kind])) for kind in scripts},
            report=report,
        )
        cold = cold_starts(base, key)
        check_invalidation(base, key, env)
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(workdir, ignore_errors=True)

    # Other processes share this machine: each figure is its median over the rounds, the
    # ratio pairs each round's fetch rps with the same round's floor.
    rps = {kind: [run["rps"] for run in runs] for kind, runs in results.items()}
    ratios = [f / b for f, b in zip(rps["fetch"], rps["baseline"], strict=True)]
    rollout_ratios = [r / b for r, b in zip(rps["rollout"], rps["baseline"], strict=True)]
    p50 = [run["p50"] for run in results["fetch"]]
    p99 = [run["p99"] for run in results["fetch"]]
    log(f"wrk -t2 -c{CONNECTIONS}, {DURATION} s per run, {ROUNDS} rounds, interleaved:")
    log(f"floor (bare view) rps: {spread(rps['baseline'], '{:.0f}')}")
    log(f"tagged fetch rps:      {spread(rps['fetch'], '{:.0f}')}")
    log(f"304 Not Modified rps:  {spread(rps['not_modified'], '{:.0f}')}")
    log(f"fetch / floor ratio:   {spread(ratios)}")
    log(f"rollout fetch (keyed) rps: {spread(rps['rollout'], '{:.0f}')}")
    log(f"rollout / floor ratio: {spread(rollout_ratios)}")
    log(f"fetch p50 ms: {spread(p50)}; p99 ms: {spread(p99)}")
    log(f"a new process fetching one prompt with the SDK: {spread(cold['sdk'], '{:.0f}')} ms")
    log(f"a new process fetching the bare view (httpx): {spread(cold['bare'], '{:.0f}')} ms")
    log(load_average())
    print(
        f"prompt_fetch rps={median(rps['fetch']):.0f} "
        f"baseline_rps={median(rps['baseline']):.0f} ratio={median(ratios):.2f} "
        f"p50_ms={median(p50):.2f} p99_ms={median(p99):.2f} "
        f"not_modified_rps={median(rps['not_modified']):.0f} "
        f"ratio_min={min(ratios):.2f} ratio_max={max(ratios):.2f} "
        f"cold_fetch_ms={median(cold['sdk']):.0f} cold_baseline_ms={median(cold['bare']):.0f} "
        f"rounds={ROUNDS} load1={os.getloadavg()[0]:.2f} "
        f"rollout_rps={median(rps['rollout']):.0f} rollout_ratio={median(rollout_ratios):.2f} "
        f"rollout_ratio_min={min(rollout_ratios):.2f}"
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--load"]:
        load_into_database()
    elif sys.argv[1:] == ["--move"]:
        move_production_tag()
    else:
        main()
