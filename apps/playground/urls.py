from django.urls import path

from apps.playground import views

app_name = "playground"
urlpatterns = [
    path("", views.playground, name="index"),
    path("variables/", views.variables, name="variables"),
    path("examples/", views.examples, name="examples"),
    path("run/", views.run, name="run"),
    path("save/", views.save, name="save"),
    path("evaluate/", views.evaluate, name="evaluate"),
    path("evaluations/<int:experiment_id>/", views.evaluation, name="evaluation"),
    path("history/", views.history, name="history"),
    path("runs/<int:playground_run_id>/", views.run_detail, name="run_detail"),
]
