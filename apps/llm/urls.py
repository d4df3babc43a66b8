from django.urls import path

from apps.llm import views

app_name = "llm"
urlpatterns = [
    path("", views.provider_list, name="providers"),
    path("new/", views.provider_create, name="provider_create"),
    path("demo/", views.provider_add_demo, name="provider_add_demo"),
    path("defaults/", views.team_defaults, name="defaults"),
    path("<int:provider_id>/", views.provider_edit, name="provider_edit"),
    path("<int:provider_id>/test/", views.provider_test, name="provider_test"),
    path("<int:provider_id>/delete/", views.provider_delete, name="provider_delete"),
]
