from django.urls import path

from apps.experiments import views, views_compare

app_name = "experiments"
urlpatterns = [
    path("", views.experiments_list, name="list"),
    path("new/", views.experiment_new, name="new"),
    path("new/estimate/", views.experiment_estimate, name="estimate"),
    path("evaluators/", views.evaluators_list, name="evaluators"),
    path("evaluators/<int:evaluator_id>/", views.evaluator_edit, name="evaluator"),
    path("evaluators/<int:evaluator_id>/delete/", views.evaluator_delete, name="evaluator_delete"),
    path("compare/", views_compare.experiments_compare, name="compare_many"),
    path("<int:experiment_id>/", views.experiment_detail, name="detail"),
    path("<int:experiment_id>/compare/", views_compare.experiment_compare, name="compare"),
    path(
        "<int:experiment_id>/compare.csv", views_compare.experiment_compare_csv, name="compare_csv"
    ),
    path("<int:experiment_id>/progress/", views.experiment_progress, name="progress"),
    path("<int:experiment_id>/start/", views.experiment_start, name="start"),
    path("<int:experiment_id>/cancel/", views.experiment_cancel, name="cancel"),
    path("<int:experiment_id>/resume/", views.experiment_resume, name="resume"),
    path("<int:experiment_id>/delete/", views.experiment_delete, name="delete"),
]
