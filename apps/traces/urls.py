from django.urls import path

from apps.traces import views

app_name = "traces"
urlpatterns = [
    path("", views.traces_list, name="list"),
]
