from django.urls import path

from apps.experiments.views import compare, evaluators, experiments

app_name = "experiments"
urlpatterns = [
    path("", experiments.experiments_list, name="list"),
    path("new/", experiments.experiment_new, name="new"),
    path("new/estimate/", experiments.experiment_estimate, name="estimate"),
    path("evaluators/", evaluators.evaluators_list, name="evaluators"),
    path("evaluators/<int:evaluator_id>/", evaluators.evaluator_edit, name="evaluator"),
    path(
        "evaluators/<int:evaluator_id>/delete/",
        evaluators.evaluator_delete,
        name="evaluator_delete",
    ),
    path("compare/", compare.experiments_compare, name="compare_many"),
    path("<int:experiment_id>/", experiments.experiment_detail, name="detail"),
    path("<int:experiment_id>/compare/", compare.experiment_compare, name="compare"),
    path("<int:experiment_id>/compare.csv", compare.experiment_compare_csv, name="compare_csv"),
    path("<int:experiment_id>/progress/", experiments.experiment_progress, name="progress"),
    path("<int:experiment_id>/start/", experiments.experiment_start, name="start"),
    path("<int:experiment_id>/cancel/", experiments.experiment_cancel, name="cancel"),
    path("<int:experiment_id>/resume/", experiments.experiment_resume, name="resume"),
    path("<int:experiment_id>/delete/", experiments.experiment_delete, name="delete"),
]
