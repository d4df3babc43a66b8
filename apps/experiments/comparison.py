"""Reads behind the comparison page, the CSV export, the policy gate and the CI summary.

Everything about one experiment is read in a bounded number of queries whatever its size:
one light query over its results (ids, keys, latency, tokens, cost, error flag), one over
its scores (no explanations), then the full rows of the current page only. The statistics
come from apps.experiments.stats so a verdict means the same on every page.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import BooleanField, ExpressionWrapper, Prefetch, Q, TextField
from django.db.models.functions import Cast
from django.template.defaultfilters import floatformat
from django.utils.html import escape
from django.utils.safestring import mark_safe

from apps.datasets.exporting import neutralise_cell
from apps.experiments import stats
from apps.experiments.models import Experiment, ExperimentEvaluator, Result, Score, Variant

FILTERS = ("failed", "regressions", "improvements", "errors", "flaky")
HUMAN = "Human"
BOOTSTRAP_SEED = 0
BOOTSTRAP_ITERATIONS = 2000


# --- loading -------------------------------------------------------------------------


@dataclass
class Cell:
    """The light facts of one result: enough for filters and statistics."""

    result_id: int
    variant_id: int
    key: tuple  # (position, example_id, repetition)
    is_error: bool
    latency_ms: int | None
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None


@dataclass
class Loaded:
    experiment: Experiment
    variants: list[Variant]
    evaluator_names: list[str]
    cells: dict[int, Cell]  # result id -> cell
    by_key: dict[tuple, dict[int, Cell]]  # key -> variant id -> cell
    # (evaluator name, result id) -> (passed, value); the newest score wins for humans.
    verdicts: dict[tuple[str, int], tuple[bool | None, float | None]]
    # Compare against this variant instead of the experiment's baseline (promotion evidence:
    # the version now at the tag is the reference, whichever variant the run marked).
    baseline_id: int | None = None

    @property
    def baseline(self) -> Variant | None:
        for variant in self.variants:
            if variant.pk == self.baseline_id:
                return variant
        for variant in self.variants:
            if variant.is_baseline and self.baseline_id is None:
                return variant
        return self.variants[0] if self.variants else None

    @property
    def candidates(self) -> list[Variant]:
        base = self.baseline
        return [v for v in self.variants if base is None or v.pk != base.pk]


def load(experiment: Experiment) -> Loaded:
    variants = list(
        Variant.objects.filter(experiment=experiment).select_related("prompt_version__prompt")
    )
    names = list(
        ExperimentEvaluator.objects.filter(experiment=experiment).values_list("name", flat=True)
    )
    cells: dict[int, Cell] = {}
    by_key: dict[tuple, dict[int, Cell]] = defaultdict(dict)
    rows = (
        Result.objects.filter(experiment=experiment)
        .annotate(has_error=ExpressionWrapper(~Q(error=""), output_field=BooleanField()))
        .values_list(
            "id",
            "variant_id",
            "position",
            "example_id",
            "repetition",
            "has_error",
            "latency_ms",
            "input_tokens",
            "output_tokens",
            "cost",
        )
        .order_by()
    )
    for rid, vid, pos, eid, rep, err, lat, tin, tout, cost in rows.iterator(chunk_size=5000):
        key = (pos, str(eid), rep)
        cell = Cell(
            rid, vid, key, bool(err), lat, tin, tout, float(cost) if cost is not None else None
        )
        cells[rid] = cell
        by_key[key][vid] = cell
    verdicts: dict[tuple[str, int], tuple[bool | None, float | None]] = {}
    extra_names: list[str] = []
    scores = (
        Score.objects.filter(experiment=experiment, result__isnull=False)
        .values_list("result_id", "evaluator_name", "passed", "value", "source")
        .order_by("id")
    )
    for rid, name, passed, value, source in scores.iterator(chunk_size=5000):
        name = name or (HUMAN if source == "human" else source)
        if name not in names and name not in extra_names:
            extra_names.append(name)
        verdicts[(name, rid)] = (passed, value)  # ordered by id: the newest wins
    return Loaded(experiment, variants, names + extra_names, cells, dict(by_key), verdicts)


# --- summary -------------------------------------------------------------------------


@dataclass
class Versus:
    """A candidate against the baseline on one evaluator, over paired EXAMPLES."""

    test: str  # "paired" (pass/fail) | "bootstrap" (scores) | ""
    examples: int  # examples both variants have: the n of every figure here
    difference: float | None
    p_value: float | None
    regressions: int  # examples whose outcome dropped
    improvements: int
    verdict: str
    low: float | None = None
    high: float | None = None
    paired: stats.PairedDifference | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "paired"}
        out["pairs"] = self.examples  # the name older clients read; examples, not cells
        return out


@dataclass
class EvaluatorSummary:
    evaluator: str
    variant_id: int
    label: str
    is_baseline: bool
    judged: int
    passed: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    mean: float | None
    scored: int
    examples: int  # the n of the rate and its interval (cells: judged)
    # With repetitions: the mean within-example standard deviation of the outcome, and how
    # many examples changed outcome between repetitions (None with one repetition).
    repetition_spread: float | None
    flaky_examples: int | None
    versus: Versus | None = None


@dataclass
class VariantStats:
    variant_id: int
    label: str
    is_baseline: bool
    results: int
    errors: int
    latency_p50: float | None
    latency_p95: float | None
    input_tokens: int
    output_tokens: int
    cost: float | None  # None: unpriced model (unknown, not free)
    latencies: list[float] = field(default_factory=list, repr=False)


@dataclass
class Summary:
    experiment: Experiment
    baseline: Variant | None
    variants: list[Variant]
    variant_stats: list[VariantStats]
    evaluators: list[str]
    rows: list[EvaluatorSummary]  # evaluator-major, variant order within

    def for_evaluator(self, name: str) -> list[EvaluatorSummary]:
        return [r for r in self.rows if r.evaluator == name]

    def worst_versus(self) -> list[EvaluatorSummary]:
        return [r for r in self.rows if r.versus is not None]

    def as_dict(self) -> dict:
        return {
            "experiment": {
                "id": self.experiment.pk,
                "name": self.experiment.name,
                "status": self.experiment.status,
                "dataset_id": self.experiment.dataset_id,
                "dataset_revision": self.experiment.dataset_revision,
                "repetitions": self.experiment.repetitions,
                "done_count": self.experiment.done_count,
                "total_cells": self.experiment.total_cells,
            },
            "baseline_variant_id": self.baseline.pk if self.baseline else None,
            "variants": [
                {k: v for k, v in s.__dict__.items() if k != "latencies"}
                for s in self.variant_stats
            ],
            "evaluators": [
                {
                    "name": name,
                    "variants": [
                        {
                            **{k: v for k, v in r.__dict__.items() if k != "versus"},
                            "versus_baseline": r.versus.as_dict() if r.versus else None,
                        }
                        for r in self.for_evaluator(name)
                    ],
                }
                for name in self.evaluators
            ],
        }


def _by_example(
    loaded: Loaded, name: str, variant: Variant
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """One variant's outcomes on one evaluator, grouped by example across repetitions:
    (pass/fail as 1/0, score values)."""
    passes: dict[str, list[float]] = defaultdict(list)
    values: dict[str, list[float]] = defaultdict(list)
    for key in sorted(loaded.by_key):  # dataset order: a seeded bootstrap is reproducible
        cell = loaded.by_key[key].get(variant.pk)
        if cell is None:
            continue
        verdict = loaded.verdicts.get((name, cell.result_id))
        if verdict is None:
            continue
        if verdict[0] is not None:
            passes[key[1]].append(1.0 if verdict[0] else 0.0)
        if verdict[1] is not None:
            values[key[1]].append(float(verdict[1]))
    return passes, values


def paired_versus(
    base: tuple[dict[str, list[float]], dict[str, list[float]]],
    cand: tuple[dict[str, list[float]], dict[str, list[float]]],
) -> Versus:
    """Candidate against baseline with the EXAMPLE as the unit: each example's outcome is its
    mean over repetitions, and only examples both variants have count (one observation
    each, however many repetitions ran)."""
    (base_pass, base_value), (cand_pass, cand_value) = base, cand
    shared = [k for k in base_pass if k in cand_pass]
    if shared:
        b = [sum(base_pass[k]) / len(base_pass[k]) for k in shared]
        c = [sum(cand_pass[k]) / len(cand_pass[k]) for k in shared]
        d = stats.paired_difference(b, c)
        return Versus(
            "paired",
            d.examples,
            d.difference,
            d.p_value,
            d.regressions,
            d.improvements,
            stats.verdict(d.difference, d.p_value),
            d.low,
            d.high,
            paired=d,
        )
    shared = [k for k in base_value if k in cand_value]
    if shared:
        b = [sum(base_value[k]) / len(base_value[k]) for k in shared]
        c = [sum(cand_value[k]) / len(cand_value[k]) for k in shared]
        # Scores have no fixed range: a cluster bootstrap, resampling examples.
        diff, interval, p_value = stats.paired_bootstrap(
            b, c, iterations=BOOTSTRAP_ITERATIONS, seed=BOOTSTRAP_SEED
        )
        return Versus(
            "bootstrap",
            len(shared),
            diff,
            p_value,
            sum(1 for x, y in zip(b, c, strict=True) if y < x),
            sum(1 for x, y in zip(b, c, strict=True) if y > x),
            stats.verdict(diff, p_value),
            interval.low,
            interval.high,
        )
    return Versus("", 0, None, None, 0, 0, stats.NO_DIFFERENCE)


def summarize(loaded: Loaded) -> Summary:
    base = loaded.baseline
    variant_stats = []
    for variant in loaded.variants:
        mine = [c for c in loaded.cells.values() if c.variant_id == variant.pk]
        latencies = [float(c.latency_ms) for c in mine if c.latency_ms is not None]
        variant_stats.append(
            VariantStats(
                variant.pk,
                variant.label,
                base is not None and variant.pk == base.pk,
                len(mine),
                sum(1 for c in mine if c.is_error),
                stats.percentile(latencies, 50),
                stats.percentile(latencies, 95),
                sum(c.input_tokens or 0 for c in mine),
                sum(c.output_tokens or 0 for c in mine),
                round(sum(c.cost or 0.0 for c in mine), 8)
                if any(c.cost is not None for c in mine) or not mine
                else None,
                latencies,
            )
        )
    rows = []
    repeated = loaded.experiment.repetitions > 1
    for name in loaded.evaluator_names:
        outcomes = {v.pk: _by_example(loaded, name, v) for v in loaded.variants}
        for variant in loaded.variants:
            passes, values = outcomes[variant.pk]
            judged = sum(len(v) for v in passes.values())
            passed = int(sum(sum(v) for v in passes.values()))
            scored = sum(len(v) for v in values.values())
            # The example is the unit: its pass fraction over repetitions is one observation.
            fractions = [sum(v) / len(v) for v in passes.values()]
            interval = stats.wilson_interval(sum(fractions), len(fractions))
            flaky = stats.flakiness(passes if passes else values) if repeated else None
            row = EvaluatorSummary(
                evaluator=name,
                variant_id=variant.pk,
                label=variant.label,
                is_baseline=base is not None and variant.pk == base.pk,
                judged=judged,
                passed=passed,
                rate=interval.estimate if interval else None,
                ci_low=interval.low if interval else None,
                ci_high=interval.high if interval else None,
                mean=sum(sum(v) for v in values.values()) / scored if scored else None,
                scored=scored,
                examples=len(passes) or len(values),
                repetition_spread=flaky.spread if flaky else None,
                flaky_examples=flaky.flaky if flaky else None,
            )
            if base is not None and variant.pk != base.pk:
                row.versus = paired_versus(outcomes[base.pk], outcomes[variant.pk])
            rows.append(row)
    return Summary(
        loaded.experiment, base, loaded.variants, variant_stats, loaded.evaluator_names, rows
    )


def experiment_summary(experiment: Experiment) -> Summary:
    return summarize(load(experiment))


# --- rows ----------------------------------------------------------------------------


def _passes(loaded: Loaded, cell: Cell | None) -> list[bool | None]:
    if cell is None:
        return []
    return [
        loaded.verdicts.get((n, cell.result_id), (None, None))[0] for n in loaded.evaluator_names
    ]


def _keep(loaded: Loaded, by_variant: dict[int, Cell], flt: str) -> bool:
    if flt == "errors":
        return any(c.is_error for c in by_variant.values())
    if flt == "failed":
        return any(c.is_error or False in _passes(loaded, c) for c in by_variant.values())
    base = loaded.baseline
    if base is None:
        return False
    b = by_variant.get(base.pk)
    if b is None:
        return False
    for cand in loaded.candidates:
        c = by_variant.get(cand.pk)
        if c is None:
            continue
        for name in loaded.evaluator_names:
            vb = loaded.verdicts.get((name, b.result_id), (None, None))[0]
            vc = loaded.verdicts.get((name, c.result_id), (None, None))[0]
            if vb is None or vc is None:
                continue
            if flt == "regressions" and vb and not vc:
                return True
            if flt == "improvements" and vc and not vb:
                return True
    return False


def _flaky_examples(loaded: Loaded) -> set[str]:
    """Examples whose pass/fail differs between repetitions, for any variant and evaluator."""
    flaky: set[str] = set()
    for name in loaded.evaluator_names:
        for variant in loaded.variants:
            passes, _ = _by_example(loaded, name, variant)
            flaky.update(k for k, v in passes.items() if len(v) > 1 and max(v) != min(v))
    return flaky


def matching_keys(loaded: Loaded, *, flt: str = "", q: str = "") -> list[tuple]:
    keys = sorted(loaded.by_key)
    if flt == "flaky":
        flaky = _flaky_examples(loaded)
        keys = [k for k in keys if k[1] in flaky]
    elif flt in FILTERS:
        keys = [k for k in keys if _keep(loaded, loaded.by_key[k], flt)]
    q = (q or "").strip()
    if q:
        hits = set(
            Result.objects.filter(experiment=loaded.experiment)
            .annotate(
                input_text=Cast("input", TextField()), expected_text=Cast("expected", TextField())
            )
            .filter(
                Q(output__icontains=q) | Q(input_text__icontains=q) | Q(expected_text__icontains=q)
            )
            .values_list("id", flat=True)
            .order_by()
        )
        keys = [k for k in keys if any(c.result_id in hits for c in loaded.by_key[k].values())]
    return keys


_WORDS = re.compile(r"\S+|\s+")


def word_diff(baseline: str, candidate: str):
    """The candidate's text with words added against the baseline marked; escaped HTML."""
    a = _WORDS.findall(baseline or "")
    b = _WORDS.findall(candidate or "")
    out: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(escape("".join(b[j1:j2])))
            continue
        if op in ("replace", "delete"):
            out.append(f'<del class="diff-del">{escape("".join(a[i1:i2]))}</del>')
        if op in ("replace", "insert"):
            out.append(f'<ins class="diff-add">{escape("".join(b[j1:j2]))}</ins>')
    return mark_safe("".join(out))  # every piece of text above went through escape()


@dataclass
class RowCell:
    variant: Variant
    result: Result | None
    diff: str | None  # escaped HTML against the baseline output, None for the baseline
    scores: list  # (evaluator name, newest Score | None) per evaluator


@dataclass
class Row:
    position: int
    example_id: str
    repetition: int
    input: object
    expected: object
    cells: list[RowCell]


def rows_for(loaded: Loaded, keys: list[tuple], *, diff: bool = True) -> list[Row]:
    """Full rows for these keys: two queries (results, their scores)."""
    ids = [c.result_id for k in keys for c in loaded.by_key[k].values()]
    results = {
        r.pk: r
        for r in Result.objects.filter(pk__in=ids).prefetch_related(
            Prefetch("scores", queryset=Score.objects.order_by("id"))
        )
    }
    base = loaded.baseline
    out = []
    for key in keys:
        by_variant = loaded.by_key[key]
        base_result = (
            results.get(by_variant[base.pk].result_id) if base and base.pk in by_variant else None
        )
        cells, first = [], None
        for variant in loaded.variants:
            cell = by_variant.get(variant.pk)
            result = results.get(cell.result_id) if cell else None
            first = first or result
            newest = {}
            if result is not None:
                for score in result.scores.all():
                    name = score.evaluator_name or (
                        HUMAN if score.source == "human" else score.source
                    )
                    newest[name] = score
            text_diff = None
            if (
                diff
                and result is not None
                and base_result is not None
                and base is not None
                and variant.pk != base.pk
                and not result.error
            ):
                text_diff = word_diff(base_result.output, result.output)
            cells.append(
                RowCell(
                    variant,
                    result,
                    text_diff,
                    [(n, newest.get(n)) for n in loaded.evaluator_names],
                )
            )
        out.append(
            Row(
                key[0],
                key[1],
                key[2],
                first.input if first else None,
                first.expected if first else None,
                cells,
            )
        )
    return out


# --- several experiments on one dataset ---------------------------------------------


def comparable_experiments(experiment_ids) -> tuple[list[Experiment], str]:
    """The experiments in the given order, or ([], why they cannot be compared)."""
    ids = []
    for raw in experiment_ids:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            continue
        if value not in ids:
            ids.append(value)
    found = {e.pk: e for e in Experiment.objects.select_related("dataset").filter(pk__in=ids)}
    experiments = [found[i] for i in ids if i in found]
    if len(experiments) < 2:
        return experiments, "Pick two or more experiments."
    if len({e.dataset_id for e in experiments}) > 1:
        return experiments, "Only experiments on the same dataset can be compared."
    return experiments, ""


@dataclass
class MultiColumn:
    experiment: Experiment
    variant: Variant
    label: str


def multi_compare(experiments: list[Experiment]) -> dict:
    """Pass rates of every variant of every experiment, per evaluator, side by side.

    The first experiment's baseline variant is the reference; the others are paired with it
    by example id (and repetition), so McNemar applies across experiments too.
    """
    loads = [load(e) for e in experiments]
    columns = []
    for loaded in loads:
        for variant in loaded.variants:
            columns.append((loaded, variant))
    names = []
    for loaded in loads:
        for name in loaded.evaluator_names:
            if name not in names:
                names.append(name)
    # The reference: the first experiment and its baseline variant, when it has one.
    ref: tuple[Loaded, Variant] | None = None
    if loads and (first_baseline := loads[0].baseline) is not None:
        ref = (loads[0], first_baseline)
    table = []
    for name in names:
        cells = []
        for loaded, variant in columns:
            judged = passed = 0
            for cell in loaded.cells.values():
                if cell.variant_id != variant.pk:
                    continue
                ok = loaded.verdicts.get((name, cell.result_id), (None, None))[0]
                if ok is not None:
                    judged += 1
                    passed += 1 if ok else 0
            interval = stats.wilson_interval(passed, judged)
            versus = None
            if ref is not None and not (loaded is ref[0] and variant.pk == ref[1].pk):
                versus = _versus_across(name, ref[0], ref[1], loaded, variant)
            cells.append(
                {
                    "experiment": loaded.experiment,
                    "variant": variant,
                    "judged": judged,
                    "passed": passed,
                    "interval": interval,
                    "versus": versus,
                }
            )
        table.append({"evaluator": name, "cells": cells})
    return {
        "columns": [
            MultiColumn(lo.experiment, v, f"#{lo.experiment.pk} {v.label}") for lo, v in columns
        ],
        "table": table,
        "reference": (ref[0].experiment, ref[1]) if ref is not None else None,
    }


def _versus_across(name, ref: Loaded, ref_variant, other: Loaded, variant) -> Versus:
    # Two experiments on one dataset revision share example ids: pair by example.
    return paired_versus(_by_example(ref, name, ref_variant), _by_example(other, name, variant))


# --- CSV -----------------------------------------------------------------------------


def csv_cell(value) -> str:
    """Text a spreadsheet will not run as a formula (plain numbers stay numbers)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = (
            str(value) if isinstance(value, int | float) else json.dumps(value, ensure_ascii=False)
        )
        if value.lstrip("-").replace(".", "", 1).isdigit():
            return value
    return neutralise_cell(value)


def csv_rows(loaded: Loaded, keys: list[tuple], *, batch: int = 500):
    """Header, then one line per (example, repetition); streamed in batches of rows."""
    header = ["position", "example_id", "repetition", "input", "expected"]
    for variant in loaded.variants:
        header += [f"{variant.label}: output", f"{variant.label}: error"]
        header += [f"{variant.label}: {name}" for name in loaded.evaluator_names]
        header += [f"{variant.label}: latency_ms"]
    yield [csv_cell(h) for h in header]
    for start in range(0, len(keys), batch):
        for row in rows_for(loaded, keys[start : start + batch], diff=False):
            line = [row.position, row.example_id, row.repetition, row.input, row.expected]
            for cell in row.cells:
                r = cell.result
                line += [r.output if r else None, r.error if r else None]
                for _name, score in cell.scores:
                    if score is None:
                        line.append(None)
                    elif score.passed is not None:
                        line.append("pass" if score.passed else "fail")
                    else:
                        line.append(score.value)
                line.append(r.latency_ms if r else None)
            yield [csv_cell(v) for v in line]


# --- the gate (promotion policies and `promptyard eval`) -----------------------------


# The gate's rules. Non-inferiority is the default: approval needs evidence that the candidate
# is NOT WORSE than the reference by more than the margin. The weaker rule only blocks a
# regression the data can detect, so a small set lets almost anything through.
NONINFERIORITY = "noninferiority"
NO_DETECTABLE_REGRESSION = "no_detectable_regression"
GATE_RULES = (NONINFERIORITY, NO_DETECTABLE_REGRESSION)
GATE_ALPHA = 0.025  # one-sided: the lower bound of the two-sided 95 % interval
DEFAULT_MARGIN = 0.05  # five pass-rate points


@dataclass
class GateFinding:
    evaluator: str
    candidate: str
    difference: float | None
    p_value: float | None
    verdict: str
    regressions: int
    improvements: int
    examples: int = 0
    low: float | None = None
    high: float | None = None
    margin: float = 0.0
    rule: str = NONINFERIORITY
    examples_needed: int | None = None
    undecided: bool = False  # non-inferiority not shown, but not shown worse either

    def __str__(self):
        if self.examples == 0 and self.difference is None:
            return f"{self.candidate} has no paired results on {self.evaluator}."
        diff = "—" if self.difference is None else f"{self.difference * 100:+.1f} points"
        where = f"{diff} on {self.examples} example{'s' if self.examples != 1 else ''}" + (
            f", 95 % CI {self.low * 100:+.1f} to {self.high * 100:+.1f}"
            if self.low is not None and self.high is not None
            else ""
        )
        if not self.undecided:
            return (
                f"{self.candidate} is worse on {self.evaluator}: {where} "
                f"(p = {floatformat(self.p_value, 4)}; {self.regressions} regressions, "
                f"{self.improvements} improvements)."
            )
        need = (
            f" About {self.examples_needed} examples would decide at this margin."
            if self.examples_needed
            else " At the observed rates more examples would not show it: the candidate "
            "looks worse than the margin allows."
        )
        return (
            f"The data cannot yet show that {self.candidate} is at most "
            f"{self.margin * 100:g} points worse on {self.evaluator}: {where}, and the "
            f"lower bound is below -{self.margin * 100:g}.{need}"
        )


def _noninferiority_p(v: Versus, margin: float) -> float:
    if v.paired is not None:
        return stats.noninferiority_p(v.paired, margin)
    if v.low is None or v.high is None or v.difference is None:
        return 1.0
    # Scores: the bootstrap interval's normal equivalent.
    se = (v.high - v.low) / (2 * stats.Z_95)
    if se <= 0:
        return 0.0 if v.difference > -margin else 1.0
    return 1.0 - stats.NormalDist().cdf((v.difference + margin) / se)


def gate_findings(
    summary: Summary,
    *,
    tolerance: float = 0.0,
    evaluators: list[str] | None = None,
    rule: str = NONINFERIORITY,
) -> list[GateFinding]:
    """Why a candidate may not pass the gate against the baseline (empty: it passes).

    `tolerance` is the margin: for pass/fail evaluators in pass-rate points (0.05 = five
    points), for scores in score units. Under non-inferiority (the default) a candidate
    passes an evaluator only when the one-sided test of "worse by the margin or more" is
    rejected at 2.5 % (the 95 % interval's lower bound above -margin), Holm-corrected over
    the gating evaluators; under the weaker rule it fails only when it is detectably worse
    (p < 0.05) by more than the margin. Either way an evaluator with no paired results is a
    finding: no evidence is not evidence of no regression.
    """
    return rows_gate_findings(summary.rows, tolerance=tolerance, evaluators=evaluators, rule=rule)


def rows_gate_findings(
    rows_in: list[EvaluatorSummary],
    *,
    tolerance: float = 0.0,
    evaluators: list[str] | None = None,
    rule: str = NONINFERIORITY,
) -> list[GateFinding]:
    """`gate_findings` over summary rows of any origin (an optimisation run's held-out
    comparison builds its own rows with `paired_versus`)."""
    if rule not in GATE_RULES:
        raise ValueError(f"unknown gate rule {rule!r}")
    margin = abs(tolerance)
    wanted = set(evaluators) if evaluators else None
    out: list[GateFinding] = []
    by_candidate: dict[int, list[EvaluatorSummary]] = defaultdict(list)
    for row in rows_in:
        if row.versus is None or (wanted is not None and row.evaluator not in wanted):
            continue
        by_candidate[row.variant_id].append(row)
    for rows in by_candidate.values():
        family = [r for r in rows if r.versus is not None and r.versus.examples]
        p_values = [_noninferiority_p(r.versus, margin) for r in family if r.versus is not None]
        shown = dict(zip((id(r) for r in family), stats.holm(p_values, GATE_ALPHA), strict=True))
        m = max(len(family), 1)
        for row in rows:
            v = row.versus
            assert v is not None  # only rows with a versus were grouped
            finding = GateFinding(
                row.evaluator,
                row.label,
                v.difference,
                v.p_value,
                v.verdict,
                v.regressions,
                v.improvements,
                v.examples,
                v.low,
                v.high,
                margin,
                rule,
            )
            if v.examples == 0:
                out.append(finding)
                continue
            worse = v.verdict == stats.WORSE and (v.difference or 0.0) < -margin
            if rule == NO_DETECTABLE_REGRESSION:
                if worse:
                    out.append(finding)
                continue
            if shown[id(row)]:
                continue
            finding.undecided = not worse
            if v.paired is not None:
                finding.examples_needed = stats.examples_needed(
                    v.paired, margin, alpha=GATE_ALPHA / m
                )
            out.append(finding)
    if wanted is not None:
        present = {r.evaluator for r in rows_in}
        for name in sorted(wanted - present):
            out.append(GateFinding(name, "the candidate", None, None, "", 0, 0))
    return out
