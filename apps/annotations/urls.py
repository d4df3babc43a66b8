from django.urls import path

from apps.annotations import views

app_name = "annotations"
urlpatterns = [
    path("", views.annotations_list, name="list"),
]
