"""`make run`: the web server, the task worker and the demo model server, as one command.

Children run in their own process groups, so Ctrl-C reaches them once, through us. When
any child exits, the others are stopped and we exit with its status."""

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
# Periodic housekeeping is enqueued for the worker rather than run here, so it happens
# once however many web processes there are, and in the worker's retry/log machinery.
PERIODIC_TASKS = [("apps.traces.tasks.traces_purge_expired", 3600)]


def _enqueue_due(due: dict[str, float], now: float, out) -> None:
    from django.utils.module_loading import import_string

    for path, every in PERIODIC_TASKS:
        if now >= due.get(path, 0):
            due[path] = now + every
            try:
                import_string(path).enqueue()
            except Exception as exc:  # noqa: BLE001 - housekeeping must not stop the app
                out.write(f"[run_all] could not enqueue {path}: {exc}")


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
        parser.add_argument("--workers", type=int, default=1, help="Task worker processes.")

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
            worker = [*manage, "db_worker", "--queue-name", "*", "--no-reload"]
            commands.append((f"worker-{i + 1}", worker))

        env = os.environ.copy()
        if "demo_echo" in get_commands():
            # The app reaches the demo model server where this run started it.
            env.setdefault(
                "PROMPTYARD_DEMO_ECHO_URL", f"http://127.0.0.1:{options['demo_echo_port']}/v1"
            )
        children: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            if stopping:
                return
            stopping = True
            for child in children.values():
                if child.poll() is None:
                    try:
                        child.send_signal(signum or signal.SIGTERM)
                    except ProcessLookupError:
                        pass

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

        for name, argv in commands:
            self.stdout.write(f"[run_all] starting {name}: {' '.join(argv[1:])}")
            children[name] = subprocess.Popen(
                argv, cwd=settings.BASE_DIR, env=env, start_new_session=True
            )

        self.stdout.write(
            self.style.SUCCESS(
                f"\nPromptyard is running: open http://{host}:{port}/ and log in as "
                "alice@acme.test (owner of team acme).\n"
                "Demo accounts: alice/bob/carol/erin@acme.test, dave@globex.test; "
                f"password: {DEMO_PASSWORD} (new accounts from `manage.py seed_demo`).\n"
                "Press Ctrl-C to stop.\n"
            )
        )

        status = 0
        exited = None
        due: dict[str, float] = {}
        while exited is None:
            _enqueue_due(due, time.monotonic(), self.stderr)
            for name, child in children.items():
                code = child.poll()
                if code is not None:
                    exited, status = name, code
                    break
            else:
                time.sleep(0.3)
        asked_to_stop = stopping
        if not asked_to_stop:
            self.stderr.write(f"[run_all] {exited} exited with status {status}; stopping the rest")
            stop(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if asked_to_stop:
            sys.exit(0)  # Ctrl-C or SIGTERM: a clean stop, whatever the children answered
        sys.exit(status if status > 0 else 1)  # a child died on its own: that is a failure
