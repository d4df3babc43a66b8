"""How a rollout's two arms compare in production, from the traces that carry them.

A trace belongs to an arm when it names the rollout's prompt and the arm's version (the
SDK records the version it served, promptyard.tracing) and started while the rollout ran.
One trace is one observation: the arms are independent samples, compared with the
experiments' statistics (apps.experiments.stats: Wilson intervals per arm, the
Agresti-Caffo interval and a two-proportion test for the error rates, Welch for latency
and cost per call). Scores on the arms' traces (user feedback, online evaluators,
annotations: TraceScore) are compared per name the same way, one value per trace (the
mean of its scores of that name): boolean scores as pass rates, numbers as means.
Reads only, inside the team scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet, Sum

from apps.experiments import stats
from apps.prompts.models import Rollout
from apps.traces.models import ScoreKind, Status, Trace, TraceScore

# Latency and cost figures read the newest traces of each arm, at most this many.
SAMPLE_LIMIT = 10_000
# The guardrail needs this many traces on each arm before it may judge, and a one-sided
# p-value below GUARDRAIL_ALPHA (strict: it looks again every minute).
GUARDRAIL_MIN_TRACES = 30
GUARDRAIL_ALPHA = 0.01


@dataclass
class ArmFigures:
    arm: str  # "current" or "candidate"
    version: int
    share: int  # percent of traffic now
    traces: int
    errors: int
    error_rate: stats.Interval | None
    p50_ms: float | None
    p95_ms: float | None
    cost_per_call: float | None
    costed: int  # traces with a known cost

    @property
    def error_percent(self) -> float | None:
        return 100 * self.errors / self.traces if self.traces else None

    def as_dict(self) -> dict:
        rate = self.error_rate
        return {
            "arm": self.arm,
            "version": self.version,
            "share": self.share,
            "traces": self.traces,
            "errors": self.errors,
            "error_rate": None if rate is None else [rate.estimate, rate.low, rate.high],
            "latency_p50_ms": self.p50_ms,
            "latency_p95_ms": self.p95_ms,
            "cost_per_call": self.cost_per_call,
            "costed_traces": self.costed,
        }


@dataclass
class ScoreFigures:
    """One score name on both arms: higher is better (a pass rate or a mean)."""

    name: str
    boolean: bool
    current_n: int
    candidate_n: int
    current_mean: float | None
    candidate_mean: float | None
    difference: stats.TwoSampleDifference | None  # candidate − current
    verdict: str

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": "boolean" if self.boolean else "number",
            "current": {"traces": self.current_n, "mean": self.current_mean},
            "candidate": {"traces": self.candidate_n, "mean": self.candidate_mean},
            "difference": _diff_dict(self.difference),
            "verdict": self.verdict,
        }


@dataclass
class Comparison:
    current: ArmFigures
    candidate: ArmFigures
    error_rate: stats.TwoSampleDifference
    latency: stats.TwoSampleDifference | None
    cost: stats.TwoSampleDifference | None
    error_verdict: str  # for error rates "better" means fewer
    scores: list[ScoreFigures]
    guardrail: Guardrail


@dataclass
class Guardrail:
    margin: float | None
    abort: bool
    reason: str  # why it aborts, or why it does not (yet)


def _arm_traces(rollout: Rollout, version: int) -> QuerySet[Trace]:
    qs = Trace.objects.filter(
        prompt_name=rollout.prompt.name,
        prompt_version_number=version,
        start_time__gte=rollout.created_at,
    )
    if rollout.ended_at is not None:
        qs = qs.filter(start_time__lte=rollout.ended_at)
    return qs


def _arm(rollout: Rollout, arm: str) -> tuple[ArmFigures, list[float], list[float]]:
    version = rollout.candidate if arm == "candidate" else rollout.base
    share = rollout.percent if arm == "candidate" else rollout.base_percent
    qs = _arm_traces(rollout, version.number)
    totals = qs.aggregate(
        n=Count("id"),
        errors=Count("id", filter=Q(status=Status.ERROR)),
        cost_sum=Sum("cost"),
        costed=Count("cost"),
    )
    newest = qs.order_by("-start_time", "-id")[:SAMPLE_LIMIT]
    rows = list(newest.values_list("duration_ms", "cost"))
    durations = [float(d) for d, _ in rows]
    costs = [float(c) for _, c in rows if c is not None]
    n, errors, costed = totals["n"], totals["errors"], totals["costed"]
    figures = ArmFigures(
        arm=arm,
        version=version.number,
        share=share,
        traces=n,
        errors=errors,
        error_rate=stats.wilson_interval(errors, n),
        p50_ms=stats.percentile(durations, 50),
        p95_ms=stats.percentile(durations, 95),
        cost_per_call=float(totals["cost_sum"]) / costed if costed else None,
        costed=costed,
    )
    return figures, durations, costs


def _score_values(rollout: Rollout, version: int) -> dict[str, tuple[bool, dict[int, float]]]:
    """Per score name: (all boolean?, {trace id: mean of its values}) over the arm's newest
    SAMPLE_LIMIT scored values (one query)."""
    rows = (
        TraceScore.objects.filter(trace__in=_arm_traces(rollout, version), value__isnull=False)
        .exclude(kind=ScoreKind.CATEGORY)
        .order_by("-created_at", "-id")
        .values_list("name", "kind", "trace_id", "value")[:SAMPLE_LIMIT]
    )
    sums: dict[str, dict[int, list[float]]] = {}
    boolean: dict[str, bool] = {}
    for name, kind, trace_id, value in rows:
        if value is None:  # filtered out above; the type checker cannot know
            continue
        sums.setdefault(name, {}).setdefault(trace_id, []).append(float(value))
        boolean[name] = boolean.get(name, True) and kind == ScoreKind.BOOLEAN
    return {
        name: (boolean[name], {t: sum(v) / len(v) for t, v in per_trace.items()})
        for name, per_trace in sums.items()
    }


def _score_figures(name: str, boolean: bool, current: list[float], candidate: list[float]):
    whole = boolean and all(v in (0.0, 1.0) for v in (*current, *candidate))
    diff: stats.TwoSampleDifference | None
    if whole and current and candidate:
        diff = stats.two_proportion_difference(
            int(sum(current)), len(current), int(sum(candidate)), len(candidate)
        )
    else:
        diff = stats.welch_difference(current, candidate)
    return ScoreFigures(
        name=name,
        boolean=boolean,
        current_n=len(current),
        candidate_n=len(candidate),
        current_mean=sum(current) / len(current) if current else None,
        candidate_mean=sum(candidate) / len(candidate) if candidate else None,
        difference=diff,
        verdict=stats.verdict(diff.difference, diff.p_value) if diff else "too few scores",
    )


def _scores(rollout: Rollout) -> list[ScoreFigures]:
    current = _score_values(rollout, rollout.base.number)
    candidate = _score_values(rollout, rollout.candidate.number)
    figures = []
    for name in sorted(set(current) | set(candidate)):
        cur_bool, cur = current.get(name, (True, {}))
        cand_bool, cand = candidate.get(name, (True, {}))
        figures.append(
            _score_figures(name, cur_bool and cand_bool, list(cur.values()), list(cand.values()))
        )
    return figures


def _points(x: float) -> str:
    return f"{x * 100:.1f}"


def _score_guardrail(rollout: Rollout, scores: list[ScoreFigures]) -> Guardrail | None:
    """The chosen score's verdict: abort when the candidate's pass rate (or mean) is lower
    than the current arm's beyond the margin, with significance. None: not (yet) judged."""
    margin = rollout.guardrail_margin
    name = rollout.guardrail_score
    if not name or margin is None:
        return None
    figures = next((f for f in scores if f.name == name), None)
    if figures is None or min(figures.current_n, figures.candidate_n) < GUARDRAIL_MIN_TRACES:
        return Guardrail(
            margin,
            False,
            f"Waiting for {GUARDRAIL_MIN_TRACES} traces scored '{name}' on each arm.",
        )
    diff = figures.difference
    assert diff is not None and figures.current_mean is not None
    assert figures.candidate_mean is not None
    # "Worse" for a score is lower: test the current arm's lead over the candidate.
    lead = stats.TwoSampleDifference(
        diff.candidate_n,
        diff.baseline_n,
        -diff.difference,
        -diff.high,
        -diff.low,
        diff.p_value,
        diff.std_error,
    )
    p = stats.worse_beyond_margin_p(lead, margin)
    unit = " points" if figures.boolean else ""
    scale = 100 if figures.boolean else 1
    said = (
        f"'{name}' averages {figures.candidate_mean * scale:.3g} on v{rollout.candidate.number} "
        f"({figures.candidate_n} traces) against {figures.current_mean * scale:.3g} on "
        f"v{rollout.base.number} ({figures.current_n})"
    )
    if p < GUARDRAIL_ALPHA:
        return Guardrail(
            margin,
            True,
            f"{said}: lower beyond the {margin * scale:g}{unit} margin (one-sided p = {p:.2g}).",
        )
    return Guardrail(margin, False, f"{said}; not shown lower beyond the margin (p = {p:.2g}).")


def guardrail_verdict(
    rollout: Rollout,
    current: ArmFigures,
    candidate: ArmFigures,
    diff,
    scores: list[ScoreFigures] | None = None,
) -> Guardrail:
    margin = rollout.guardrail_margin
    if margin is None:
        return Guardrail(None, False, "No guardrail on this rollout.")
    errors = _error_guardrail(rollout, current, candidate, diff)
    by_score = _score_guardrail(rollout, scores or [])
    if by_score is None or errors.abort:
        return errors
    if by_score.abort:
        return by_score
    return Guardrail(margin, False, f"{errors.reason} {by_score.reason}")


def _error_guardrail(
    rollout: Rollout, current: ArmFigures, candidate: ArmFigures, diff
) -> Guardrail:
    margin = rollout.guardrail_margin
    assert margin is not None
    if min(current.traces, candidate.traces) < GUARDRAIL_MIN_TRACES:
        return Guardrail(
            margin,
            False,
            f"Waiting for {GUARDRAIL_MIN_TRACES} traces on each arm before judging.",
        )
    p = stats.worse_beyond_margin_p(diff, margin)
    said = (
        f"v{candidate.version} errs in {_points(candidate.errors / candidate.traces)} % of "
        f"{candidate.traces} calls against {_points(current.errors / current.traces)} % of "
        f"{current.traces} on v{current.version}: a difference of {_points(diff.difference)} "
        f"points (95 % interval {_points(diff.low)} to {_points(diff.high)})"
    )
    if p < GUARDRAIL_ALPHA:
        return Guardrail(
            margin,
            True,
            f"{said}, worse beyond the {_points(margin)}-point margin (one-sided p = {p:.2g}).",
        )
    return Guardrail(margin, False, f"{said}; not shown worse beyond the margin (p = {p:.2g}).")


def rollout_comparison(rollout: Rollout) -> Comparison:
    """The two arms of the rollout compared (8 queries)."""
    current, current_ms, current_cost = _arm(rollout, "current")
    candidate, candidate_ms, candidate_cost = _arm(rollout, "candidate")
    errors = stats.two_proportion_difference(
        current.errors, current.traces, candidate.errors, candidate.traces
    )
    # Fewer errors is better: flip the sign for the verdict.
    error_verdict = stats.verdict(-errors.difference, errors.p_value)
    scores = _scores(rollout)
    return Comparison(
        current=current,
        candidate=candidate,
        error_rate=errors,
        latency=stats.welch_difference(current_ms, candidate_ms),
        cost=stats.welch_difference(current_cost, candidate_cost),
        error_verdict=error_verdict,
        scores=scores,
        guardrail=guardrail_verdict(rollout, current, candidate, errors, scores),
    )


def _diff_dict(diff) -> dict | None:
    if diff is None:
        return None
    return {
        "difference": diff.difference,
        "low": diff.low,
        "high": diff.high,
        "p_value": diff.p_value,
    }


def comparison_as_dict(rollout: Rollout) -> dict:
    c = rollout_comparison(rollout)
    return {
        "arms": [c.current.as_dict(), c.candidate.as_dict()],
        "error_rate_difference": _diff_dict(c.error_rate),
        "latency_difference_ms": _diff_dict(c.latency),
        "cost_difference": _diff_dict(c.cost),
        "error_verdict": c.error_verdict,
        "scores": [f.as_dict() for f in c.scores],
        "guardrail": {
            "margin": c.guardrail.margin,
            "abort": c.guardrail.abort,
            "reason": c.guardrail.reason,
        },
    }


def page_context(request, rollout: Rollout) -> dict:
    comparison = rollout_comparison(rollout)
    diff = comparison.error_rate
    return {
        "measure_template": "traces/_rollout_measure.html",
        "comparison": comparison,
        "score_names": [f.name for f in comparison.scores],
        # In points, as the page speaks of error rates.
        "error_points": {
            "difference": diff.difference * 100,
            "low": diff.low * 100,
            "high": diff.high * 100,
        },
    }
