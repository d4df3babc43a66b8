"""`manage.py run_all` (what `make run` ends with): serves, forwards signals, restarts a
child that dies, and stops everything on SIGTERM."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_until(predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def project_env(tmp_path_factory):
    """A migrated SQLite database of its own, so the test never touches the suite's."""
    var = tmp_path_factory.mktemp("run_all_var")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(PROMPTYARD_VAR_DIR=str(var), DEBUG="1")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    return env


def _start(env):
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "run_all",
            "--port",
            str(port),
            "--demo-echo-port",
            str(_free_port()),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def serving():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2):
                return True
        except OSError:
            return False

    assert _wait_until(serving), "run_all never served the login page"
    return proc


def _stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=30)


def test_it_serves_and_stops_every_child_on_sigterm(project_env):
    proc = _start(project_env)
    try:
        children = _children(proc.pid)
        assert len(children) >= 2  # web and worker (and demo-echo when the llm app has it)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert _wait_until(lambda: not any(_alive(c) for c in children), 15)
    finally:
        out = proc.communicate(timeout=30)[0] if proc.poll() is not None else _stop(proc)
    assert "log in as alice@acme.test" in (out or "")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _child_running(parent: int, word: str) -> list[int]:
    return [c for c in _children(parent) if word in _cmdline(c).split() and _alive(c)]


def test_it_restarts_a_killed_worker_and_keeps_the_rest(project_env):
    proc = _start(project_env)
    try:
        workers = _child_running(proc.pid, "worker")
        webs = _child_running(proc.pid, "runserver")
        # One worker per core, at least two (one run's shards spread over all of them).
        cores = max(2, os.cpu_count() or 1)
        assert len(workers) == cores and len(webs) == 1
        os.kill(workers[0], signal.SIGKILL)
        assert _wait_until(
            lambda: len(set(_child_running(proc.pid, "worker")) - {workers[0]}) == cores, 30
        ), "the worker was not started again"
        assert proc.poll() is None  # run_all itself goes on
        assert _child_running(proc.pid, "runserver") == webs  # the web server was left alone
        assert workers[1] in _child_running(proc.pid, "worker")  # and the other worker
        children = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert _wait_until(lambda: not any(_alive(c) for c in children), 15)
        out = proc.communicate(timeout=30)[0]
    finally:
        _stop(proc)
    killed = re.search(r"(worker-\d) exited with status -9; restarting it in 1 s", out)
    assert killed, out
    assert f"restarting {killed.group(1)}: " in out


def test_it_backs_off_and_gives_up_on_a_crash_loop(monkeypatch):
    import io
    import sys as _sys

    from apps.teams.management.commands import run_all

    child = run_all.Child(
        "crasher", [_sys.executable, "-c", "raise SystemExit(3)"], {}, io.StringIO()
    )
    delays = []
    for _ in range(run_all.MAX_QUICK_FAILURES - 1):
        child.start()
        child.process.wait(timeout=30)
        assert child.exited() == 3
        assert not child.give_up()
        delays.append(child.schedule_restart())
        assert child.exited() is None  # a restart is pending, not a new failure
    child.start()
    child.process.wait(timeout=30)
    assert child.give_up()
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0][: len(delays)]
    # A child that ran long enough starts again from the first delay.
    monkeypatch.setattr(run_all, "STABLE_SECONDS", 0.0)
    assert not child.give_up() and child.schedule_restart() == 1.0


def test_it_enqueues_the_trace_purge_once_per_interval(db):
    import io

    from django_tasks_db.models import DBTaskResult

    from apps.teams.management.commands.run_all import _enqueue_due

    due: dict[str, float] = {}
    _enqueue_due(due, 1000.0, io.StringIO())
    _enqueue_due(due, 1001.0, io.StringIO())  # not due yet: nothing more
    assert DBTaskResult.objects.filter(task_path__endswith="traces_purge_expired").count() == 1
    _enqueue_due(due, 1000.0 + 3600, io.StringIO())
    assert DBTaskResult.objects.filter(task_path__endswith="traces_purge_expired").count() == 2
