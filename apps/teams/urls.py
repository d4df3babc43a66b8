from django.urls import path

from apps.teams import views

app_name = "teams"
urlpatterns = [
    path("", views.team_home, name="home"),
    path("nav-counts/", views.nav_counts, name="nav_counts"),
    path("settings/", views.team_settings, name="settings"),
    path("settings/protected-tags/", views.settings_protected_tags, name="settings_protected_tags"),
    path("settings/retention/", views.settings_retention, name="settings_retention"),
    path("settings/limits/", views.settings_limits, name="settings_limits"),
    path("settings/members/", views.members, name="members"),
    path("settings/members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("settings/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("settings/invites/", views.invites, name="invites"),
    path("settings/invites/<int:invite_id>/revoke/", views.invite_revoke, name="invite_revoke"),
    path("settings/api-keys/", views.api_keys, name="api_keys"),
    path("settings/api-keys/<int:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("settings/audit/", views.audit, name="audit"),
]
