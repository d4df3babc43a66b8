"""`promptyard eval`: gate CI on regressions.

    promptyard eval --prompt support-reply --candidate-file prompts/support.txt \\
        --dataset support-golden --junit eval.xml

Creates an experiment on the server (candidate against the version at --baseline-tag, on
the dataset, with the team's evaluators), waits for it with a progress bar on stderr,
prints the summary table and exits:

    0  the gate passes
    1  it does not: under --rule noninferiority (the default) the candidate is not shown,
       with 95 % confidence over the dataset's examples, to be at most --threshold worse
       (the margin, default 0.05 = five points) on every evaluator (Holm-corrected);
       under --rule no-detectable-regression (weaker) it is detectably worse (p < 0.05)
       by more than --threshold (default 0); or it has no paired results for one
    2  an error: bad arguments, server unreachable, refused request, failed or capped run

--model runs the candidate on another model (alone, it tests a model swap: the version at
--baseline-tag on that model). The estimate is printed before the run; --max-cost caps it
and refuses a run whose estimate is over. The key needs the experiments:write scope (and
prompts:write for --candidate-file).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx

from promptyard._core import DEFAULT_BASE_URL, __version__, retry_after_seconds

EXIT_OK, EXIT_REGRESSION, EXIT_ERROR = 0, 1, 2
# Retries of one API call: attempts in all, and the longest Retry-After waited out.
CALL_ATTEMPTS = 5
MAX_RETRY_WAIT = 300.0
FINISHED = {"completed", "failed", "cancelled", "capped"}


class EvalError(Exception):
    """Anything that makes the gate unable to give an answer (exit 2)."""


def backoff_delay(attempt: int) -> float:
    """0.5 s, 1 s, 2 s … (± half), when the server names no Retry-After."""
    return 0.5 * float(2**attempt) * (0.5 + random.random())


def wait_before_retry(seconds: float) -> None:
    time.sleep(seconds)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", help="prompt name (required without --task)")
    parser.add_argument(
        "--task",
        help="module:function of your application, run locally on every example "
        "(promptyard.run_experiment); with --prompt it is called as task(example, variant) "
        "for the version at --baseline-tag and the --candidate-version",
    )
    parser.add_argument(
        "--baseline-task", help="module:function to compare --task with (instead of --prompt)"
    )
    parser.add_argument(
        "--sdk-evaluator",
        action="append",
        default=[],
        help="module:function of a Python evaluator for --task (repeatable)",
    )
    parser.add_argument("--name", help="experiment name for --task (the same name resumes)")
    parser.add_argument("--concurrency", type=int, default=8, help="tasks at once (--task)")
    parser.add_argument("--repetitions", type=int, default=1, help="runs per example (--task)")
    candidate = parser.add_mutually_exclusive_group()
    candidate.add_argument("--candidate-version", type=int, help="version number to evaluate")
    candidate.add_argument(
        "--candidate-file", help="text template file (saved as a version 'CI candidate')"
    )
    parser.add_argument(
        "--baseline-tag", default="production", help="compare against this tag (production)"
    )
    parser.add_argument("--dataset", required=True, help="dataset name")
    parser.add_argument(
        "--evaluator",
        action="append",
        default=[],
        help="evaluator name (repeatable; default: every evaluator of the team)",
    )
    parser.add_argument(
        "--threshold",
        "--margin",
        dest="threshold",
        type=float,
        default=None,
        help="the margin: tolerated drop (pass-rate points as a fraction, e.g. 0.02); "
        "default 0.05 under noninferiority, 0 under no-detectable-regression",
    )
    parser.add_argument(
        "--rule",
        choices=["noninferiority", "no-detectable-regression"],
        default="noninferiority",
        help="the gate's rule (default noninferiority; the other is weaker)",
    )
    parser.add_argument("--model", help="run the candidate on this model (a model swap)")
    parser.add_argument(
        "--max-cost", type=float, help="US dollars: cap the run, refuse it if estimated over"
    )
    parser.add_argument("--junit", help="write JUnit XML here")
    parser.add_argument(
        "--poll-interval", type=float, default=1.0, help="seconds between progress checks"
    )
    parser.add_argument(
        "--max-wait", type=float, default=3600.0, help="give up after this many seconds"
    )


class Api:
    def __init__(self, api_key: str | None, base_url: str | None, timeout: float):
        self.api_key = api_key or os.environ.get("PROMPTYARD_API_KEY") or ""
        if not self.api_key:
            raise EvalError("no API key: pass --api-key or set PROMPTYARD_API_KEY")
        base = (base_url or os.environ.get("PROMPTYARD_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        if base.endswith("/api/v1"):
            base = base[: -len("/api/v1")]
        self.base = base + "/api/v1"
        self.http = httpx.Client(
            timeout=max(timeout, 10.0),
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Accept": "application/json",
                "User-Agent": f"promptyard-eval/{__version__}",
            },
        )

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One request. A 429 (the server did nothing: any method) and, for GETs, a 5xx or
        an unreachable server are retried, after Retry-After when the server sends one,
        else after exponential backoff with jitter; at most CALL_ATTEMPTS attempts."""
        url = f"{self.base}/{path.lstrip('/')}"
        last: EvalError | None = None
        for attempt in range(CALL_ATTEMPTS):
            delay = backoff_delay(attempt)
            try:
                response = self.http.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                last = EvalError(f"cannot reach {self.base}: {exc.__class__.__name__}: {exc}")
                if method != "GET":
                    raise last from exc
            else:
                status = response.status_code
                if status == 429 or (status >= 500 and method == "GET"):
                    last = EvalError(_problem(response))
                    after = retry_after_seconds(response)
                    delay = delay if after is None else after
                    if delay > MAX_RETRY_WAIT:
                        raise EvalError(f"{_problem(response)} (retry after {delay:.0f} s)")
                elif status >= 400:
                    raise EvalError(_problem(response))
                else:
                    try:
                        answer: dict[str, Any] = response.json()
                    except ValueError:
                        raise EvalError(f"{url} did not answer JSON") from None
                    return answer
            if attempt + 1 < CALL_ATTEMPTS:
                wait_before_retry(delay)
        assert last is not None
        raise last

    def close(self) -> None:
        self.http.close()


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"server answered {response.status_code}"
    detail = body.get("detail") if isinstance(body, dict) else None
    errors = body.get("errors") if isinstance(body, dict) else None
    if not detail and isinstance(body, dict):
        detail = "; ".join(f"{k}: {v}" for k, v in body.items())
    if errors and isinstance(errors, dict):
        detail = f"{detail} ({'; '.join(f'{k}: {v}' for k, v in errors.items())})"
    return f"{response.status_code}: {detail}"


def progress_bar(done: int, total: int, status: str, width: int = 30) -> str:
    total = max(total, 1)
    filled = int(width * min(done, total) / total)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} cells ({status})"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def format_table(summary: dict[str, Any]) -> str:
    lines: list[str] = []
    head = ("evaluator", "variant", "pass rate (95% CI)", "vs baseline", "verdict")
    body: list[tuple[str, str, str, str, str]] = []
    for evaluator in summary["evaluators"]:
        for row in evaluator["variants"]:
            if row["judged"]:
                rate = f"{_pct(row['rate'])} ({_pct(row['ci_low'])}-{_pct(row['ci_high'])})"
            elif row["mean"] is not None:
                rate = f"mean {row['mean']:.3f}"
            else:
                rate = "—"
            versus = row.get("versus_baseline")
            examples = versus.get("examples", versus.get("pairs")) if versus else 0
            if versus and examples:
                if versus["test"] in ("paired", "mcnemar"):
                    diff = f"{versus['difference'] * 100:+.1f} pts"
                else:
                    diff = f"{versus['difference']:+.3f}"
                against = (
                    f"{diff} n={examples} p={versus['p_value']:.4f} "
                    f"-{versus['regressions']}/+{versus['improvements']}"
                )
                verdict = versus["verdict"]
            elif row["is_baseline"]:
                against, verdict = "", "baseline"
            else:
                against, verdict = "no pairs", "—"
            body.append((evaluator["name"], row["label"], rate, against, verdict))
    widths = [max(len(str(r[i])) for r in [head, *body]) for i in range(len(head))]
    for r in [head, *body]:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    lines.append("")
    for v in summary["variants"]:
        p50 = "—" if v["latency_p50"] is None else f"{v['latency_p50']:.0f} ms"
        p95 = "—" if v["latency_p95"] is None else f"{v['latency_p95']:.0f} ms"
        cost = "unknown" if v["cost"] is None else f"${v['cost']:.4f}"
        lines.append(
            f"{v['label']}: {v['results']} results, {v['errors']} errors, latency p50 {p50} "
            f"p95 {p95}, tokens {v['input_tokens']}/{v['output_tokens']}, cost {cost}"
        )
    return "\n".join(lines)


def write_junit(
    path: str, *, prompt: str, summary: dict[str, Any] | None, error: str | None = None
) -> None:
    suite = ET.Element("testsuite", name=f"promptyard eval {prompt}")
    cases = failures = errors = 0
    if error is not None:
        case = ET.SubElement(suite, "testcase", classname=f"promptyard.{prompt}", name="eval")
        ET.SubElement(case, "error", message=error).text = error
        cases, errors = 1, 1
    else:
        assert summary is not None  # no error: the caller has a summary
        gate = summary["gate"]
        by_evaluator: dict[str, list[dict[str, Any]]] = {}
        for finding in gate["findings"]:
            by_evaluator.setdefault(finding["evaluator"], []).append(finding)
        names = [e["name"] for e in summary["evaluators"]]
        names += [n for n in by_evaluator if n not in names]
        for name in names:
            cases += 1
            case = ET.SubElement(suite, "testcase", classname=f"promptyard.{prompt}", name=name)
            found = by_evaluator.get(name)
            if found:
                failures += 1
                message = " ".join(f["message"] for f in found)
                ET.SubElement(case, "failure", message=message).text = message
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "task", None):
        from promptyard.eval_task import run_task

        return run_task(args)
    api = None
    try:
        if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
            raise EvalError("--threshold must be between 0 and 1")
        if not args.prompt:
            raise EvalError("give --prompt (or --task for your application)")
        if not (args.candidate_file or args.candidate_version or args.model):
            raise EvalError("give --candidate-version, --candidate-file or --model")
        body: dict[str, Any] = {
            "prompt": args.prompt,
            "baseline_tag": args.baseline_tag,
            "dataset": args.dataset,
            "evaluators": args.evaluator,
        }
        if args.model:
            body["model"] = args.model
        if args.max_cost is not None:
            body["max_cost"] = args.max_cost
        if args.candidate_file:
            try:
                body["candidate_template"] = Path(args.candidate_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise EvalError(f"cannot read {args.candidate_file}: {exc.strerror}") from None
        elif args.candidate_version:
            body["candidate_version"] = args.candidate_version
        api = Api(args.api_key, args.base_url, args.timeout)
        created = api.call("POST", "ci/evaluations/", json=body)
        experiment_id = created["experiment_id"]
        model = created.get("model") or "its own model"
        print(
            f"promptyard: experiment #{experiment_id}: {args.prompt} v{created['candidate_version']}"
            f" on {model} against {args.baseline_tag} (v{created['baseline_version']}) on "
            f"{created['dataset']} r{created['dataset_revision']}",
            file=sys.stderr,
        )
        print(f"promptyard: {format_estimate(created.get('estimate'))}", file=sys.stderr)
        deadline = time.monotonic() + args.max_wait
        while True:
            experiment = api.call("GET", f"experiments/{experiment_id}/")
            sys.stderr.write(
                "\r"
                + progress_bar(
                    experiment["done_count"], experiment["total_cells"], experiment["status"]
                )
            )
            sys.stderr.flush()
            if experiment["status"] in FINISHED:
                sys.stderr.write("\n")
                break
            if time.monotonic() > deadline:
                sys.stderr.write("\n")
                raise EvalError(
                    f"experiment #{experiment_id} still running after {args.max_wait:.0f} s"
                )
            time.sleep(args.poll_interval)
        if experiment["status"] != "completed":
            why = experiment.get("status_detail") or experiment.get("error") or ""
            raise EvalError(
                f"experiment #{experiment_id} ended {experiment['status']}. {why}".strip()
            )
        summary = comparison_of(api, args, experiment_id)
    except EvalError as exc:
        print(f"promptyard: error: {exc}", file=sys.stderr)
        if getattr(args, "junit", None):
            write_junit(args.junit, prompt=args.prompt, summary=None, error=str(exc))
        return EXIT_ERROR
    finally:
        if api is not None:
            api.close()
    print(format_table(summary))
    if args.junit:
        write_junit(args.junit, prompt=args.prompt, summary=summary)
    gate = summary["gate"]
    margin = gate.get("threshold", args.threshold or 0.0)
    on_model = f" on {created.get('model')}" if created.get("model") else ""
    if gate["regression"]:
        for finding in gate["findings"]:
            label = "UNDECIDED" if finding.get("undecided") else "REGRESSION"
            print(f"{label}: {finding['message']}")
        return EXIT_REGRESSION
    if gate.get("rule", "noninferiority") == "noninferiority":
        print(
            f"OK: v{created['candidate_version']}{on_model} is shown to be at most "
            f"{margin * 100:g} points worse than {args.baseline_tag} (non-inferiority)."
        )
    else:
        print(
            f"OK: v{created['candidate_version']}{on_model} shows no detectable regression "
            f"beyond a threshold of {margin:g} (the weaker rule)."
        )
    return EXIT_OK


def comparison_of(api: Api, args: argparse.Namespace, experiment_id: int) -> dict[str, Any]:
    """The comparison summary with the gate under the command's rule and margin."""
    rule = args.rule.replace("-", "_")
    params: list[tuple[str, Any]] = [("rule", rule)]
    if args.threshold is not None:
        params.append(("threshold", args.threshold))
    params += [("evaluator", e) for e in args.evaluator]
    return api.call("GET", f"experiments/{experiment_id}/comparison/", params=params)


def format_estimate(estimate: dict[str, Any] | None) -> str:
    if not estimate:
        return "no estimate"
    cost = (
        "unknown cost" if estimate.get("cost") is None else f"about ${float(estimate['cost']):.4f}"
    )
    unpriced = estimate.get("unpriced") or []
    note = f" ({', '.join(unpriced)} unpriced)" if unpriced else ""
    return (
        f"estimate: {estimate['calls']} calls, ~{estimate['input_tokens']} input / "
        f"~{estimate['output_tokens']} output tokens, {cost}{note}"
    )
