"""The held-out verdict: the best candidate against the start on the validation split.

The same statistics as experiments (apps.experiments.stats): pass rates with Wilson
intervals, the paired difference per evaluator over examples (Agresti–Min interval, exact
sign test), and non-inferiority within the run's margin, Holm-corrected over the evaluators.
"""

from __future__ import annotations

from typing import Any

from apps.experiments.stats import noninferiority_family, paired_difference, wilson_interval
from apps.optimisation.evaluation import BudgetExhausted, Evaluator, candidate_key
from apps.optimisation.models import Evaluation


def _rate(passed: int, total: int) -> dict[str, Any]:
    interval = wilson_interval(passed, total)
    return {
        "passed": passed,
        "total": total,
        "rate": interval.estimate if interval else None,
        "low": interval.low if interval else None,
        "high": interval.high if interval else None,
    }


def validate(run, evaluator: Evaluator, seed: dict[str, str], best) -> dict[str, Any]:
    """Measure the best on validation (within the held-back budget) and compare."""
    ids = [str(i) for i in run.validation_ids]
    note = ""
    start_rows = evaluator.evaluate(seed, ids, final=True)
    try:
        best_rows = evaluator.evaluate(best.components, ids, final=True)
    except BudgetExhausted as exc:
        note = f"Validation incomplete: stopped at {exc}."
        best_rows = _stored(evaluator, best.components, ids)
    paired = [i for i in ids if i in start_rows and i in best_rows]
    names = [e.name for e in evaluator.evaluators]
    per_evaluator = []
    diffs = []
    for name in names:
        base = [_verdict(start_rows[i], name) for i in paired]
        cand = [_verdict(best_rows[i], name) for i in paired]
        diff = paired_difference(base, cand)
        diffs.append(diff)
        per_evaluator.append(
            {
                "evaluator": name,
                "start": _rate(int(sum(base)), len(base)),
                "best": _rate(int(sum(cand)), len(cand)),
                "difference": diff.difference,
                "low": diff.low,
                "high": diff.high,
                "p_value": diff.p_value,
                "improvements": diff.improvements,
                "regressions": diff.regressions,
            }
        )
    verdicts = noninferiority_family(diffs, run.margin) if diffs else []
    for row, verdict in zip(per_evaluator, verdicts, strict=True):
        row["noninferior"] = verdict.shown
        row["noninferiority_p"] = verdict.p_value
    start_passed = sum(start_rows[i].passed for i in paired)
    best_passed = sum(best_rows[i].passed for i in paired)
    overall = paired_difference(
        [float(start_rows[i].passed) for i in paired], [float(best_rows[i].passed) for i in paired]
    )
    return {
        "examples": len(paired),
        "margin": run.margin,
        "start_version": run.prompt_version.number,
        "best_version": best.version.number if best.version else None,
        "best_index": best.index,
        "start": _rate(start_passed, len(paired)),
        "best": _rate(best_passed, len(paired)),
        "difference": overall.difference,
        "low": overall.low,
        "high": overall.high,
        "p_value": overall.p_value,
        "evaluators": per_evaluator,
        "noninferior": bool(verdicts) and all(v.shown for v in verdicts),
        "note": note,
    }


def _stored(evaluator: Evaluator, components, ids):
    return {
        str(e.example_id): e
        for e in Evaluation.objects.filter(
            run=evaluator.run, candidate_key=candidate_key(components), example_id__in=ids
        )
    }


def _verdict(row, name: str) -> float:
    for verdict in row.verdicts:
        if verdict["name"] == name:
            return 1.0 if verdict["passed"] else 0.0
    return 0.0
