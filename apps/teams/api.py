"""Team administration over the API: members, API keys, the audit trail.

Thin views over the same services and selectors as the settings pages. An API key needs
the `admin` scope for every one of them."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.query import query_params
from apps.teams import selectors, services
from apps.teams.api_base import TeamGenericAPIView
from apps.teams.models import ApiKey, ApiKeyScope, AuditEvent, Invite, Membership, Role
from apps.teams.throttles import TEAM_LIMITS, limits_of


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "role", "created_at"]


class ApiKeySerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(
        source="created_by.email",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="The person the key acts for (a key made with a key: that key's person).",
    )
    effective_scopes = serializers.SerializerMethodField(
        help_text="What the key may do now: its scopes (with what they include), narrowed "
        "to its person's current role; empty once the person left the team."
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "environment",
            "created_by",
            "created_with_key",
            "effective_scopes",
            "created_at",
            "last_used_at",
            "revoked_at",
            "revoked_reason",
        ]
        read_only_fields = fields

    def get_effective_scopes(self, key) -> list[str]:
        return sorted(key.effective_scopes) if key.is_active else []


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKeyScope.choices), min_length=1
    )
    environment = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(
        read_only=True, help_text="The full key. Shown only in this response."
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


@extend_schema_field({"type": "string", "anyOf": [{"format": "email"}, {"maxLength": 0}]})
class InviteEmailField(serializers.CharField):
    """The invited address, or empty for a link anyone signed in may use."""


class InviteSerializer(serializers.ModelSerializer):
    email = InviteEmailField(
        read_only=True, help_text="The invited address; empty for a link-only invite."
    )
    created_by = serializers.EmailField(
        source="created_by.email", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Invite
        fields = [
            "id",
            "email",
            "anyone_with_link",
            "use_limit",
            "use_count",
            "role",
            "created_by",
            "created_at",
            "expires_at",
            "accepted_at",
            "revoked_at",
        ]
        read_only_fields = fields


class InviteCreateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
    email = serializers.EmailField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Who the invite is for: only an account with this verified address can "
        "accept it. Required unless anyone_with_link.",
    )
    anyone_with_link = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Owners only (never an API key): an invite naming no one, which admits "
        "whoever holds the link, up to use_limit people before it expires.",
    )
    use_limit = serializers.IntegerField(
        required=False, default=1, min_value=1, max_value=services.INVITE_LINK_MAX_USES
    )
    expires_in = serializers.ChoiceField(
        choices=list(services.INVITE_LINK_LIFETIMES),
        required=False,
        default=services.INVITE_LINK_DEFAULT_LIFETIME,
        help_text="How long an anyone-with-the-link invite works (email invites: 7 days).",
    )


class InviteCreatedSerializer(InviteSerializer):
    link = serializers.URLField(
        read_only=True, help_text="The invite link. Shown only in this response."
    )

    class Meta(InviteSerializer.Meta):
        fields = [*InviteSerializer.Meta.fields, "link"]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor_label",
            "actor_user",
            "actor_api_key",
            "verb",
            "target_type",
            "target_id",
            "target_label",
            "before",
            "after",
        ]
        read_only_fields = fields


class MemberFilters(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.values, required=False)


class MemberListAPI(TeamGenericAPIView):
    """The team's members and their roles."""

    read_scope = ApiKeyScope.ADMIN
    serializer_class = MemberSerializer

    def get_queryset(self):
        return selectors.members_list(team=self.team, actor=self.actor)

    @extend_schema(parameters=[MemberFilters], responses=MemberSerializer(many=True))
    def get(self, request):
        filters = query_params(MemberFilters, request)
        members = selectors.members_list(
            team=self.team, actor=self.actor, role=filters.get("role", "")
        )
        page = self.paginate_queryset(members)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class ApiKeyListAPI(TeamGenericAPIView):
    """List the team's API keys (never their secrets) or create one."""

    read_scope = ApiKeyScope.ADMIN
    write_scope = ApiKeyScope.ADMIN
    serializer_class = ApiKeySerializer

    def get_queryset(self):
        return selectors.api_keys_list(team=self.team, actor=self.actor)

    @extend_schema(responses=ApiKeySerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def post(self, request):
        body = ApiKeyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key, secret = services.api_key_create(
            team=self.team, actor=self.actor, **body.validated_data
        )
        key.key = secret
        return Response(ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)


class ApiKeyRevokeAPI(TeamGenericAPIView):
    """Revoke a key: requests using it get 401 from now on."""

    write_scope = ApiKeyScope.ADMIN
    serializer_class = ApiKeySerializer

    @extend_schema(request=None, responses=ApiKeySerializer)
    def post(self, request, key_id: int):
        key = selectors.api_key_get(key_id)
        key = services.api_key_revoke(team=self.team, actor=self.actor, key=key)
        return Response(ApiKeySerializer(key).data)


class InviteListAPI(TeamGenericAPIView):
    """List the team's pending invites (never their links) or create one."""

    read_scope = ApiKeyScope.ADMIN
    write_scope = ApiKeyScope.ADMIN
    serializer_class = InviteSerializer

    def get_queryset(self):
        return selectors.invites_pending(team=self.team, actor=self.actor)

    @extend_schema(responses=InviteSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=InviteCreateSerializer, responses={201: InviteCreatedSerializer})
    def post(self, request):
        body = InviteCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)

        def link_for(token: str) -> str:
            return request.build_absolute_uri(reverse("team_account:invite_accept", args=[token]))

        invite, token = services.invite_create(
            team=self.team, actor=self.actor, accept_url_for=link_for, **body.validated_data
        )
        invite.link = link_for(token)
        return Response(InviteCreatedSerializer(invite).data, status=status.HTTP_201_CREATED)


class InviteRevokeAPI(TeamGenericAPIView):
    """Revoke a pending invite: its link stops working."""

    write_scope = ApiKeyScope.ADMIN
    serializer_class = InviteSerializer
    conflict_methods = ("post",)  # an accepted invite is not revoked

    @extend_schema(request=None, responses=InviteSerializer)
    def post(self, request, invite_id: int):
        invite = selectors.invite_get(invite_id)
        services.invite_revoke(team=self.team, actor=self.actor, invite=invite)
        return Response(InviteSerializer(invite).data)


class AuditEventFilters(serializers.Serializer):
    """The settings page's filters (AuditFilterForm), as query parameters."""

    actor = serializers.CharField(
        required=False, allow_blank=True, help_text="user:<id>, key:<id> or label text"
    )
    verb = serializers.CharField(required=False, allow_blank=True)
    target_type = serializers.CharField(required=False, allow_blank=True)
    date_from = serializers.DateField(required=False, help_text="Inclusive.")
    date_to = serializers.DateField(required=False, help_text="Inclusive.")


class AuditEventListAPI(TeamGenericAPIView):
    """The audit trail, newest first, with the same filters as the settings page."""

    read_scope = ApiKeyScope.ADMIN
    serializer_class = AuditEventSerializer

    @extend_schema(parameters=[AuditEventFilters], responses=AuditEventSerializer(many=True))
    def get(self, request):
        filters = query_params(AuditEventFilters, request)
        events = selectors.audit_events(
            team=self.team, actor=self.actor, filters=selectors.AuditFilters(**filters)
        )
        page = self.paginate_queryset(events)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class TeamLimitSerializer(serializers.Serializer):
    name = serializers.CharField()
    field = serializers.CharField(help_text="The field to PATCH to set this team's own.")
    label = serializers.CharField()  # type: ignore[assignment]  # (Field has a .label)
    unit = serializers.CharField()
    override = serializers.IntegerField(allow_null=True, help_text="This team's own, if set.")
    default = serializers.IntegerField(help_text="The deployment's default.")
    ceiling = serializers.IntegerField(help_text="The most an owner may set.")
    effective = serializers.CharField()
    burst = serializers.IntegerField()


class TeamLimitsUpdateSerializer(serializers.Serializer):
    """Each field optional; null goes back to the default."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for limit in TEAM_LIMITS:
            self.fields[limit.field] = serializers.IntegerField(
                required=False, allow_null=True, min_value=1, max_value=limit.ceiling()
            )


class TeamLimitsAPI(TeamGenericAPIView):
    """The team's rate limits; owners (signed in: keys are never owners) PATCH their own."""

    read_scope = ApiKeyScope.ADMIN
    write_scope = ApiKeyScope.ADMIN
    serializer_class = TeamLimitSerializer
    pagination_class = None

    @extend_schema(responses=TeamLimitSerializer(many=True))
    def get(self, request):
        return Response(TeamLimitSerializer(limits_of(self.team), many=True).data)

    @extend_schema(request=TeamLimitsUpdateSerializer, responses=TeamLimitSerializer(many=True))
    def patch(self, request):
        body = TeamLimitsUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        team = services.team_set_limits(
            team=self.team, actor=self.actor, limits=body.validated_data
        )
        return Response(TeamLimitSerializer(limits_of(team), many=True).data)
