from django.urls import path

from apps.experiments import api, api_compare

urlpatterns = [
    path("experiments/", api.ExperimentListCreateView.as_view(), name="experiment-list"),
    path(
        "experiments/<int:experiment_id>/",
        api.ExperimentDetailView.as_view(),
        name="experiment-detail",
    ),
    path(
        "experiments/<int:experiment_id>/start/",
        api.ExperimentStartView.as_view(),
        name="experiment-start",
    ),
    path(
        "experiments/<int:experiment_id>/cancel/",
        api.ExperimentCancelView.as_view(),
        name="experiment-cancel",
    ),
    path(
        "experiments/<int:experiment_id>/resume/",
        api.ExperimentResumeView.as_view(),
        name="experiment-resume",
    ),
    path(
        "experiments/<int:experiment_id>/results/",
        api.ExperimentResultListView.as_view(),
        name="experiment-results",
    ),
    path(
        "experiments/<int:experiment_id>/comparison/",
        api_compare.ComparisonSummaryView.as_view(),
        name="experiment-comparison",
    ),
    path("ci/evaluations/", api_compare.CIEvaluationView.as_view(), name="ci-evaluation"),
    path("evaluators/", api.EvaluatorListCreateView.as_view(), name="evaluator-list"),
    path(
        "evaluators/<int:evaluator_id>/",
        api.EvaluatorDetailView.as_view(),
        name="evaluator-detail",
    ),
]
