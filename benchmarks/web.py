"""A benchmark's view of the app over HTTP: gunicorn on loopback, a signed-in session, and
timed GETs of whole pages (what a browser waits for, minus the browser)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.honest import log

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def bench_team(slug: str, name: str, **options):
    """The benchmark's user and its team `slug` (made on the first run, reused after; needs
    Django set up): (user, team)."""
    from apps.accounts.models import User
    from apps.teams.models import Team
    from apps.teams.services import team_create

    user = User.objects.filter(email="bench@example.test").first()
    if user is None:
        user = User.objects.create_user(email="bench@example.test", password="bench-pass-4821")
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        team = team_create(actor=user, name=name, slug=slug, **options)
    return user, team


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(environ: dict, database_url: str) -> dict:
    return {
        **environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "LOG_LEVEL": "WARNING",
        "PROMPTYARD_VAR_DIR": tempfile.mkdtemp(prefix="promptyard-bench-"),
    }


def database_url(environ: dict, name: str) -> str:
    return environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + name


def prepare_databases(
    script: str, prefix: str, sizes: dict[str, int], unit: str
) -> tuple[dict[str, dict], dict[str, tuple[dict, int]]]:
    """For each side ("big", "small") a fresh database `<prefix>_<side>` filled by running
    `script --prepare <size>` in it ("--checks" on the big side: its query counts and
    EXPLAINs). Returns what each prepare printed last (JSON) and each side's (env, port)
    for its server."""
    prepared, servers = {}, {}
    for side, size in sizes.items():
        name = f"{prefix}_{side}"
        subprocess.run(["psql", "-q", "-c", f"CREATE DATABASE {name}"], check=True)
        env = env_for(os.environ, database_url(os.environ, name))
        log(f"{side}: migrating and filling {size:,} {unit}")
        checks = ["--checks"] if side == "big" else []
        out = subprocess.run(
            [PYTHON, script, "--prepare", str(size), *checks],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise SystemExit(f"preparing {name} failed:\n{out.stderr[-3000:]}")
        prepared[side] = json.loads(out.stdout.strip().splitlines()[-1])
        servers[side] = (env, free_port())
    return prepared, servers


def signed_in_session(user) -> str:
    """A session cookie for `user`, made the way a test client signs in (in the database
    the caller's process uses; gunicorn reads it from there)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def get(url: str, session: str, expect: bytes = b"") -> float:
    """Milliseconds to fetch `url` whole; anything but a 200 with `expect` in it stops."""
    request = urllib.request.Request(url, headers={"Cookie": f"sessionid={session}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200 or expect not in body:
        raise SystemExit(f"{url}: {response.status}, without {expect!r}")
    return elapsed


def start_gunicorn(env: dict, port: int, probe: str, session: str) -> subprocess.Popen:
    gunicorn = str(Path(PYTHON).with_name("gunicorn"))
    process = subprocess.Popen(
        [gunicorn, "config.wsgi:application", "--workers", "1", "--bind", f"127.0.0.1:{port}"]
        + ["--log-level", "warning", "--timeout", "120"],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            get(f"http://127.0.0.1:{port}{probe}", session)
            return process
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("gunicorn did not start")
