"""The evidence an optimisation run hands a promotion request: its comparison in words."""

from __future__ import annotations

from apps.optimisation.models import OptimisationRun


def evidence_text(run: OptimisationRun) -> str:
    """The promotion request's description: the validation comparison in words."""
    c = run.comparison or {}
    if not c:
        return ""
    lines = [
        f"Optimisation run #{run.pk} ({run.rounds_done} rounds, {run.calls_used} model calls) "
        f"proposed v{c.get('best_version')} from v{c.get('start_version')}.",
        f"Validation ({c.get('examples')} held-out examples of {run.dataset.name}, revision "
        f"{run.dataset_revision}): pass rate {_pct(c['start']['rate'])} → "
        f"{_pct(c['best']['rate'])}, difference {_pct(c['difference'], sign=True)} "
        f"(95 % interval {_pct(c['low'], sign=True)} to {_pct(c['high'], sign=True)}, "
        f"sign test p = {c['p_value']:.3g}).",
    ]
    for row in c.get("evaluators", []):
        verdict = "not worse (shown)" if row.get("noninferior") else "not shown to be not worse"
        lines.append(
            f"- {row['evaluator']}: {_pct(row['start']['rate'])} → {_pct(row['best']['rate'])}, "
            f"{verdict} within {round(c['margin'] * 100)} points."
        )
    return "\n".join(lines)


def _pct(value: float | None, *, sign: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value * 100:+.0f} %" if sign else f"{value * 100:.0f} %"
