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
    # Rate limits an owner set for this team (apps.teams.throttles); empty: the
    # deployment's default. Read with the team (no query of their own on hot paths).
    limit_api_per_minute = models.PositiveIntegerField(null=True, blank=True)
    limit_api_key_per_minute = models.PositiveIntegerField(null=True, blank=True)
    limit_serving_per_second = models.PositiveIntegerField(null=True, blank=True)
    limit_trace_spans_per_second = models.PositiveIntegerField(null=True, blank=True)
    limit_trace_bytes_per_second = models.PositiveBigIntegerField(null=True, blank=True)
    # What a version saved without a model runs with (apps.llm.defaults). Named by string:
    # the provider lives in a higher layer, which sets and reads these two fields.
    default_provider = models.ForeignKey(
        "llm.ProviderConfig",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    default_model = models.CharField(max_length=200, blank=True)
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
    """A link to join the team with a role.

    An email invite is for one person: only a signed-in account whose verified address is
    `email` can accept it, once. An anyone-with-the-link invite names no one: an owner's
    deliberate choice, it admits whoever holds the link, up to `use_limit` people before
    `expires_at`, and says so wherever it is shown.
    """

    token_hash = models.CharField(max_length=64, unique=True)
    email = models.EmailField(blank=True)
    anyone_with_link = models.BooleanField(default=False)
    role = models.CharField(max_length=20, choices=Role.choices)
    use_limit = models.PositiveSmallIntegerField(default=1)
    use_count = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # The latest person to accept it (the only one, for an email invite).
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Either addressed to one email and used once, or explicitly anyone's.
            models.CheckConstraint(
                condition=(models.Q(anyone_with_link=False, use_limit=1) & ~models.Q(email=""))
                | models.Q(anyone_with_link=True, email=""),
                name="invite_email_or_anyone_with_link",
            ),
            models.CheckConstraint(
                condition=models.Q(use_limit__gte=1, use_count__lte=models.F("use_limit")),
                name="invite_uses_within_limit",
            ),
        ]

    def __str__(self):
        if self.anyone_with_link:
            uses = "1 use" if self.use_limit == 1 else f"up to {self.use_limit} uses"
            return f"Anyone-with-the-link invite as {self.role} ({uses})"
        return f"Invite as {self.role} for {self.email}"

    @staticmethod
    def hash_token(token: str) -> str:
        """What is stored of an invite link's token: a leaked table holds no usable link."""
        return hashlib.sha256(token.encode()).hexdigest()

    @property
    def uses_left(self) -> int:
        return max(self.use_limit - self.use_count, 0)

    @property
    def is_used_up(self) -> bool:
        return self.use_count >= self.use_limit

    @property
    def is_usable(self) -> bool:
        return not self.is_used_up and self.revoked_at is None and self.expires_at > timezone.now()


class ApiKeyScope(models.TextChoices):
    PROMPTS_READ = "prompts:read", "Read prompts"
    PROMPTS_WRITE = "prompts:write", "Write prompts"
    DATASETS_READ = "datasets:read", "Read datasets"
    DATASETS_WRITE = "datasets:write", "Write datasets"
    EXPERIMENTS_READ = "experiments:read", "Read experiments"
    EXPERIMENTS_WRITE = "experiments:write", "Run experiments"
    TRACES_READ = "traces:read", "Read traces"
    TRACES_WRITE = "traces:write", "Send traces"
    ANNOTATIONS_READ = "annotations:read", "Read annotations"
    ANNOTATIONS_WRITE = "annotations:write", "Write annotations"
    ADMIN = "admin", "Administer the team"


# One line per scope, shown beside it on the key form.
SCOPE_HELP: dict[str, str] = {
    ApiKeyScope.PROMPTS_READ: "Fetch prompts by tag or version (the SDK), list versions, tags, "
    "history, promotion requests and playground runs.",
    ApiKeyScope.PROMPTS_WRITE: "Create prompts and versions, move tags, request promotions. "
    "Includes prompts:read.",
    ApiKeyScope.DATASETS_READ: "List datasets, read their examples and revisions, export them.",
    ApiKeyScope.DATASETS_WRITE: "Create, edit, import and delete datasets and examples. "
    "Includes datasets:read.",
    ApiKeyScope.EXPERIMENTS_READ: "Read experiments, results, comparisons, evaluators and the "
    "team's model providers.",
    ApiKeyScope.EXPERIMENTS_WRITE: "Create, start, cancel and resume experiments "
    "(promptyard eval) and manage evaluators. Includes experiments:read.",
    ApiKeyScope.TRACES_READ: "Search and read traces and their spans.",
    ApiKeyScope.TRACES_WRITE: "Send traces (OTLP at /v1/traces); does not read them back.",
    ApiKeyScope.ANNOTATIONS_READ: "Read annotation queues, their items and annotations.",
    ApiKeyScope.ANNOTATIONS_WRITE: "Fill and assign queues, annotate and decide items. "
    "Includes annotations:read.",
    ApiKeyScope.ADMIN: "Members, keys, invites, providers, the audit trail and promotion "
    "reviews; includes every other scope. Works only while its person is an admin.",
}

READ_SCOPES = frozenset(s for s in ApiKeyScope.values if s.endswith(":read"))
ALL_SCOPES = frozenset(ApiKeyScope.values)


# A write scope includes the read of its own area, except traces: an application sends
# traces with traces:write and must not read back everyone's.
WRITE_INCLUDES_READ = {
    ApiKeyScope.PROMPTS_WRITE: ApiKeyScope.PROMPTS_READ,
    ApiKeyScope.DATASETS_WRITE: ApiKeyScope.DATASETS_READ,
    ApiKeyScope.EXPERIMENTS_WRITE: ApiKeyScope.EXPERIMENTS_READ,
    ApiKeyScope.ANNOTATIONS_WRITE: ApiKeyScope.ANNOTATIONS_READ,
}


def implied_scopes(scopes) -> frozenset[str]:
    """What a list of scopes grants: `admin` every scope, a write scope the read of its
    area (WRITE_INCLUDES_READ)."""
    granted = set(scopes) & ALL_SCOPES
    if ApiKeyScope.ADMIN in granted:
        return ALL_SCOPES
    granted.update(WRITE_INCLUDES_READ[s] for s in list(granted) if s in WRITE_INCLUDES_READ)
    return frozenset(granted)


# The most a key can do for a person of each role (the lesser-of rule): a key never acts
# beyond what its person may do today. No key is an owner (see permissions.actor_can).
ROLE_SCOPES: dict[str, frozenset[str]] = {
    Role.OWNER: ALL_SCOPES,
    Role.ADMIN: ALL_SCOPES,
    Role.EDITOR: ALL_SCOPES - {ApiKeyScope.ADMIN},
    Role.ANNOTATOR: READ_SCOPES | {ApiKeyScope.ANNOTATIONS_WRITE},
    Role.VIEWER: READ_SCOPES,
}

_UNLOADED = object()


class ApiKey(TeamOwned):
    """A credential of one person in one team. It acts with the lesser of its scopes and
    that person's current role (`effective_scopes`), and only while the person is a member."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    hashed_key = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    environment = models.CharField(max_length=40, blank=True)
    # The person the key acts for: whoever created it, or, for a key created with another
    # key, that key's person. A key without one (its person was deleted) is refused.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_with_key = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def person_role(self) -> str | None:
        """The role of the key's person in the key's team now (None: no person, or not a
        member). Authentication loads it with the key (`member_role`, apps.teams.keys);
        otherwise it is read once per object."""
        role = self.__dict__.get("member_role", _UNLOADED)
        if role is _UNLOADED:
            role = None
            if self.created_by_id is not None:
                role = (
                    # Asked for the key's own team, inside or outside its scope.
                    Membership.objects.unscoped()
                    .filter(team_id=self.team_id, user_id=self.created_by_id)
                    .values_list("role", flat=True)
                    .first()
                )
            self.__dict__["member_role"] = role
        return role

    @property
    def effective_scopes(self) -> frozenset[str]:
        """The lesser of the key's scopes and its person's current role."""
        cached = self.__dict__.get("_effective_scopes")
        if cached is None:
            role = self.person_role
            allowed = ROLE_SCOPES.get(role, frozenset()) if role else frozenset()
            cached = implied_scopes(self.scopes) & allowed
            self.__dict__["_effective_scopes"] = cached
        return cached

    def has_scope(self, scope: str) -> bool:
        return scope in self.effective_scopes

    @property
    def scope_states(self) -> list[tuple[str, bool]]:
        """Each granted scope and whether the person's role lets it act now (the key list)."""
        return [(scope, scope in self.effective_scopes) for scope in self.scopes]


class AuditEvent(TeamOwned):
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    verb = models.CharField(max_length=80)
    target_type = models.CharField(max_length=80)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        # The trail's keyset pages, newest first, under each filter; team first like every
        # tenant index (so a filter never reads another team's rows, and the table can be
        # distributed by team). The (team, verb, …) and (team, target_type, …) ones also
        # serve the dropdowns' distinct values (apps.core.distinct).
        indexes = [
            models.Index(fields=["team", "-created_at", "-id"], name="audit_team_page"),
            models.Index(fields=["team", "verb", "-created_at", "-id"], name="audit_team_verb"),
            models.Index(
                fields=["team", "target_type", "-created_at", "-id"], name="audit_team_target"
            ),
            models.Index(
                fields=["team", "actor_user", "-created_at", "-id"], name="audit_team_user"
            ),
            models.Index(
                fields=["team", "actor_api_key", "-created_at", "-id"], name="audit_team_key"
            ),
        ]

    @property
    def actor_display(self) -> str:
        """Who acted, for the audit page: "Bob via key ci-bot" for a key's action."""
        user, key = self.actor_user, self.actor_api_key
        if key is not None and user is not None:
            return f"{user} via key {key.name}"
        return self.actor_label
