"""The Hub's REST API: the same services as the pages. Versions have no update route.

GET /prompts/ and GET /prompts/<name>/ are the serving views (apps.prompts.api_serving);
they hand the list (without ?tag) and every write method to the views here.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.prompts import selectors, services
from apps.prompts.gates import approval_blockers
from apps.prompts.models import Kind, PromotionRequest, PromotionStatus, PromptVersion, TagEvent
from apps.teams.api_base import TeamGenericAPIView

READ = "prompts:read"
WRITE = "prompts:write"


# --- serializers -------------------------------------------------------------------


class PromptSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    owner = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    version_count = serializers.IntegerField(read_only=True, required=False)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_owner(self, prompt) -> str | None:
        return prompt.owner.email if prompt.owner_id else None

    def get_tags(self, prompt) -> dict[str, int]:
        tag_map = getattr(prompt, "tag_map", None)
        if tag_map is None:
            tag_map = {t.name: t.version.number for t in selectors.tags_of(prompt)}
        return tag_map


class PromptCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class PromptUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(allow_blank=True)


class MessageField(serializers.DictField):
    """{"role": "system"|"user"|"assistant", "content": str} or {"role": "placeholder", "name": str}."""


class VersionSerializer(serializers.ModelSerializer):
    prompt = serializers.CharField(source="prompt.name", read_only=True)
    author = serializers.CharField(source="author_label", read_only=True)
    parent = serializers.SerializerMethodField()
    messages = serializers.ListField(child=MessageField())

    class Meta:
        model = PromptVersion
        fields = [
            "prompt",
            "number",
            "kind",
            "template",
            "messages",
            "variables",
            "variables_schema",
            "model_settings",
            "commit_message",
            "author",
            "parent",
            "content_hash",
            "created_at",
        ]
        read_only_fields = fields

    def get_parent(self, version) -> int | None:
        return version.parent.number if version.parent_id else None


class VersionCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices, default=Kind.TEXT)
    template = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False
    )
    messages = serializers.ListField(child=MessageField(), required=False, default=list)
    variables_schema = serializers.DictField(required=False, default=dict)
    model_settings = serializers.DictField(required=False, default=dict)
    commit_message = serializers.CharField(max_length=500)
    parent = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Parent version number."
    )


class TagSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField(source="version.number")
    protected = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField()

    def get_protected(self, tag) -> bool:
        return self.context["team"].is_protected_tag(tag.name)


class TagMoveSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="Version number to point the tag at.")
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class TagEventSerializer(serializers.ModelSerializer):
    from_version = serializers.SerializerMethodField()
    to_version = serializers.IntegerField(source="to_version.number")
    actor = serializers.CharField(source="actor_label")
    approver = serializers.SerializerMethodField()

    class Meta:
        model = TagEvent
        fields = [
            "id",
            "tag_name",
            "from_version",
            "to_version",
            "actor",
            "approver",
            "promotion",
            "reason",
            "is_rollback",
            "is_emergency",
            "created_at",
        ]
        read_only_fields = fields

    def get_from_version(self, event) -> int | None:
        return event.from_version.number if event.from_version_id else None

    def get_approver(self, event) -> str | None:
        return event.approver.email if event.approver_id else None


class PromotionSerializer(serializers.ModelSerializer):
    prompt = serializers.CharField(source="prompt.name")
    candidate = serializers.IntegerField(source="candidate.number")
    current_version = serializers.SerializerMethodField()
    requester = serializers.CharField(source="requester_label")
    reviewer = serializers.CharField(source="reviewer_label")
    blocked_reasons = serializers.SerializerMethodField(
        help_text="Why the tag's policy refuses approval now (empty: approval is allowed)."
    )

    class Meta:
        model = PromotionRequest
        fields = [
            "id",
            "prompt",
            "tag_name",
            "candidate",
            "current_version",
            "description",
            "evidence",
            "status",
            "requester",
            "reviewer",
            "review_comment",
            "created_at",
            "reviewed_at",
            "closed_at",
            "blocked_reasons",
        ]
        read_only_fields = fields

    def get_current_version(self, request) -> int | None:
        return request.current_version.number if request.current_version_id else None

    def get_blocked_reasons(self, request) -> list[str]:
        if request.status != PromotionStatus.OPEN:
            return []
        return approval_blockers(request)


class PromotionCreateSerializer(serializers.Serializer):
    prompt = serializers.CharField(help_text="Prompt name.")
    tag_name = serializers.CharField(default="production")
    candidate = serializers.IntegerField(help_text="Candidate version number.")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    evidence = serializers.ListField(
        child=serializers.IntegerField(), required=False, default=list, help_text="Experiment ids."
    )


class ReviewSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


def _valid(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class _HubView(TeamGenericAPIView):
    read_scope = READ
    write_scope = WRITE


# --- prompts -----------------------------------------------------------------------


class PromptListCreateView(_HubView):
    serializer_class = PromptSerializer

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="Search name and description.")],
        responses=PromptSerializer(many=True),
    )
    def get(self, request, *args, **kwargs):
        prompts = selectors.prompt_list(search=request.query_params.get("q", ""))
        page = self.paginate_queryset(prompts)
        return self.get_paginated_response(PromptSerializer(page, many=True).data)

    @extend_schema(request=PromptCreateSerializer, responses={201: PromptSerializer})
    def post(self, request, *args, **kwargs):
        data = _valid(PromptCreateSerializer, request)
        prompt = services.prompt_create(team=self.team, actor=self.actor, **data)
        return Response(PromptSerializer(prompt).data, status=status.HTTP_201_CREATED)


class PromptDetailView(_HubView):
    """Write methods on /prompts/<name>/ (GET there is the serving view)."""

    serializer_class = PromptSerializer

    @extend_schema(request=PromptUpdateSerializer, responses=PromptSerializer)
    def patch(self, request, prompt_name: str, *args, **kwargs):
        prompt = selectors.prompt_get(prompt_name)
        data = _valid(PromptUpdateSerializer, request)
        prompt = services.prompt_update(
            team=self.team, actor=self.actor, prompt=prompt, description=data["description"]
        )
        return Response(PromptSerializer(prompt).data)


# --- versions ----------------------------------------------------------------------


class VersionListCreateView(_HubView):
    serializer_class = VersionSerializer

    @extend_schema(responses=VersionSerializer(many=True))
    def get(self, request, prompt_name: str):
        prompt = selectors.prompt_get(prompt_name)
        versions = selectors.versions_of(prompt).select_related("parent", "prompt")
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(VersionSerializer(page, many=True).data)

    @extend_schema(request=VersionCreateSerializer, responses={201: VersionSerializer})
    def post(self, request, prompt_name: str):
        prompt = selectors.prompt_get(prompt_name)
        data = dict(_valid(VersionCreateSerializer, request))
        parent_number = data.pop("parent")
        parent = selectors.version_get(prompt, parent_number) if parent_number else None
        version = services.version_create(
            team=self.team, actor=self.actor, prompt=prompt, parent=parent, **data
        )
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class VersionDetailView(_HubView):
    """Read only: a saved version never changes (no PUT, PATCH or DELETE)."""

    serializer_class = VersionSerializer

    @extend_schema(responses=VersionSerializer)
    def get(self, request, prompt_name: str, version_number: int):
        prompt = selectors.prompt_get(prompt_name)
        return Response(VersionSerializer(selectors.version_get(prompt, version_number)).data)


# --- tags --------------------------------------------------------------------------


class TagListView(_HubView):
    serializer_class = TagSerializer
    pagination_class = None

    @extend_schema(responses=TagSerializer(many=True))
    def get(self, request, prompt_name: str):
        prompt = selectors.prompt_get(prompt_name)
        tags = selectors.tags_of(prompt)
        return Response(TagSerializer(tags, many=True, context={"team": self.team}).data)


class _TagChangeView(_HubView):
    """POST {version, reason}: one tag change through `tag_service`; 201 with the event."""

    serializer_class = TagEventSerializer
    tag_service = None

    @extend_schema(request=TagMoveSerializer, responses={201: TagEventSerializer})
    def post(self, request, prompt_name: str, tag_name: str):
        prompt = selectors.prompt_get(prompt_name)
        data = _valid(TagMoveSerializer, request)
        version = selectors.version_get(prompt, data["version"])
        event = self.tag_service(
            team=self.team,
            actor=self.actor,
            prompt=prompt,
            tag_name=tag_name,
            version=version,
            reason=data["reason"],
        )
        return Response(TagEventSerializer(event).data, status=status.HTTP_201_CREATED)


class TagMoveView(_TagChangeView):
    """Move an unprotected tag. Protected tags answer 403: request a promotion."""

    tag_service = staticmethod(services.tag_move)


class TagRollbackView(_TagChangeView):
    """Move a tag back to a version it pointed at before. On a protected tag: owners and
    admins (API keys: admin scope) only, with a mandatory reason."""

    tag_service = staticmethod(services.tag_rollback)


class TagHistoryView(_HubView):
    serializer_class = TagEventSerializer

    @extend_schema(responses=TagEventSerializer(many=True))
    def get(self, request, prompt_name: str, tag_name: str | None = None):
        prompt = selectors.prompt_get(prompt_name)
        events = selectors.tag_history(prompt, tag_name)
        page = self.paginate_queryset(events)
        return self.get_paginated_response(TagEventSerializer(page, many=True).data)


# --- promotion requests ------------------------------------------------------------


class PromotionListCreateView(_HubView):
    serializer_class = PromotionSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=PromotionStatus.values),
            OpenApiParameter("prompt", str, description="Prompt name."),
        ],
        responses=PromotionSerializer(many=True),
    )
    def get(self, request):
        prompt_name = request.query_params.get("prompt")
        prompt = selectors.prompt_get(prompt_name) if prompt_name else None
        qs = selectors.promotions(prompt=prompt, status=request.query_params.get("status"))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(PromotionSerializer(page, many=True).data)

    @extend_schema(request=PromotionCreateSerializer, responses={201: PromotionSerializer})
    def post(self, request):
        data = _valid(PromotionCreateSerializer, request)
        prompt = selectors.prompt_get(data["prompt"])
        candidate = selectors.version_get(prompt, data["candidate"])
        promotion = services.promotion_request_create(
            team=self.team,
            actor=self.actor,
            prompt=prompt,
            tag_name=data["tag_name"],
            candidate=candidate,
            description=data["description"],
            evidence=data["evidence"],
        )
        return Response(PromotionSerializer(promotion).data, status=status.HTTP_201_CREATED)


class PromotionDetailView(_HubView):
    serializer_class = PromotionSerializer

    @extend_schema(responses=PromotionSerializer)
    def get(self, request, promotion_id: int):
        return Response(PromotionSerializer(selectors.promotion_get(promotion_id)).data)


class _PromotionDecisionView(_HubView):
    serializer_class = PromotionSerializer
    decision = ""

    @extend_schema(request=ReviewSerializer, responses=PromotionSerializer)
    def post(self, request, promotion_id: int):
        promotion = selectors.promotion_get(promotion_id)
        comment = _valid(ReviewSerializer, request)["comment"]
        if self.decision == "approve":
            promotion = services.promotion_approve(
                team=self.team, actor=self.actor, promotion=promotion, comment=comment
            )
        elif self.decision == "reject":
            promotion = services.promotion_reject(
                team=self.team, actor=self.actor, promotion=promotion, comment=comment
            )
        else:
            promotion = services.promotion_cancel(
                team=self.team, actor=self.actor, promotion=promotion
            )
        return Response(PromotionSerializer(selectors.promotion_get(promotion.pk)).data)


class PromotionApproveView(_PromotionDecisionView):
    """Approve and move the tag. 409 when the tag moved since the request (superseded)."""

    decision = "approve"


class PromotionRejectView(_PromotionDecisionView):
    decision = "reject"


class PromotionCancelView(_PromotionDecisionView):
    decision = "cancel"
