"""The annotation API: queues, items (assign by member email or id), annotations.

The same services as the pages. Keys need the `annotations:write` scope, for reads too:
items carry model inputs and outputs.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.annotations import selectors, services
from apps.annotations.models import Annotation, AnnotationQueue, Assignment, ItemStatus, QueueItem
from apps.core.errors import NotFound, ValidationFailed
from apps.teams.api_base import TeamGenericAPIView

SCOPE = services.SCOPE


# --- serializers -------------------------------------------------------------------------


class FormFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["label", "number", "text"])
    label = serializers.CharField(required=False)
    required = serializers.BooleanField(required=False, default=False)
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
    annotators_per_item = serializers.IntegerField(required=False, default=1)
    hide_auto_scores = serializers.BooleanField(required=False, default=False)


class QueueUpdateSerializer(QueueWriteSerializer):
    name = serializers.CharField(max_length=100, required=False)
    instructions = serializers.CharField(required=False, allow_blank=True)
    form_fields = serializers.ListField(child=serializers.DictField(), required=False)
    annotators_per_item = serializers.IntegerField(required=False)
    hide_auto_scores = serializers.BooleanField(required=False)


class FillSerializer(serializers.Serializer):
    experiment_id = serializers.IntegerField()
    mode = serializers.ChoiceField(choices=services.FILL_MODES, default="all")
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
    mode = serializers.ChoiceField(choices=services.ASSIGN_MODES, default="each")
    item_ids = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Default: the open items nobody is assigned yet.",
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
    fields = serializers.DictField(required=False, default=dict)
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
        return services.item_verdict(item, list(item.annotations.all()))

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
    dataset_id = serializers.IntegerField()
    revision = serializers.IntegerField(source="number")
    added = serializers.IntegerField()


class ExampleRefSerializer(serializers.Serializer):
    dataset_id = serializers.IntegerField()
    example_id = serializers.UUIDField()
    revision = serializers.IntegerField(source="valid_from")


def _valid(serializer_class, request, **kwargs):
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- base --------------------------------------------------------------------------------


class _AnnotationsView(TeamGenericAPIView):
    read_scope = SCOPE
    write_scope = SCOPE

    def queue(self, queue_id) -> AnnotationQueue:
        return selectors.queue_for(team=self.team, actor=self.actor, queue_id=queue_id)

    def item(self, item_id) -> QueueItem:
        return services.item_for(team=self.team, actor=self.actor, item_id=item_id)

    def item_data(self, item) -> dict:
        item = (
            QueueItem.objects.select_related("queue", "locked_by")
            .prefetch_related("annotations", "assignments__user")
            .get(pk=item.pk)
        )
        return ItemSerializer(item, context=self.serializer_context()).data

    def serializer_context(self) -> dict:
        return {"hide_auto_scores_for_annotator": not services.can_manage(self.actor, self.team)}


# --- queues ------------------------------------------------------------------------------


class QueueListCreateView(_AnnotationsView):
    serializer_class = QueueSerializer

    @extend_schema(responses=QueueSerializer(many=True))
    def get(self, request, *args, **kwargs):
        queues = selectors.queues_with_progress(team=self.team, actor=self.actor).select_related(
            "created_by"
        )
        page = self.paginate_queryset(queues)
        return self.get_paginated_response(QueueSerializer(page, many=True).data)

    @extend_schema(request=QueueWriteSerializer, responses={201: QueueSerializer})
    def post(self, request, *args, **kwargs):
        data = _valid(QueueWriteSerializer, request)
        queue = services.queue_create(team=self.team, actor=self.actor, **data)
        return Response(QueueSerializer(queue).data, status=status.HTTP_201_CREATED)


class QueueDetailView(_AnnotationsView):
    serializer_class = QueueSerializer

    @extend_schema(responses=QueueSerializer)
    def get(self, request, queue_id: int):
        queue = (
            selectors.queues_with_progress(team=self.team, actor=self.actor)
            .filter(pk=queue_id)
            .first()
        )
        if queue is None:
            raise NotFound("No such queue.")
        return Response(QueueSerializer(queue).data)

    @extend_schema(request=QueueUpdateSerializer, responses=QueueSerializer)
    def patch(self, request, queue_id: int):
        queue = self.queue(queue_id)
        data = _valid(QueueUpdateSerializer, request, partial=True)
        queue = services.queue_update(team=self.team, actor=self.actor, queue=queue, **data)
        return Response(QueueSerializer(queue).data)

    @extend_schema(responses={204: None})
    def delete(self, request, queue_id: int):
        queue = self.queue(queue_id)
        services.queue_delete(team=self.team, actor=self.actor, queue=queue)
        return Response(status=status.HTTP_204_NO_CONTENT)


class QueueFillView(_AnnotationsView):
    serializer_class = FillSerializer

    @extend_schema(request=FillSerializer, responses={201: ItemSerializer(many=True)})
    def post(self, request, queue_id: int):
        from apps.experiments.models import Experiment

        queue = self.queue(queue_id)
        data = _valid(FillSerializer, request)
        experiment = Experiment.objects.filter(pk=data["experiment_id"]).first()
        if experiment is None:
            raise ValidationFailed("No such experiment.", field="experiment_id")

        def variant(key):
            return services.variant_by_label(experiment, data.get(key), field=key)

        items = services.queue_fill_from_experiment(
            team=self.team,
            actor=self.actor,
            queue=queue,
            experiment=experiment,
            mode=data["mode"],
            sample_size=data.get("sample_size"),
            seed=data.get("seed"),
            baseline_variant=variant("baseline_variant"),
            candidate_variant=variant("candidate_variant"),
        )
        return Response(
            {"added": len(items), "item_ids": [i.pk for i in items]},
            status=status.HTTP_201_CREATED,
        )


class QueueAssignView(_AnnotationsView):
    serializer_class = AssignSerializer

    @extend_schema(request=AssignSerializer, responses={201: AssignmentSerializer(many=True)})
    def post(self, request, queue_id: int):
        queue = self.queue(queue_id)
        data = _valid(AssignSerializer, request)
        users = services.resolve_annotators(
            team=self.team, emails=data["emails"], user_ids=data["user_ids"]
        )
        items = None
        if data["item_ids"] is not None:
            items = list(QueueItem.objects.filter(queue=queue, pk__in=data["item_ids"]))
            if len(items) != len(set(data["item_ids"])):
                raise ValidationFailed("Some items are not in this queue.", field="item_ids")
        rows = services.items_assign(
            team=self.team,
            actor=self.actor,
            queue=queue,
            users=users,
            items=items,
            mode=data["mode"],
        )
        return Response(
            {"assignments": len(rows), "users": [u.email for u in users]},
            status=status.HTTP_201_CREATED,
        )


class QueueItemsView(_AnnotationsView):
    serializer_class = ItemSerializer

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=ItemStatus.values)],
        responses=ItemSerializer(many=True),
    )
    def get(self, request, queue_id: int):
        queue = self.queue(queue_id)
        items = (
            services.visible_items(team=self.team, actor=self.actor, queue=queue)
            .select_related("queue", "locked_by")
            .prefetch_related("annotations", "assignments__user")
            .order_by("position")
        )
        wanted = request.query_params.get("status")
        if wanted:
            items = items.filter(status=wanted)
        page = self.paginate_queryset(items)
        return self.get_paginated_response(
            ItemSerializer(page, many=True, context=self.serializer_context()).data
        )


class QueueNextView(_AnnotationsView):
    serializer_class = ItemSerializer

    @extend_schema(request=None, responses={200: ItemSerializer, 204: None})
    def post(self, request, queue_id: int):
        """Claim (lock for 10 minutes) the caller's next item; 204 when none is left."""
        queue = self.queue(queue_id)
        item = services.item_claim_next(team=self.team, actor=self.actor, queue=queue)
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(self.item_data(item))


class QueueAgreementView(_AnnotationsView):
    serializer_class = QueueAgreementSerializer

    @extend_schema(responses=QueueAgreementSerializer)
    def get(self, request, queue_id: int):
        queue = self.queue(queue_id)
        if not services.can_manage(self.actor, self.team):
            raise NotFound("No such queue.")
        overall, pairs = selectors.annotator_agreement(queue=queue)
        data = {
            "evaluators": selectors.evaluator_agreement(team=self.team, queue=queue),
            "annotators": overall,
            "annotator_pairs": pairs,
        }
        return Response(QueueAgreementSerializer(data).data)


class QueueAddFailuresView(_AnnotationsView):
    serializer_class = AddToDatasetSerializer

    @extend_schema(request=AddToDatasetSerializer, responses={201: RevisionSerializer})
    def post(self, request, queue_id: int):
        from apps.datasets.models import Dataset

        queue = self.queue(queue_id)
        data = _valid(AddToDatasetSerializer, request)
        dataset = Dataset.objects.filter(pk=data["dataset_id"]).first()
        if dataset is None:
            raise ValidationFailed("No such dataset.", field="dataset_id")
        revision = services.queue_add_failures_to_dataset(
            team=self.team, actor=self.actor, queue=queue, dataset=dataset
        )
        return Response(RevisionSerializer(revision).data, status=status.HTTP_201_CREATED)


# --- items -------------------------------------------------------------------------------


class ItemDetailView(_AnnotationsView):
    serializer_class = ItemSerializer

    @extend_schema(responses=ItemSerializer)
    def get(self, request, queue_item_id: int):
        return Response(self.item_data(self.item(queue_item_id)))


class ItemAssignView(_AnnotationsView):
    serializer_class = ItemAssignSerializer

    @extend_schema(request=ItemAssignSerializer, responses={201: ItemSerializer})
    def post(self, request, queue_item_id: int):
        item = self.item(queue_item_id)
        data = _valid(ItemAssignSerializer, request)
        users = services.resolve_annotators(
            team=self.team, emails=data["emails"], user_ids=data["user_ids"]
        )
        services.items_assign(
            team=self.team, actor=self.actor, queue=item.queue, users=users, items=[item]
        )
        return Response(self.item_data(item), status=status.HTTP_201_CREATED)


class ItemAnnotationsView(_AnnotationsView):
    serializer_class = AnnotationSerializer

    @extend_schema(responses=AnnotationSerializer(many=True))
    def get(self, request, queue_item_id: int):
        item = self.item(queue_item_id)
        annotations = Annotation.objects.filter(item=item).order_by("id")
        if not services.can_manage(self.actor, self.team):
            annotations = annotations.filter(author=request.user)
        page = self.paginate_queryset(annotations)
        return self.get_paginated_response(AnnotationSerializer(page, many=True).data)

    @extend_schema(request=AnnotateSerializer, responses={201: AnnotationSerializer})
    def post(self, request, queue_item_id: int):
        """Record (or revise) the caller's verdict: a human Score on the item's result."""
        item = self.item(queue_item_id)
        data = _valid(AnnotateSerializer, request)
        annotation = services.annotation_save(team=self.team, actor=self.actor, item=item, **data)
        return Response(AnnotationSerializer(annotation).data, status=status.HTTP_201_CREATED)


class ItemSkipView(_AnnotationsView):
    serializer_class = ItemSerializer

    @extend_schema(request=None, responses={204: None})
    def post(self, request, queue_item_id: int):
        services.item_skip(team=self.team, actor=self.actor, item=self.item(queue_item_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ItemDecideView(_AnnotationsView):
    serializer_class = DecideSerializer

    @extend_schema(request=DecideSerializer, responses=ItemSerializer)
    def post(self, request, queue_item_id: int):
        item = self.item(queue_item_id)
        data = _valid(DecideSerializer, request)
        item = services.item_decide(team=self.team, actor=self.actor, item=item, **data)
        return Response(self.item_data(item))


# --- annotations -------------------------------------------------------------------------


class AnnotationListView(_AnnotationsView):
    serializer_class = AnnotationSerializer

    @extend_schema(
        parameters=[OpenApiParameter("queue", int, description="Only this queue's annotations.")],
        responses=AnnotationSerializer(many=True),
    )
    def get(self, request, *args, **kwargs):
        items = services.visible_items(team=self.team, actor=self.actor)
        annotations = Annotation.objects.filter(item__in=items).order_by("id")
        if not services.can_manage(self.actor, self.team):
            annotations = annotations.filter(author=request.user)
        queue_id = request.query_params.get("queue")
        if queue_id:
            try:
                queue_pk = int(queue_id)
            except ValueError:
                raise ValidationFailed("queue must be an id.", field="queue") from None
            if not 0 < queue_pk <= 2**63 - 1:  # out of range: the FK lookup would overflow (500)
                raise ValidationFailed("queue must be an id.", field="queue")
            annotations = annotations.filter(item__queue_id=queue_pk)
        page = self.paginate_queryset(annotations)
        return self.get_paginated_response(AnnotationSerializer(page, many=True).data)


class AnnotationAddToDatasetView(_AnnotationsView):
    serializer_class = AddToDatasetSerializer

    @extend_schema(request=AddToDatasetSerializer, responses={201: ExampleRefSerializer})
    def post(self, request, annotation_id: int):
        from apps.datasets.models import Dataset

        items = services.visible_items(team=self.team, actor=self.actor)
        annotation = Annotation.objects.filter(pk=annotation_id, item__in=items).first()
        if annotation is None:
            raise NotFound("No such annotation.")
        data = _valid(AddToDatasetSerializer, request)
        dataset = Dataset.objects.filter(pk=data["dataset_id"]).first()
        if dataset is None:
            raise ValidationFailed("No such dataset.", field="dataset_id")
        example = services.annotation_add_to_dataset(
            team=self.team,
            actor=self.actor,
            annotation=annotation,
            dataset=dataset,
            expected=data.get("expected"),
        )
        return Response(ExampleRefSerializer(example).data, status=status.HTTP_201_CREATED)
