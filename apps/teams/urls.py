from django.urls import path

from apps.teams import views

app_name = "teams"
urlpatterns = [
    path("", views.team_home, name="home"),
    path("settings/", views.team_settings, name="settings"),
]
