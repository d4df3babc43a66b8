from django.urls import path

from apps.traces import views

app_name = "traces"
urlpatterns = [
    path("", views.traces_list, name="list"),
    path("functions/", views.functions_list, name="functions"),
    path("<str:trace_id>/", views.trace_detail, name="detail"),
    path("<str:trace_id>/spans/<str:span_id>/", views.span_detail, name="span"),
    path("<str:trace_id>/add-to-dataset/", views.trace_add_to_dataset, name="add_to_dataset"),
    path("<str:trace_id>/send-to-queue/", views.trace_send_to_queue, name="send_to_queue"),
]
