from django.urls import path

from apps.traces import api, api_functions, api_online, api_scores

urlpatterns = [
    path("traces/", api.TraceListAPI.as_view(), name="traces-list"),
    path("traces/<str:trace_id>/", api.TraceDetailAPI.as_view(), name="traces-detail"),
    path("scores/", api_scores.ScoreListAPI.as_view(), name="scores-list"),
    path("online-rules/", api_online.OnlineRuleListAPI.as_view(), name="online-rules"),
    path(
        "online-rules/<int:rule_id>/",
        api_online.OnlineRuleDetailAPI.as_view(),
        name="online-rule",
    ),
    path(
        "online-rules/<int:rule_id>/pause/",
        api_online.OnlineRulePauseAPI.as_view(),
        name="online-rule-pause",
    ),
    path("dashboard/", api_online.DashboardAPI.as_view(), name="dashboard"),
    path(
        "functions/<path:function_name>/versions/",
        api_functions.FunctionVersionListAPI.as_view(),
        name="function-versions",
    ),
    path(
        "functions/<path:function_name>/versions/<int:number>/",
        api_functions.FunctionVersionDetailAPI.as_view(),
        name="function-version-detail",
    ),
]
