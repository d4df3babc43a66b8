"""`promptyard eval` against the live server and demo-echo: exit 0 on an improvement, 1 on a
regression, 2 when the server is down or the arguments are bad. The experiment runs in the
request (the immediate task backend) instead of on a db_worker."""

from __future__ import annotations

import socket
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from promptyard.cli import main

from tests.experiments.conftest import make_lab
from tests.sdk.world import move, unprotect

ROWS = [{"input": {"q": f"question {i}"}, "expected": f"echo: Q: question {i}"} for i in range(10)]


@pytest.fixture
def gate_world(acme, alice, demo_echo, api_key_for, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    unprotect(acme, alice)
    lab = make_lab(acme, alice, demo_echo, rows=ROWS)  # v1 "Q: {{ q }}" passes every row
    lab.evaluator(name="exact")
    bad = lab.version_with("Wrong: {{ q }}")  # v2 fails every row
    raw = api_key_for(
        acme, alice, scopes=["prompts:read", "prompts:write", "experiments:write"], name="ci"
    )
    return {"lab": lab, "bad": bad, "raw": raw}


def _eval(live_server, raw, *args) -> int:
    return main(
        ["--api-key", raw, "--base-url", live_server.url, "eval", "--poll-interval", "0.05", *args]
    )


def test_an_improvement_from_a_template_file_exits_0(
    live_server, gate_world, tmp_path, capsys, acme, alice
):
    lab = gate_world["lab"]
    move(acme, alice, lab.prompt, gate_world["bad"])  # production is the bad v2
    candidate = tmp_path / "qa.txt"
    candidate.write_text("Q: {{ q }}", encoding="utf-8")
    junit = tmp_path / "out" / "eval.xml"
    code = _eval(
        live_server,
        gate_world["raw"],
        "--prompt", "qa", "--candidate-file", str(candidate), "--dataset", "questions",
        "--junit", str(junit),
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "better" in out.out and "at most 5 points worse" in out.out
    assert "n=10" in out.out  # examples, not cells
    assert "estimate: 20 calls" in out.err
    assert "20/20 cells (completed)" in out.err  # the progress bar
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0")


def test_a_regression_exits_1_and_fails_the_junit_case(
    live_server, gate_world, tmp_path, capsys, acme, alice
):
    lab = gate_world["lab"]
    move(acme, alice, lab.prompt, lab.version)  # production is the good v1
    junit = tmp_path / "eval.xml"
    code = _eval(
        live_server,
        gate_world["raw"],
        "--prompt", "qa", "--candidate-version", "2", "--dataset", "questions",
        "--evaluator", "exact", "--junit", str(junit),
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 1, out.err
    assert "REGRESSION" in out.out and "worse" in out.out
    failure = ET.parse(junit).getroot().find("testcase/failure")
    assert failure is not None and "worse on exact" in failure.get("message")


def test_a_tolerated_drop_within_the_threshold_is_not_a_regression(
    live_server, gate_world, capsys, acme, alice
):
    lab = gate_world["lab"]
    move(acme, alice, lab.prompt, lab.version)
    code = _eval(
        live_server,
        gate_world["raw"],
        "--prompt", "qa", "--candidate-version", "2", "--dataset", "questions",
        "--threshold", "1.0", "--rule", "no-detectable-regression",
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "the weaker rule" in out.out


def test_a_model_swap_is_evaluated_and_the_verdict_names_the_model(
    live_server, gate_world, capsys, acme, alice
):
    lab = gate_world["lab"]
    move(acme, alice, lab.prompt, lab.version)
    code = _eval(
        live_server,
        gate_world["raw"],
        "--prompt", "qa", "--model", "demo-echo-2", "--dataset", "questions",
    )  # fmt: skip
    out = capsys.readouterr()
    # demo-echo answers whatever the model is called: the swap is no worse, but ten
    # unchanged examples cannot prove a five-point margin.
    assert code == 1, out.err
    assert "on demo-echo-2" in out.err and "candidate v1 on demo-echo-2" in out.out
    assert "UNDECIDED" in out.out and "examples would decide" in out.out


def test_max_cost_refuses_a_run_estimated_over_it(live_server, gate_world, capsys, acme, alice):
    lab = gate_world["lab"]
    move(acme, alice, lab.prompt, lab.version)
    code = _eval(
        live_server,
        gate_world["raw"],
        "--prompt", "qa", "--candidate-version", "2", "--dataset", "questions",
        "--max-cost", "0.001",
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 2
    assert "over max_cost" in out.err


def test_a_refused_request_exits_2(live_server, gate_world, capsys):
    code = _eval(
        live_server,
        gate_world["raw"],
        "--prompt", "qa", "--candidate-version", "2", "--dataset", "no-such-dataset",
    )  # fmt: skip
    assert code == 2
    assert "production" in capsys.readouterr().err  # qa has no production tag yet


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_console_script_exits_2_when_the_server_is_down(tmp_path):
    junit = tmp_path / "eval.xml"
    args = [
        sys.executable, "-m", "promptyard.cli", "--api-key", "pyd_x",
        "--base-url", f"http://127.0.0.1:{_closed_port()}", "eval", "--prompt", "qa",
        "--candidate-version", "2", "--dataset", "questions", "--junit", str(junit),
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "cannot reach" in done.stderr
    assert ET.parse(junit).getroot().get("errors") == "1"


def test_bad_arguments_exit_2(capsys):
    # No candidate: neither a version, a file nor a model to swap to.
    assert main(["--api-key", "k", "eval", "--prompt", "qa", "--dataset", "d"]) == 2
    assert "give --candidate-version, --candidate-file or --model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--api-key", "k", "eval", "--prompt", "qa", "--dataset", "d", "--rule", "x"])
    assert exc.value.code == 2
