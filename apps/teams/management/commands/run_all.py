"""`make run`: the web server, the task worker and the demo model server, as one command.

Children run in their own process groups, so Ctrl-C reaches them once, through us. A child
that exits on its own (a crash, a kill, the OOM killer) is started again after a backoff
that doubles with each quick failure, and we say so; the others keep running. A child that
keeps failing quickly (MAX_QUICK_FAILURES in a row, e.g. a port that is taken) stops
everything with its status. SIGTERM or Ctrl-C stops every child and exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import get_commands
from django.core.management.base import BaseCommand

from apps.teams.management.commands.seed_demo import DEMO_PASSWORD

STOP_GRACE_SECONDS = 10
RESTART_BACKOFF = 1.0  # seconds before the first restart, doubled per quick failure
RESTART_BACKOFF_CAP = 30.0
STABLE_SECONDS = 60.0  # a child that ran this long has its backoff reset
MAX_QUICK_FAILURES = 6  # failures in a row, each within STABLE_SECONDS of its start
# Periodic housekeeping is enqueued for the worker rather than run here, so it happens
# once however many web processes there are, and in the worker's retry/log machinery.
PERIODIC_TASKS = [
    ("apps.traces.tasks.traces_purge_expired", 3600),
    ("apps.traces.tasks.rollout_guardrails_check", 60),
    ("apps.traces.tasks.trace_buckets_flush", 30),  # the dashboard's stale hours
    ("apps.traces.tasks.online_rules_run", 15),  # online evaluators, after ingestion
]


def _enqueue_due(due: dict[str, float], now: float, out) -> None:
    from django.utils.module_loading import import_string

    for path, every in PERIODIC_TASKS:
        if now >= due.get(path, 0):
            due[path] = now + every
            try:
                import_string(path).enqueue()
            except Exception as exc:  # noqa: BLE001 - housekeeping must not stop the app
                out.write(f"[run_all] could not enqueue {path}: {exc}")


class Child:
    """One child process of run_all: started, watched, restarted with backoff."""

    def __init__(self, name: str, argv: list[str], env: dict, out):
        self.name = name
        self.argv = argv
        self.env = env
        self.out = out
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.restarts = 0
        self.quick_failures = 0
        self.restart_at: float | None = None

    def start(self) -> None:
        verb = "restarting" if self.restarts else "starting"
        self.out.write(f"[run_all] {verb} {self.name}: {' '.join(self.argv[1:])}")
        self.restart_at = None
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            self.argv, cwd=settings.BASE_DIR, env=self.env, start_new_session=True
        )

    def exited(self) -> int | None:
        """The exit status if the child has exited and no restart is scheduled yet."""
        if self.process is None or self.restart_at is not None:
            return None
        return self.process.poll()

    def restart_due(self, now: float) -> bool:
        return self.restart_at is not None and now >= self.restart_at

    def give_up(self) -> bool:
        quick = time.monotonic() - self.started_at < STABLE_SECONDS
        self.quick_failures = self.quick_failures + 1 if quick else 0
        return self.quick_failures >= MAX_QUICK_FAILURES

    def schedule_restart(self) -> float:
        delay = min(RESTART_BACKOFF_CAP, RESTART_BACKOFF * 2 ** max(0, self.quick_failures - 1))
        self.restarts += 1
        self.restart_at = time.monotonic() + delay
        return delay

    def signal(self, signum) -> None:
        self.restart_at = None
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.send_signal(signum)
            except ProcessLookupError:
                pass

    def wait_or_kill(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Command(BaseCommand):
    help = "Run the web server, the background worker and the demo-echo model server together."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("PROMPTYARD_HOST", "127.0.0.1"))
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("PROMPTYARD_PORT", "8000"))
        )
        parser.add_argument("--demo-echo-port", type=int, default=8765)
        parser.add_argument(
            "--gunicorn",
            action="store_true",
            help="Serve with gunicorn instead of Django's development server.",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("PROMPTYARD_WORKERS", 0)) or max(2, os.cpu_count() or 1),
            help="Task worker processes (default: one per core, at least two, so one team's "
            "run never holds the only worker; one experiment's shards run on all of them).",
        )

    def handle(self, *args, **options):
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        host, port = options["host"], options["port"]
        commands: list[tuple[str, list[str]]] = []
        if "demo_echo" in get_commands():
            commands.append(
                ("demo-echo", [*manage, "demo_echo", "--port", str(options["demo_echo_port"])])
            )
        if options["gunicorn"]:
            web = [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"{host}:{port}"]
        else:
            web = [*manage, "runserver", f"{host}:{port}", "--noreload"]
        commands.append(("web", web))
        for i in range(options["workers"]):
            worker = [*manage, "worker", "--queue-name", "*", "--no-reload"]
            commands.append((f"worker-{i + 1}", worker))

        env = os.environ.copy()
        if "demo_echo" in get_commands():
            # The app reaches the demo model server where this run started it, and provider
            # URLs may reach that address (loopback is refused unless the operator allows it).
            demo_echo = f"127.0.0.1:{options['demo_echo_port']}"
            env.setdefault("PROMPTYARD_DEMO_ECHO_URL", f"http://{demo_echo}/v1")
            allowed = [a for a in env.get("PROMPTYARD_PROVIDER_URL_ALLOWLIST", "").split(",") if a]
            if demo_echo not in allowed:
                env["PROMPTYARD_PROVIDER_URL_ALLOWLIST"] = ",".join([*allowed, demo_echo])
        children: dict[str, Child] = {
            name: Child(name, argv, env, self.stdout) for name, argv in commands
        }
        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            if stopping:
                return
            stopping = True
            for child in children.values():
                child.signal(signum or signal.SIGTERM)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

        for child in children.values():
            child.start()

        self.stdout.write(
            self.style.SUCCESS(
                f"\nPromptyard is running: open http://{host}:{port}/ and log in as "
                "alice@acme.test (owner of team acme).\n"
                "Demo accounts: alice/bob/carol/erin@acme.test, dave@globex.test; "
                f"password: {DEMO_PASSWORD} (new accounts from `manage.py seed_demo`).\n"
                "Press Ctrl-C to stop.\n"
            )
        )

        failed: Child | None = None
        due: dict[str, float] = {}
        while not stopping and failed is None:
            now = time.monotonic()
            _enqueue_due(due, now, self.stderr)
            for child in children.values():
                if child.restart_due(now):
                    child.start()
                    continue
                code = child.exited()
                if code is None or stopping:
                    continue
                if child.give_up():
                    self.stderr.write(
                        f"[run_all] {child.name} exited with status {code} "
                        f"{child.quick_failures} times in a row soon after starting; "
                        "stopping the rest"
                    )
                    failed = child
                    break
                delay = child.schedule_restart()
                self.stderr.write(
                    f"[run_all] {child.name} exited with status {code}; restarting it in "
                    f"{delay:.0f} s (restart {child.restarts})"
                )
            else:
                time.sleep(0.3)
        if failed is not None:
            stop(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children.values():
            child.wait_or_kill(deadline)
        if failed is None:
            sys.exit(0)  # Ctrl-C or SIGTERM: a clean stop, whatever the children answered
        status = failed.process.returncode if failed.process else 1
        sys.exit(status if status and status > 0 else 1)  # a crash loop: that is a failure
