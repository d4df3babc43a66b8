# Mounted twice by config/urls.py: /api/v1/ (team from the key) and /api/v1/t/<team_slug>/.
from django.urls import path

from apps.teams import api

urlpatterns = [
    path("members/", api.MemberListAPI.as_view(), name="members"),
    path("api-keys/", api.ApiKeyListAPI.as_view(), name="api_keys"),
    path("api-keys/<int:key_id>/revoke/", api.ApiKeyRevokeAPI.as_view(), name="api_key_revoke"),
    path("invites/", api.InviteListAPI.as_view(), name="invites"),
    path("invites/<int:invite_id>/revoke/", api.InviteRevokeAPI.as_view(), name="invite_revoke"),
    path("audit-events/", api.AuditEventListAPI.as_view(), name="audit_events"),
    path("limits/", api.TeamLimitsAPI.as_view(), name="limits"),
]
