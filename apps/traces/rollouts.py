"""How a rollout's two arms compare in production, from the traces that carry them.

A trace belongs to an arm when it names the rollout's prompt and the arm's version (the
SDK records the version it served, promptyard.tracing) and started while the rollout ran.
One trace is one observation: the arms are independent samples, compared with the
experiments' statistics (apps.experiments.stats: Wilson intervals per arm, the
Agresti-Caffo interval and a two-proportion test for the error rates, Welch for latency
and cost per call). Reads only, inside the team scope. Scores of traces are not compared:
this base has no trace scores yet (experiment scores judge experiment results).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet, Sum

from apps.experiments import stats
from apps.prompts.models import Rollout
from apps.traces.models import Status, Trace

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
class Comparison:
    current: ArmFigures
    candidate: ArmFigures
    error_rate: stats.TwoSampleDifference
    latency: stats.TwoSampleDifference | None
    cost: stats.TwoSampleDifference | None
    error_verdict: str  # for error rates "better" means fewer
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


def _points(x: float) -> str:
    return f"{x * 100:.1f}"


def guardrail_verdict(
    rollout: Rollout, current: ArmFigures, candidate: ArmFigures, diff
) -> Guardrail:
    margin = rollout.guardrail_margin
    if margin is None:
        return Guardrail(None, False, "No guardrail on this rollout.")
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
    """The two arms of the rollout compared (6 queries)."""
    current, current_ms, current_cost = _arm(rollout, "current")
    candidate, candidate_ms, candidate_cost = _arm(rollout, "candidate")
    errors = stats.two_proportion_difference(
        current.errors, current.traces, candidate.errors, candidate.traces
    )
    # Fewer errors is better: flip the sign for the verdict.
    error_verdict = stats.verdict(-errors.difference, errors.p_value)
    return Comparison(
        current=current,
        candidate=candidate,
        error_rate=errors,
        latency=stats.welch_difference(current_ms, candidate_ms),
        cost=stats.welch_difference(current_cost, candidate_cost),
        error_verdict=error_verdict,
        guardrail=guardrail_verdict(rollout, current, candidate, errors),
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
        # In points, as the page speaks of error rates.
        "error_points": {
            "difference": diff.difference * 100,
            "low": diff.low * 100,
            "high": diff.high * 100,
        },
    }
