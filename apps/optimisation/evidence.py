"""The evidence an optimisation run hands a promotion request.

A finished run compares its best candidate with the version it started from on the held-out
validation split (apps.optimisation.comparing). Attached to a request as "optimisation:<id>",
it is evidence of the gate's kind (registered with apps.experiments.evidence_kinds in
OptimisationConfig.ready): when it started from the version at the tag and its best is the
requested candidate, the gate judges its stored validation evaluations under the tag's
policy (its dataset and current revision, its evaluators, its margin and rule) with the
experiments' statistics, exactly as it judges an experiment's comparison. The request's
description also carries the comparison in words (`evidence_text`).
"""

from __future__ import annotations

from collections import defaultdict

from apps.experiments import comparison, stats
from apps.experiments.gate import Evidence, dataset_problems
from apps.optimisation.models import Candidate, Evaluation, OptimisationRun, RunEvaluator, RunStatus
from apps.prompts.models import PromotionRequest, TagPolicy
from apps.teams.models import Team

KIND = "optimisation"
LABEL = "optimisation run"
TEMPLATE = "optimisation/_promotion_evidence.html"


def evidence_ref(run: OptimisationRun) -> str:
    """How a promotion request's evidence names the run."""
    return f"{KIND}:{run.pk}"


def runs_of_team(team: Team, ids: list[int]) -> set[int]:
    """Which of `ids` are optimisation runs of `team` (a request's evidence, checked by
    prompts through the gate)."""
    ids = [i for i in ids if isinstance(i, int) and 0 < i < 2**63]
    return set(OptimisationRun.objects.filter(team=team, pk__in=ids).values_list("pk", flat=True))


def judge(promotion: PromotionRequest, policy: TagPolicy | None, ids: list[int]) -> list[Evidence]:
    """Each attached run: its held-out comparison of the candidate with the version at the
    tag and, under a policy, why it does (not) satisfy it."""
    runs = {
        run.pk: run
        for run in OptimisationRun.objects.select_related(
            "prompt_version", "dataset", "best_candidate__version"
        ).filter(pk__in=ids)
    }
    out = []
    for pk in ids:
        run = runs.get(pk)
        item = Evidence(pk, None, kind=KIND, subject=run, template=TEMPLATE)
        out.append(item)
        if run is None:
            item.problems.append(f"Optimisation run #{pk} no longer exists.")
            continue
        _judge_run(item, run, promotion, policy)
    return out


def _judge_run(
    item: Evidence, run: OptimisationRun, promotion: PromotionRequest, policy: TagPolicy | None
) -> None:
    best = run.best_candidate
    if run.status != RunStatus.SUCCEEDED or best is None or not run.comparison:
        item.problems.append(
            f"Optimisation run #{run.pk} is {run.get_status_display().lower()}: it has no "
            "validation comparison yet."
        )
        return
    start_version, best_version = run.prompt_version, best.version
    if best_version is None or best_version.pk != promotion.candidate_id:
        item.problems.append(
            f"Optimisation run #{run.pk} compared "
            f"v{best_version.number if best_version else '?'} with its start, not the "
            f"candidate v{promotion.candidate.number}."
        )
    at_tag = promotion.current_version
    if at_tag is not None and start_version.pk != at_tag.pk:
        item.problems.append(
            f"Optimisation run #{run.pk} started from v{start_version.number}, not "
            f"v{at_tag.number}, the version at {promotion.tag_name}: its comparison is "
            "against another version."
        )
    if run.comparison.get("note"):
        item.problems.append(f"Optimisation run #{run.pk}: {run.comparison['note']}")
    if item.problems:
        return
    names = _evaluator_names(run)
    item.rows = validation_rows(run, best, names)
    if policy is None:
        return
    item.problems += dataset_problems(
        f"Optimisation run #{run.pk} validated", run.dataset, run.dataset_revision, policy
    )
    policy_ids = list(policy.evaluators or [])
    if any(i not in names for i in policy_ids):
        item.problems.append(
            f"Optimisation run #{run.pk} did not run every evaluator of the policy."
        )
    if not item.problems and at_tag is not None:
        item.findings = comparison.rows_gate_findings(
            item.rows,
            tolerance=policy.tolerance,
            evaluators=[names[i] for i in policy_ids],
            rule=policy.rule,
        )


def _evaluator_names(run: OptimisationRun) -> dict[int, str]:
    links = RunEvaluator.objects.filter(run=run).select_related("evaluator")
    return {link.evaluator_id: link.evaluator.name for link in links}


def validation_rows(
    run: OptimisationRun, best: Candidate, names: dict[int, str]
) -> list[comparison.EvaluatorSummary]:
    """The best candidate against the start on each evaluator, over the validation examples
    both have (read from the stored evaluations): the experiments' summary rows, so the
    gate's rule applies to them unchanged."""
    start_key = (
        Candidate.objects.filter(run=run, index=0).values_list("key", flat=True).first() or ""
    )
    rows = Evaluation.objects.filter(
        run=run,
        candidate_key__in=[start_key, best.key],
        example_id__in=[str(i) for i in run.validation_ids],
    ).values_list("candidate_key", "example_id", "verdicts")
    # candidate key -> evaluator name -> (passes by example, values by example)
    outcomes: dict[str, dict[str, tuple[dict, dict]]] = defaultdict(
        lambda: defaultdict(lambda: (defaultdict(list), defaultdict(list)))
    )
    for key, example_id, verdicts in rows:
        by_name = {v.get("name"): v for v in verdicts or [] if isinstance(v, dict)}
        for name in names.values():
            passes, values = outcomes[key][name]
            verdict = by_name.get(name) or {}
            value = verdict.get("value")
            has_value = isinstance(value, int | float) and not isinstance(value, bool)
            if has_value:
                values[str(example_id)].append(float(value))  # type: ignore[arg-type]
            if verdict.get("passed") is not None or not has_value:
                # A failed call or a missing verdict counts as a fail, as in the run's own
                # comparison: no output is not evidence of "not worse".
                passes[str(example_id)].append(1.0 if verdict.get("passed") else 0.0)
    version = best.version
    label = f"v{version.number}" if version is not None else f"candidate {best.index}"
    out = []
    for name in names.values():
        base = outcomes[start_key][name]
        cand = outcomes[best.key][name]
        passed = sum(sum(v) for v in cand[0].values())
        judged = len(cand[0])
        interval = stats.wilson_interval(passed, judged)
        scored = [x for v in cand[1].values() for x in v]
        out.append(
            comparison.EvaluatorSummary(
                evaluator=name,
                variant_id=version.pk if version is not None else 0,
                label=label,
                is_baseline=False,
                judged=judged,
                passed=int(passed),
                rate=interval.estimate if interval else None,
                ci_low=interval.low if interval else None,
                ci_high=interval.high if interval else None,
                mean=sum(scored) / len(scored) if scored else None,
                scored=len(scored),
                examples=judged,
                repetition_spread=None,
                flaky_examples=None,
                versus=comparison.paired_versus(base, cand),
            )
        )
    return out


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
