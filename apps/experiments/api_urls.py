from django.urls import path

from apps.experiments.api import ci_evaluation, code_runs, comparison, evaluators, experiments

urlpatterns = [
    path("experiments/", experiments.ExperimentListCreateView.as_view(), name="experiment-list"),
    path(
        "experiments/estimate/",
        experiments.ExperimentEstimateView.as_view(),
        name="experiment-estimate",
    ),
    path("experiments/code-runs/", code_runs.CodeRunOpenView.as_view(), name="code-run-open"),
    path(
        "experiments/<int:experiment_id>/cells/",
        code_runs.CodeRunCellsView.as_view(),
        name="code-run-cells",
    ),
    path(
        "experiments/<int:experiment_id>/records/",
        code_runs.CodeRunRecordsView.as_view(),
        name="code-run-records",
    ),
    path(
        "experiments/<int:experiment_id>/finish/",
        code_runs.CodeRunFinishView.as_view(),
        name="code-run-finish",
    ),
    path(
        "experiments/<int:experiment_id>/",
        experiments.ExperimentDetailView.as_view(),
        name="experiment-detail",
    ),
    path(
        "experiments/<int:experiment_id>/start/",
        experiments.ExperimentStartView.as_view(),
        name="experiment-start",
    ),
    path(
        "experiments/<int:experiment_id>/cancel/",
        experiments.ExperimentCancelView.as_view(),
        name="experiment-cancel",
    ),
    path(
        "experiments/<int:experiment_id>/resume/",
        experiments.ExperimentResumeView.as_view(),
        name="experiment-resume",
    ),
    path(
        "experiments/<int:experiment_id>/results/",
        experiments.ExperimentResultListView.as_view(),
        name="experiment-results",
    ),
    path(
        "experiments/<int:experiment_id>/comparison/",
        comparison.ComparisonSummaryView.as_view(),
        name="experiment-comparison",
    ),
    path("ci/evaluations/", ci_evaluation.CIEvaluationView.as_view(), name="ci-evaluation"),
    path("evaluators/", evaluators.EvaluatorListCreateView.as_view(), name="evaluator-list"),
    path(
        "evaluators/<int:evaluator_id>/",
        evaluators.EvaluatorDetailView.as_view(),
        name="evaluator-detail",
    ),
]
