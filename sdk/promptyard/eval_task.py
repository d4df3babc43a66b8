"""`promptyard eval --task module:function`: gate CI on your application.

    promptyard eval --task app.pipeline:answer --prompt support-reply \\
        --candidate-version 7 --dataset golden --sdk-evaluator app.evals:exact

runs your function locally on every example of the dataset (promptyard.run_experiment),
once per variant: with --prompt, `task(example, variant)` for the version at
--baseline-tag and for --candidate-version (read `variant.prompt`, `variant.version`);
with --baseline-task, the two functions. The experiment is recorded on the server, scored
by the Python evaluators (--sdk-evaluator) and the team's evaluators (--evaluator, run by
the server's worker), and gated exactly like `promptyard eval --prompt`: the same rule,
margin, table, JUnit file and exit codes (0 pass, 1 regression, 2 error).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from promptyard.evaluate import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_REGRESSION,
    FINISHED,
    Api,
    EvalError,
    comparison_of,
    format_table,
    progress_bar,
    write_junit,
)
from promptyard.experiment_run import ExperimentError, Variant, run_experiment


def load_function(ref: str, *, option: str) -> Callable[..., Any]:
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise EvalError(f"{option} expects module:function, got {ref!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # the project being tested, like `python -m`
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise EvalError(f"{option}: cannot import {module_name}: {exc}") from None
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise EvalError(f"{option}: {module_name} has no {attr}")
    if not callable(target):
        raise EvalError(f"{option}: {ref} is not callable")
    return target  # type: ignore[no-any-return]


def _variants(args: argparse.Namespace) -> tuple[Callable[..., Any] | None, list[Variant], str]:
    task = load_function(args.task, option="--task")
    if args.baseline_task:
        baseline = load_function(args.baseline_task, option="--baseline-task")
        return (
            None,
            [
                Variant(label="baseline", task=baseline, is_baseline=True),
                Variant(label="candidate", task=task),
            ],
            f"{args.task} against {args.baseline_task}",
        )
    if args.prompt:
        if not args.candidate_version:
            raise EvalError("with --task and --prompt, give --candidate-version")
        return (
            task,
            [
                Variant(
                    label=f"{args.prompt} at {args.baseline_tag}",
                    prompt=args.prompt,
                    tag=args.baseline_tag,
                    is_baseline=True,
                ),
                Variant(
                    label=f"{args.prompt} v{args.candidate_version}",
                    prompt=args.prompt,
                    version=args.candidate_version,
                ),
            ],
            f"{args.task} with {args.prompt} v{args.candidate_version} against {args.baseline_tag}",
        )
    raise EvalError("with --task, give --baseline-task, or --prompt and --candidate-version")


def run_task(args: argparse.Namespace) -> int:
    label = args.task
    api = None
    try:
        if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
            raise EvalError("--threshold must be between 0 and 1")
        task, variants, label = _variants(args)
        evaluators: list[Any] = list(args.evaluator)
        evaluators += [load_function(ref, option="--sdk-evaluator") for ref in args.sdk_evaluator]
        if not evaluators:
            raise EvalError("name an evaluator: --sdk-evaluator module:function or --evaluator")
        name = args.name or f"ci {args.task} {time.strftime('%Y-%m-%d %H:%M:%S')}"

        def progress(run: Any, done: int) -> None:
            if done % 20 == 0:
                sys.stderr.write("\r" + progress_bar(done, done, "running"))

        try:
            run = run_experiment(
                dataset=args.dataset,
                task=task,
                variants=variants,
                evaluators=evaluators,
                name=name,
                concurrency=args.concurrency,
                repetitions=args.repetitions,
                api_key=args.api_key,
                base_url=args.base_url,
                on_progress=progress,
            )
        except (ExperimentError, ValueError, TypeError) as exc:
            raise EvalError(str(exc)) from None
        sys.stderr.write("\n")
        print(
            f"promptyard: experiment #{run.experiment_id} '{name}': {label}: ran {run.ran}, "
            f"resumed past {run.skipped}, {run.errors} errors",
            file=sys.stderr,
        )
        api = Api(args.api_key, args.base_url, args.timeout)
        experiment = run.experiment
        deadline = time.monotonic() + args.max_wait
        while experiment.get("status") not in FINISHED:  # the server's evaluators
            if time.monotonic() > deadline:
                raise EvalError(
                    f"experiment #{run.experiment_id} still scoring after {args.max_wait:.0f} s"
                )
            time.sleep(args.poll_interval)
            experiment = api.call("GET", f"experiments/{run.experiment_id}/")
        if experiment["status"] != "completed":
            raise EvalError(f"experiment #{run.experiment_id} ended {experiment['status']}")
        summary = comparison_of(api, args, run.experiment_id)
    except EvalError as exc:
        print(f"promptyard: error: {exc}", file=sys.stderr)
        if getattr(args, "junit", None):
            write_junit(args.junit, prompt=label, summary=None, error=str(exc))
        return EXIT_ERROR
    finally:
        if api is not None:
            api.close()
    print(format_table(summary))
    if args.junit:
        write_junit(args.junit, prompt=label, summary=summary)
    gate = summary["gate"]
    margin = gate.get("threshold", args.threshold or 0.0)
    if gate["regression"]:
        for finding in gate["findings"]:
            kind = "UNDECIDED" if finding.get("undecided") else "REGRESSION"
            print(f"{kind}: {finding['message']}")
        return EXIT_REGRESSION
    if gate.get("rule", "noninferiority") == "noninferiority":
        print(
            f"OK: {label}: the candidate is shown to be at most {margin * 100:g} points worse "
            "than the baseline (non-inferiority)."
        )
    else:
        print(
            f"OK: {label}: no detectable regression beyond a threshold of {margin:g} "
            "(the weaker rule)."
        )
    return EXIT_OK
