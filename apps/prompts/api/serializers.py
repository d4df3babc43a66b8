"""What the Hub's API reads and writes: one serializer per shape."""

from __future__ import annotations

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.errors import ValidationFailed
from apps.prompts import gates, selectors
from apps.prompts.gates import approval_blockers
from apps.prompts.models import (
    Kind,
    PromotionRequest,
    PromotionStatus,
    PromptVersion,
    Rollout,
    TagEvent,
)
from apps.prompts.validators import PROMPT_NAME_RE, PROMPT_NAME_RULE


class PromptSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    owner = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    version_count = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_owner(self, prompt) -> str | None:
        return prompt.owner.email if prompt.owner_id else None

    def get_version_count(self, prompt) -> int:
        count = getattr(prompt, "version_count", None)  # annotated by prompt_list
        return selectors.version_count(prompt) if count is None else count

    def get_tags(self, prompt) -> dict[str, int]:
        tag_map = getattr(prompt, "tag_map", None)
        if tag_map is None:
            tag_map = {t.name: t.version.number for t in selectors.tags_of(prompt)}
        return tag_map


class PromptCreateSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=100,
        validators=[RegexValidator(PROMPT_NAME_RE, message=PROMPT_NAME_RULE)],
        help_text=PROMPT_NAME_RULE,
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class PromptUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(allow_blank=True, required=False)


class MessageField(serializers.DictField):
    """{"role": "system"|"user"|"assistant", "content": str} or {"role": "placeholder", "name": str}."""


class VersionSerializer(serializers.ModelSerializer):
    prompt = serializers.CharField(source="prompt.name", read_only=True)
    author = serializers.CharField(source="author_label", read_only=True)
    # A field named like Field.parent, which the stubs type as the parent serializer.
    parent = serializers.SerializerMethodField()  # type: ignore[assignment]
    messages = serializers.ListField(child=MessageField())
    steps = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta:
        model = PromptVersion
        fields = [
            "prompt",
            "number",
            "kind",
            "template",
            "messages",
            "steps",
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


class DiffSectionSerializer(serializers.Serializer):
    title = serializers.CharField(help_text="Prompt (the content) or Settings (the model's).")
    same = serializers.BooleanField()
    unified = serializers.CharField(help_text="A unified diff (empty when the same).")


class VersionDiffSerializer(serializers.Serializer):
    prompt = serializers.CharField()
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    sections = DiffSectionSerializer(many=True)


class VersionCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices, default=Kind.TEXT)
    template = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False
    )
    messages = serializers.ListField(child=MessageField(), required=False, default=list)
    steps = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        default=list,
        help_text="A chain's steps: {name, prompt, version | tag, inputs: {variable: template}}.",
    )
    variables_schema = serializers.DictField(required=False, default=dict)
    model_settings = serializers.DictField(required=False, default=dict)
    commit_message = serializers.CharField(max_length=500)
    parent = serializers.IntegerField(  # type: ignore[assignment]  # named like Field.parent
        required=False, allow_null=True, default=None, help_text="Parent version number."
    )


class TagSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField(source="version.number")
    protected = serializers.SerializerMethodField()
    immutable = serializers.BooleanField(help_text="A frozen release label: it never moves.")
    updated_at = serializers.DateTimeField()

    def get_protected(self, tag) -> bool:
        return self.context["team"].is_protected_tag(tag.name)


class TagMoveSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="Version number to point the tag at.")
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class TagCreateSerializer(TagMoveSerializer):
    immutable = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Create the tag as a frozen release label: once it points at this version "
        "it never moves (only a new tag can be created frozen).",
    )


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
            "rollout",
            "rollout_percent",
            "created_at",
        ]
        read_only_fields = fields

    def get_from_version(self, event) -> int | None:
        return event.from_version.number if event.from_version_id else None

    def get_approver(self, event) -> str | None:
        return event.approver.email if event.approver_id else None


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": gates.MAX_ID},
            {"type": "string", "pattern": "^[a-z_]{1,40}:[0-9]{1,19}$"},
        ],
        "description": "An experiment by its id (12), or other evidence by reference "
        '("optimisation:7": an optimisation run).',
    }
)
class EvidenceRefField(serializers.Field):
    """One piece of a promotion request's evidence (apps.prompts.gates.evidence_refs)."""

    def to_internal_value(self, data):
        try:
            return gates.evidence_refs([data])[0]
        except ValidationFailed as exc:
            raise serializers.ValidationError(exc.message) from None

    def to_representation(self, value):
        return value


class PromotionSerializer(serializers.ModelSerializer):
    prompt = serializers.CharField(source="prompt.name")
    candidate = serializers.IntegerField(source="candidate.number")
    current_version = serializers.SerializerMethodField()
    requester = serializers.CharField(source="requester_label")
    reviewer = serializers.CharField(source="reviewer_label")
    evidence = serializers.ListField(child=EvidenceRefField())
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
            "rollout_percent",
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
        child=EvidenceRefField(),
        required=False,
        default=list,
        help_text="Experiment ids, and references to other evidence such as an optimisation "
        'run ("optimisation:7") that started from the version at the tag and found the '
        "candidate.",
    )
    rollout_percent = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Ask for a rollout instead of a move: serve the candidate to this share of "
        "traffic (1-99 %), stepped up later; 100 % completes the move.",
    )


class ReviewSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class RolloutSerializer(serializers.ModelSerializer):
    prompt = serializers.CharField(source="prompt.name")
    current_version = serializers.IntegerField(source="base.number")
    candidate = serializers.IntegerField(source="candidate.number")
    current_percent = serializers.IntegerField(source="base_percent")
    status = serializers.CharField()

    class Meta:
        model = Rollout
        fields = [
            "id",
            "prompt",
            "tag_name",
            "current_version",
            "candidate",
            "percent",
            "current_percent",
            "status",
            "promotion",
            "started_by_label",
            "guardrail_margin",
            "guardrail_score",
            "created_at",
            "updated_at",
            "ended_at",
            "end_reason",
        ]
        read_only_fields = fields


class RolloutDetailSerializer(RolloutSerializer):
    comparison = serializers.DictField(
        allow_null=True,
        read_only=True,
        help_text="The arms measured from production traces (null when no measure is "
        "installed): arms, error_rate_difference, latency_difference_ms, cost_difference, "
        "error_verdict, guardrail.",
    )

    class Meta(RolloutSerializer.Meta):
        fields = [*RolloutSerializer.Meta.fields, "comparison"]
        read_only_fields = fields


class RolloutStartSerializer(serializers.Serializer):
    candidate = serializers.IntegerField(help_text="Candidate version number.")
    percent = serializers.IntegerField(help_text="Share of traffic for the candidate, 1-99.")
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    guardrail_margin = serializers.FloatField(
        required=False,
        allow_null=True,
        default=0.02,
        help_text="Abort by itself when the candidate's error rate is worse by more than this "
        "fraction, with significance; null: no guardrail.",
    )
    guardrail_score = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=100,
        help_text="A score name on the arms' traces the guardrail also watches: abort when "
        "the candidate's pass rate (boolean) or mean (number) is lower beyond the margin.",
    )


class RolloutGuardrailSerializer(serializers.Serializer):
    guardrail_margin = serializers.FloatField(
        allow_null=True,
        help_text="Fraction (0.02 = two points of an error or pass rate); null: no guardrail.",
    )
    guardrail_score = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100
    )


class RolloutStepSerializer(serializers.Serializer):
    percent = serializers.IntegerField(help_text="The new share, above the current; 100 moves.")
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class RolloutAbortSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")
