"""Background processes keep off the CPUs left to requests (PROMPTYARD_WORKER_CPUS)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.core import worker as worker_module
from apps.core.cpus import background_cpus, parse_cpu_list

ROOT = Path(__file__).resolve().parents[2]


def test_it_reads_cpu_lists_as_the_kernel_writes_them():
    assert parse_cpu_list("1") == {1}
    assert parse_cpu_list("1-3") == {1, 2, 3}
    assert parse_cpu_list("0, 2-3") == {0, 2, 3}
    for bad, named in (("1-x", "'1-x'"), ("", "''"), ("3-1", "'3-1' ends"), ("-1", "'-1'")):
        with pytest.raises(ValueError, match=named):
            parse_cpu_list(bad)


def test_it_leaves_the_first_cpu_to_requests_with_auto():
    assert background_cpus("auto", {0, 1}) == {1}
    assert background_cpus("auto", {2, 3, 5}) == {3, 5}
    assert background_cpus("auto", {0}) is None  # one CPU: nothing to leave
    assert background_cpus("", {0, 1}) is None
    assert background_cpus(" 1 ", {0, 1}) == {1}


def test_it_refuses_a_setting_naming_what_is_wrong():
    with pytest.raises(ImproperlyConfigured, match=r"PROMPTYARD_WORKER_CPUS='1-x'.*'1-x'"):
        background_cpus("1-x", {0, 1})
    with pytest.raises(ImproperlyConfigured, match=r"CPU 4,7 is not available here.*run on 0,1"):
        background_cpus("0,4,7", {0, 1})


@pytest.fixture
def affinity(monkeypatch):
    """The process's CPUs as the commands see them: two, and what they bind to recorded."""
    bound = []
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cpus: bound.append(cpus), False)
    return bound


def test_it_binds_the_worker_and_demo_echo(affinity, monkeypatch, settings):
    from apps.llm.management.commands import demo_echo

    class Server:
        base_url = "http://127.0.0.1:0/v1"

        def __init__(self, address, options):
            pass

        def serve_forever(self):
            pass

        def server_close(self):
            pass

    monkeypatch.setattr(demo_echo, "DemoEchoServer", Server)
    monkeypatch.setattr("os.nice", lambda n: n)
    monkeypatch.setattr(worker_module.ResilientWorker, "run", lambda self: None)
    monkeypatch.setattr(worker_module.ResilientWorker, "configure_signals", lambda self: None)
    settings.PROMPTYARD_WORKER_CPUS = "auto"
    call_command("worker", "--max-tasks", "1")
    call_command("demo_echo", "--port", "0")
    assert affinity == [{1}, {1}]
    settings.PROMPTYARD_WORKER_CPUS = ""
    call_command("worker", "--max-tasks", "1")
    assert affinity == [{1}, {1}]  # every CPU: left as it is


def test_it_stops_the_worker_on_a_bad_setting(affinity, monkeypatch, settings):
    monkeypatch.setattr("os.nice", lambda n: n)
    settings.PROMPTYARD_WORKER_CPUS = "0,9"
    with pytest.raises(CommandError, match="PROMPTYARD_WORKER_CPUS='0,9': CPU 9 is not"):
        call_command("worker", "--max-tasks", "1")
    assert affinity == []


@pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs two CPUs to leave one",
)
def test_it_really_binds_the_process():
    """Through the kernel, in a process of its own (binding this one would slow the suite)."""
    code = (
        "import os, django; django.setup()\n"
        "from apps.core.cpus import keep_to_background_cpus\n"
        "keep_to_background_cpus(); print(sorted(os.sched_getaffinity(0)))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    env["PROMPTYARD_WORKER_CPUS"] = "auto"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(sorted(os.sched_getaffinity(0))[1:])
