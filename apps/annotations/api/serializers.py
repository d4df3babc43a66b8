"""What the annotation API reads and writes: queues, items, assignments, annotations,
agreement figures, and the dataset rows failures become."""

from __future__ import annotations

from rest_framework import serializers

from apps.annotations.models import (
    Annotation,
    AnnotationQueue,
    Assignment,
    ItemStatus,
    QueueItem,
)
from apps.annotations.selectors import item_verdict
from apps.annotations.services import ASSIGN_MODES, FILL_MODES, MAX_ANNOTATORS


class FormFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["label", "number", "text"])
    # Fields named like Field.label and Field.required, which the stubs type as such.
    label = serializers.CharField(required=False)  # type: ignore[assignment]
    required = serializers.BooleanField(required=False, default=False)  # type: ignore[assignment]
    choices = serializers.ListField(child=serializers.CharField(), required=False)
    min = serializers.FloatField(required=False, allow_null=True)
    max = serializers.FloatField(required=False, allow_null=True)


class QueueSerializer(serializers.ModelSerializer):
    created_by = serializers.SerializerMethodField()
    form_fields = FormFieldSerializer(many=True, read_only=True)
    total = serializers.IntegerField(read_only=True, required=False)
    done = serializers.IntegerField(read_only=True, required=False)
    disputed = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = AnnotationQueue
        fields = [
            "id",
            "name",
            "instructions",
            "form_fields",
            "annotators_per_item",
            "hide_auto_scores",
            "fail_needs_reasoning",
            "created_by",
            "created_at",
            "total",
            "done",
            "disputed",
        ]
        read_only_fields = fields

    def get_created_by(self, queue) -> str | None:
        return queue.created_by.email if queue.created_by_id else None


class QueueWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    instructions = serializers.CharField(required=False, allow_blank=True, default="")
    form_fields = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    annotators_per_item = serializers.IntegerField(
        required=False, default=1, min_value=1, max_value=MAX_ANNOTATORS
    )
    hide_auto_scores = serializers.BooleanField(required=False, default=False)
    fail_needs_reasoning = serializers.BooleanField(
        required=False, default=True, help_text="Refuse a Fail verdict without reasoning."
    )


class QueueUpdateSerializer(QueueWriteSerializer):
    name = serializers.CharField(max_length=100, required=False)
    instructions = serializers.CharField(required=False, allow_blank=True)
    form_fields = serializers.ListField(child=serializers.DictField(), required=False)
    annotators_per_item = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ANNOTATORS
    )
    hide_auto_scores = serializers.BooleanField(required=False)
    fail_needs_reasoning = serializers.BooleanField(required=False)


class FillSerializer(serializers.Serializer):
    experiment_id = serializers.IntegerField()
    mode = serializers.ChoiceField(choices=FILL_MODES, default="all")
    sample_size = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    seed = serializers.IntegerField(required=False, allow_null=True)
    baseline_variant = serializers.CharField(
        required=False, allow_blank=True, help_text="Variant label (regressions)."
    )
    candidate_variant = serializers.CharField(
        required=False, allow_blank=True, help_text="Variant label (regressions)."
    )


class AssignSerializer(serializers.Serializer):
    emails = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    user_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    mode = serializers.ChoiceField(choices=ASSIGN_MODES, default="each")
    item_ids = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Default: the open items nobody is assigned yet.",
    )


class FillResultSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    item_ids = serializers.ListField(child=serializers.IntegerField())


class AssignResultSerializer(serializers.Serializer):
    assignments = serializers.IntegerField(help_text="Assignments made.")
    users = serializers.ListField(child=serializers.EmailField(), help_text="Who was assigned.")


class ItemFilters(serializers.Serializer):
    status = serializers.ChoiceField(choices=ItemStatus.values, required=False)


class AnnotationFilters(serializers.Serializer):
    queue = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="Only this queue's."
    )


class ItemAssignSerializer(serializers.Serializer):
    emails = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    user_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)


class AnnotationSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author_label", read_only=True)
    score_id = serializers.IntegerField(read_only=True)
    item_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Annotation
        fields = [
            "id",
            "item_id",
            "score_id",
            "author",
            "passed",
            "reasoning",
            "fields",
            "corrected_expected",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AnnotateSerializer(serializers.Serializer):
    passed = serializers.BooleanField()
    reasoning = serializers.CharField(required=False, allow_blank=True, default="")
    # A field named like Serializer.fields, which the stubs type as such.
    fields = serializers.DictField(required=False, default=dict)  # type: ignore[assignment]
    corrected_expected = serializers.CharField(required=False, allow_blank=True, default="")


class DecideSerializer(serializers.Serializer):
    passed = serializers.BooleanField()
    reasoning = serializers.CharField(required=False, allow_blank=True, default="")


class ItemSerializer(serializers.ModelSerializer):
    queue_id = serializers.IntegerField(read_only=True)
    result_id = serializers.IntegerField(read_only=True, allow_null=True)
    span_id = serializers.IntegerField(read_only=True, allow_null=True)
    locked_by = serializers.SerializerMethodField()
    assignees = serializers.SerializerMethodField()
    annotations = AnnotationSerializer(many=True, read_only=True)
    verdict = serializers.SerializerMethodField()

    class Meta:
        model = QueueItem
        fields = [
            "id",
            "queue_id",
            "position",
            "result_id",
            "span_id",
            "source_ref",
            "snapshot",
            "status",
            "annotation_count",
            "locked_by",
            "locked_until",
            "assignees",
            "annotations",
            "final_passed",
            "verdict",
            "created_at",
        ]
        read_only_fields = fields

    def get_locked_by(self, item) -> str | None:
        return item.locked_by.email if item.locked_by_id else None

    def get_assignees(self, item) -> list[str]:
        return [a.user.email for a in item.assignments.all()]

    def get_verdict(self, item) -> bool | None:
        return item_verdict(item, list(item.annotations.all()))

    def to_representation(self, item):
        data = super().to_representation(item)
        hide = self.context.get("hide_auto_scores_for_annotator")
        if hide and item.queue.hide_auto_scores:
            data["snapshot"] = {k: v for k, v in data["snapshot"].items() if k != "auto_scores"}
        return data


class AssignmentSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.email", read_only=True)
    item_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Assignment
        fields = ["id", "item_id", "user", "created_at", "done_at"]
        read_only_fields = fields


class AgreementSerializer(serializers.Serializer):
    name = serializers.CharField()
    n = serializers.IntegerField()
    percent = serializers.FloatField(allow_null=True)
    kappa = serializers.FloatField(allow_null=True)


class QueueAgreementSerializer(serializers.Serializer):
    evaluators = AgreementSerializer(many=True)
    annotators = AgreementSerializer(allow_null=True)
    annotator_pairs = AgreementSerializer(many=True)


class AddToDatasetSerializer(serializers.Serializer):
    dataset_id = serializers.IntegerField()
    expected = serializers.JSONField(required=False, allow_null=True, default=None)


class RevisionSerializer(serializers.Serializer):
    """Failed items added to a dataset; exact duplicates (of its examples or of each other)
    are skipped, and `revision` is null when every item was one."""

    dataset_id = serializers.IntegerField(source="dataset.pk")
    revision = serializers.IntegerField(source="revision.number", allow_null=True, default=None)
    added = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Exact duplicates not added again.")


class ExampleRefSerializer(serializers.Serializer):
    """The example a failed annotation is now: new, or the existing duplicate (skipped: 1)."""

    dataset_id = serializers.IntegerField(source="dataset.pk")
    example_id = serializers.SerializerMethodField()
    revision = serializers.IntegerField(source="revision.number", allow_null=True, default=None)
    added = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="1 when the dataset had this example already.")

    def get_example_id(self, result) -> str:
        return str(result.example_ids[0])
