"""`promptyard eval --task module:function` gates CI on an application like on a prompt:
exit 0 when the candidate is not worse, 1 on a regression, 2 on bad arguments; the server's
evaluators run on the recorded outputs (the immediate task backend here)."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET

import pytest
from promptyard.cli import main

from apps.core.tenancy import team_scope
from apps.experiments.models import Experiment
from tests.experiments.conftest import make_lab

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = [{"input": {"q": f"question {i}"}, "expected": f"echo: Q: question {i}"} for i in range(10)]

APP = textwrap.dedent(
    """
    def good(example):
        return f"echo: Q: {example['q']}"

    def bad(example):
        return "I do not know"

    def with_prompt(example, variant):
        return f"echo: Q: {example['q']}" if variant.version == 1 else "nope"

    def matches(output, expected):
        return output == expected
    """
)


@pytest.fixture
def world(acme, alice, demo_echo, api_key_for, settings, tmp_path, monkeypatch):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    lab = make_lab(acme, alice, demo_echo, rows=ROWS)
    lab.evaluator(name="exact")
    lab.version_with("Other: {{ q }}")  # v2
    (tmp_path / "ci_app.py").write_text(APP, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    raw = api_key_for(acme, alice, scopes=["prompts:read", "experiments:write"], name="ci")
    return {"lab": lab, "raw": raw}


def _eval(live_server, raw, *args) -> int:
    return main(
        ["--api-key", raw, "--base-url", live_server.url, "eval", "--poll-interval", "0.05", *args]
    )


def test_a_candidate_as_good_as_the_baseline_passes(live_server, world, capsys, tmp_path, acme):
    junit = tmp_path / "eval.xml"
    code = _eval(
        live_server, world["raw"],
        "--task", "ci_app:good", "--baseline-task", "ci_app:good", "--dataset", "questions",
        "--sdk-evaluator", "ci_app:matches", "--evaluator", "exact", "--name", "ci good",
        "--rule", "no-detectable-regression", "--junit", str(junit),
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "OK:" in out.out and "no detectable regression" in out.out
    assert ET.parse(junit).getroot().get("failures") == "0"
    with team_scope(acme):
        experiment = Experiment.objects.get(name="ci good")
        assert (experiment.kind, experiment.status, experiment.done_count) == (
            "code",
            "completed",
            20,
        )
        # Both evaluators scored every cell: the SDK's and the server's (by the worker).
        assert experiment.scores.filter(evaluator_name="matches", source="sdk").count() == 20
        assert experiment.scores.filter(evaluator_name="exact", source="code").count() == 20


def test_a_regressing_candidate_exits_1(live_server, world, capsys):
    code = _eval(
        live_server, world["raw"],
        "--task", "ci_app:bad", "--baseline-task", "ci_app:good", "--dataset", "questions",
        "--sdk-evaluator", "ci_app:matches",
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 1, out.err
    assert "REGRESSION" in out.out and "matches" in out.out


def test_variants_of_a_prompt_call_the_task_with_the_version(live_server, world, capsys):
    code = _eval(
        live_server, world["raw"],
        "--task", "ci_app:with_prompt", "--prompt", "qa", "--baseline-tag", "latest",
        "--candidate-version", "1", "--dataset", "questions", "--evaluator", "exact",
    )  # fmt: skip
    out = capsys.readouterr()
    # latest is v2 (the task answers wrongly with it); the candidate v1 is better.
    assert code == 0, out.err
    assert "better" in out.out


def test_bad_arguments_exit_2(live_server, world, capsys):
    assert _eval(live_server, world["raw"], "--task", "nowhere", "--dataset", "questions") == 2
    assert "module:function" in capsys.readouterr().err
    code = _eval(
        live_server, world["raw"], "--task", "ci_app:good", "--dataset", "questions",
        "--sdk-evaluator", "ci_app:matches",
    )  # fmt: skip
    assert code == 2
    assert "--baseline-task" in capsys.readouterr().err
