from django.urls import path

from apps.playground import views

app_name = "playground"
urlpatterns = [
    path("", views.playground, name="index"),
    path("variables/", views.variables, name="variables"),
    path("examples/", views.examples, name="examples"),
    path("run/", views.run, name="run"),
    path("chain/run/", views.chain_run, name="chain_run"),
    path("chain/inputs/", views.chain_inputs, name="chain_inputs"),
    path("chain/evaluate/", views.chain_evaluate, name="chain_evaluate"),
    path("save/", views.save, name="save"),
    path("evaluate/", views.evaluate, name="evaluate"),
    path("evaluations/<int:experiment_id>/", views.evaluation, name="evaluation"),
    path("refine/", views.refine_panel, name="refine_panel"),
    path("refine/ask/", views.refine_ask, name="refine_ask"),
    path("refine/answers/<int:refine_message_id>/save/", views.refine_save, name="refine_save"),
    path("refine/conversations/", views.refine_conversations, name="refine_conversations"),
    path("history/", views.history, name="history"),
    path("runs/<int:playground_run_id>/", views.run_detail, name="run_detail"),
]
