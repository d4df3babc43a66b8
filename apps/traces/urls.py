from django.urls import path

from apps.traces.views import dashboard, explorer, functions, online

app_name = "traces"
urlpatterns = [
    path("", explorer.traces_list, name="list"),
    path("functions/", explorer.functions_list, name="functions"),
    path(
        "functions/<path:function_name>/versions/",
        functions.function_versions_page,
        name="function_versions",
    ),
    path("export/scores.csv", explorer.scores_export, name="scores_export"),
    path("sessions/<path:session_id>/", explorer.session_detail, name="session"),
    path("dashboard/", dashboard.dashboard_team, name="dashboard"),
    path("online/", online.online_rules, name="online"),
    path("online/<int:rule_id>/", online.online_rule_detail, name="online_rule"),
    path("online/<int:rule_id>/pause/", online.online_rule_pause, name="online_pause"),
    path("online/<int:rule_id>/sample/", online.online_rule_sample, name="online_sample"),
    path(
        "dashboard/prompts/<path:prompt_name>/", dashboard.dashboard_prompt, name="dashboard_prompt"
    ),
    path(
        "dashboard/functions/<path:function_name>/",
        dashboard.dashboard_function,
        name="dashboard_function",
    ),
    path("<str:trace_id>/", explorer.trace_detail, name="detail"),
    path("<str:trace_id>/spans/<str:span_id>/", explorer.span_detail, name="span"),
    path("<str:trace_id>/add-to-dataset/", explorer.trace_add_to_dataset, name="add_to_dataset"),
    path("<str:trace_id>/send-to-queue/", explorer.trace_send_to_queue, name="send_to_queue"),
    path("<str:trace_id>/verdict/", explorer.trace_verdict, name="verdict"),
]
