from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from apps.core.tenancy import TeamOwned

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lowercase letters, digits and hyphens, not starting or ending with a hyphen.",
)


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    ANNOTATOR = "annotator", "Annotator"
    VIEWER = "viewer", "Viewer"


# Team-level permissions; each role is granted a fixed set of them on its team.
PERM_VIEW = "teams.view_team"
PERM_ANNOTATE = "teams.annotate_team"
PERM_EDIT = "teams.edit_team_content"
PERM_ADMIN = "teams.admin_team"
PERM_OWN = "teams.own_team"

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.OWNER: [PERM_VIEW, PERM_ANNOTATE, PERM_EDIT, PERM_ADMIN, PERM_OWN],
    Role.ADMIN: [PERM_VIEW, PERM_ANNOTATE, PERM_EDIT, PERM_ADMIN],
    Role.EDITOR: [PERM_VIEW, PERM_ANNOTATE, PERM_EDIT],
    Role.ANNOTATOR: [PERM_VIEW, PERM_ANNOTATE],
    Role.VIEWER: [PERM_VIEW],
}


class Team(models.Model):
    """The tenant."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True, validators=[slug_validator])
    protected_tags = models.JSONField(default=list, blank=True)
    trace_retention_days = models.PositiveIntegerField(default=30)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        permissions = [
            ("annotate_team", "Annotate items of the team"),
            ("edit_team_content", "Create and edit prompts, datasets and experiments"),
            ("admin_team", "Manage members, keys, providers and protected tags"),
            ("own_team", "Own the team"),
        ]

    def __str__(self):
        return self.name

    def is_protected_tag(self, tag_name: str) -> bool:
        return tag_name in (self.protected_tags or [])


class TeamUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Team, on_delete=models.CASCADE)


class TeamGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Team, on_delete=models.CASCADE)


class Membership(TeamOwned):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique_user")
        ]

    def __str__(self):
        return f"{self.user.email} ({self.role})"

    def allows(self, perm: str) -> bool:
        """Whether this role grants the team permission `perm` (no query)."""
        return perm in ROLE_PERMISSIONS.get(self.role, [])


class TeamRoleGroup(TeamOwned):
    """The auth Group that carries one role's permissions on one team."""

    role = models.CharField(max_length=20, choices=Role.choices)
    group = models.OneToOneField("auth.Group", on_delete=models.CASCADE, related_name="team_role")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "role"], name="team_role_group_unique")
        ]


class Invite(TeamOwned):
    token_hash = models.CharField(max_length=64, unique=True)
    email = models.EmailField(blank=True)
    role = models.CharField(max_length=20, choices=Role.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Invite as {self.role}" + (f" for {self.email}" if self.email else "")

    @staticmethod
    def hash_token(token: str) -> str:
        """What is stored of an invite link's token: a leaked table holds no usable link."""
        return hashlib.sha256(token.encode()).hexdigest()

    @property
    def is_usable(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class ApiKeyScope(models.TextChoices):
    PROMPTS_READ = "prompts:read", "Read prompts"
    PROMPTS_WRITE = "prompts:write", "Write prompts"
    DATASETS_WRITE = "datasets:write", "Write datasets"
    EXPERIMENTS_WRITE = "experiments:write", "Run experiments"
    TRACES_WRITE = "traces:write", "Send traces"
    ANNOTATIONS_WRITE = "annotations:write", "Write annotations"
    ADMIN = "admin", "Administer the team"


class ApiKey(TeamOwned):
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    hashed_key = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    environment = models.CharField(max_length=40, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        # `admin` covers every scope of the team.
        return scope in self.scopes or ApiKeyScope.ADMIN in self.scopes


class AuditEvent(TeamOwned):
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    verb = models.CharField(max_length=80, db_index=True)
    target_type = models.CharField(max_length=80, db_index=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "-created_at"], name="audit_team_time")]
