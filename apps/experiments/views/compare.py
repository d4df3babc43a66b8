"""Comparison pages: one experiment's results side by side with honest statistics, several
experiments on one dataset, and the CSV export. Reads only (apps.experiments.comparison)."""

from __future__ import annotations

import csv

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from apps.core.pagination import paginate
from apps.core.tenancy import team_scope
from apps.core.web import render_page
from apps.experiments import charts, comparison, selectors

PER_PAGE = 25


def _filters(request) -> tuple[str, str]:
    flt = request.GET.get("filter", "")
    return (flt if flt in comparison.FILTERS else ""), request.GET.get("q", "").strip()[:200]


@require_GET
def experiment_compare(request, experiment_id):
    experiment = selectors.experiment_get(experiment_id)
    flt, q = _filters(request)
    loaded = comparison.load(experiment)
    summary = comparison.summarize(loaded)
    keys = comparison.matching_keys(loaded, flt=flt, q=q)
    page = paginate(request, keys, per_page=PER_PAGE)
    rows = comparison.rows_for(loaded, list(page.object_list))
    context = {
        "experiment": experiment,
        "summary": summary,
        "loaded": loaded,
        "rows": rows,
        "page": page,
        "query": urlencode({"filter": flt, "q": q}),
        "filter": flt,
        "q": q,
        "filters": [
            ("", "All"),
            ("failed", "Failed only"),
            ("regressions", "Regressions only"),
            ("improvements", "Improvements only"),
            ("errors", "Errors only"),
        ]
        + ([("flaky", "Flaky only")] if experiment.repetitions > 1 else []),
        "pass_chart": charts.pass_rate_chart(summary),
        "latency_chart": charts.latency_histogram(summary.variant_stats),
        "matching": len(keys),
        "same_dataset": selectors.experiments_on_dataset(experiment, limit=20),
    }
    # Only the examples' own controls swap the fragment (a history restore wants the page).
    partial = "rows" if request.htmx.target == "compare-rows" else None
    return render_page(request, "experiments/compare.html", context, partial=partial)


class _Echo:
    def write(self, value):
        return value


def _csv_response(request, lines, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    team = request.team

    def stream():
        # The body is produced after the view returns, outside the middleware's scope.
        with team_scope(team):
            for line in lines:
                yield writer.writerow(line)

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def experiment_compare_csv(request, experiment_id):
    experiment = selectors.experiment_get(experiment_id)
    flt, q = _filters(request)
    loaded = comparison.load(experiment)
    keys = comparison.matching_keys(loaded, flt=flt, q=q)
    suffix = f"-{flt}" if flt else ""
    return _csv_response(
        request, comparison.csv_rows(loaded, keys), f"experiment-{experiment.pk}{suffix}.csv"
    )


def _multi_ids(request) -> list[str]:
    ids = request.GET.getlist("ids")
    out = []
    for raw in ids:
        out += [part for part in raw.replace(",", " ").split() if part]
    return out


@require_GET
def experiments_compare(request):
    ids = _multi_ids(request)
    experiments, problem = comparison.comparable_experiments(ids)
    context = {"experiments": experiments, "problem": problem, "ids": ids}
    anchor = experiments[0] if experiments else None
    context["candidates"] = (
        selectors.experiment_list(dataset_id=anchor.dataset_id)[:50]
        if anchor
        else selectors.experiment_list()[:50]
    )
    if not problem:
        context["multi"] = comparison.multi_compare(experiments)
        if request.GET.get("format") == "csv":
            return _csv_response(
                request, _multi_csv(context["multi"]), "experiments-comparison.csv"
            )
    return render(request, "experiments/compare_many.html", context)


def _multi_csv(multi):
    yield ["evaluator", "experiment", "variant", "passed", "judged", "pass_rate", "ci_low",
           "ci_high", "difference_vs_reference", "p_value", "verdict"]  # fmt: skip
    for row in multi["table"]:
        for cell in row["cells"]:
            interval, versus = cell["interval"], cell["versus"]
            yield [
                comparison.csv_cell(v)
                for v in (
                    row["evaluator"],
                    f"#{cell['experiment'].pk} {cell['experiment'].name}",
                    cell["variant"].label,
                    cell["passed"],
                    cell["judged"],
                    round(interval.estimate, 4) if interval else None,
                    round(interval.low, 4) if interval else None,
                    round(interval.high, 4) if interval else None,
                    round(versus.difference, 4)
                    if versus and versus.difference is not None
                    else None,
                    round(versus.p_value, 4) if versus and versus.p_value is not None else None,
                    versus.verdict if versus else "reference",
                )
            ]
