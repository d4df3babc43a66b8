# Pages about teams that sit outside any one team: create a team, accept an invite.
from django.urls import path

from apps.teams import views

app_name = "team_account"
urlpatterns = [
    path("new/", views.team_create_view, name="create"),
    path("invite/<str:token>/", views.invite_accept_view, name="invite_accept"),
]
