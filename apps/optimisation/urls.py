from django.urls import path

from apps.optimisation import views

app_name = "optimisation"
urlpatterns = [
    path("", views.runs_list, name="list"),
    path("new/", views.run_new, name="new"),
    path("<int:optimisation_id>/", views.run_detail, name="detail"),
    path("<int:optimisation_id>/progress/", views.run_progress, name="progress"),
    path("<int:optimisation_id>/cancel/", views.run_cancel, name="cancel"),
    path("<int:optimisation_id>/resume/", views.run_resume, name="resume"),
    path("<int:optimisation_id>/promotion/", views.run_promotion, name="promotion"),
]
