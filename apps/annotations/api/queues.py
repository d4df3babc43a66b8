"""Queue endpoints: list and create, read, edit and delete, fill, assign, its items, claim
the next one, agreement, failures into a dataset."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.annotations import selectors, services
from apps.annotations.agreement import annotator_agreement, evaluator_agreement
from apps.annotations.api.base import AnnotationsAPIView, valid_data
from apps.annotations.api.serializers import (
    AddToDatasetSerializer,
    AssignResultSerializer,
    AssignSerializer,
    FillResultSerializer,
    FillSerializer,
    ItemFilters,
    ItemSerializer,
    QueueAgreementSerializer,
    QueueSerializer,
    QueueUpdateSerializer,
    QueueWriteSerializer,
    RevisionSerializer,
)
from apps.annotations.results import variant_by_label
from apps.core.errors import NotFound
from apps.core.query import query_params


class _QueueView(AnnotationsAPIView):
    serializer_class = QueueSerializer

    def queue_data(self, queue) -> dict:
        """A queue as GET shows it, with its progress counts (also after a write)."""
        queue = selectors.queue_with_progress(team=self.team, actor=self.actor, queue_id=queue.pk)
        return QueueSerializer(queue).data


class QueueListCreateView(_QueueView):
    @extend_schema(responses=QueueSerializer(many=True))
    def get(self, request, *args, **kwargs):
        queues = selectors.queues_with_progress(team=self.team, actor=self.actor)
        page = self.paginate_queryset(queues)
        return self.get_paginated_response(QueueSerializer(page, many=True).data)

    @extend_schema(request=QueueWriteSerializer, responses={201: QueueSerializer})
    def post(self, request, *args, **kwargs):
        data = valid_data(QueueWriteSerializer, request)
        queue = services.queue_create(team=self.team, actor=self.actor, **data)
        return Response(self.queue_data(queue), status=status.HTTP_201_CREATED)


class QueueDetailView(_QueueView):
    @extend_schema(responses=QueueSerializer)
    def get(self, request, queue_id: int):
        queue = selectors.queue_with_progress(team=self.team, actor=self.actor, queue_id=queue_id)
        return Response(QueueSerializer(queue).data)

    @extend_schema(request=QueueUpdateSerializer, responses=QueueSerializer)
    def patch(self, request, queue_id: int):
        queue = self.queue(queue_id)
        data = valid_data(QueueUpdateSerializer, request, partial=True)
        queue = services.queue_update(team=self.team, actor=self.actor, queue=queue, **data)
        return Response(self.queue_data(queue))

    @extend_schema(responses={204: None})
    def delete(self, request, queue_id: int):
        queue = self.queue(queue_id)
        services.queue_delete(team=self.team, actor=self.actor, queue=queue)
        return Response(status=status.HTTP_204_NO_CONTENT)


class QueueFillView(AnnotationsAPIView):
    serializer_class = FillSerializer

    @extend_schema(request=FillSerializer, responses={201: FillResultSerializer})
    def post(self, request, queue_id: int):
        queue = self.queue(queue_id)
        data = valid_data(FillSerializer, request)
        experiment = selectors.experiment_for_field(data["experiment_id"], field="experiment_id")

        def variant(key):
            return variant_by_label(experiment, data.get(key), field=key)

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


class QueueAssignView(AnnotationsAPIView):
    serializer_class = AssignSerializer

    @extend_schema(request=AssignSerializer, responses={201: AssignResultSerializer})
    def post(self, request, queue_id: int):
        queue = self.queue(queue_id)
        data = valid_data(AssignSerializer, request)
        users = selectors.resolve_annotators(
            team=self.team, emails=data["emails"], user_ids=data["user_ids"]
        )
        items = None
        if data["item_ids"] is not None:
            items = selectors.queue_items_by_ids(queue, data["item_ids"], field="item_ids")
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


class QueueItemsView(AnnotationsAPIView):
    serializer_class = ItemSerializer

    @extend_schema(parameters=[ItemFilters], responses=ItemSerializer(many=True))
    def get(self, request, queue_id: int):
        queue = self.queue(queue_id)
        filters = query_params(ItemFilters, request)
        items = selectors.queue_items(
            team=self.team, actor=self.actor, queue=queue, status=filters.get("status", "")
        )
        page = self.paginate_queryset(items)
        return self.get_paginated_response(
            ItemSerializer(page, many=True, context=self.serializer_context()).data
        )


class QueueNextView(AnnotationsAPIView):
    serializer_class = ItemSerializer

    @extend_schema(request=None, responses={200: ItemSerializer, 204: None})
    def post(self, request, queue_id: int):
        """Claim (lock for 10 minutes) the caller's next item; 204 when none is left."""
        queue = self.queue(queue_id)
        item = services.item_claim_next(team=self.team, actor=self.actor, queue=queue)
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(self.item_data(item))


class QueueAgreementView(AnnotationsAPIView):
    serializer_class = QueueAgreementSerializer

    @extend_schema(responses=QueueAgreementSerializer)
    def get(self, request, queue_id: int):
        queue = self.queue(queue_id)
        if not self.can_manage():
            raise NotFound("No such queue.")
        overall, pairs = annotator_agreement(queue=queue)
        data = {
            "evaluators": evaluator_agreement(team=self.team, queue=queue),
            "annotators": overall,
            "annotator_pairs": pairs,
        }
        return Response(QueueAgreementSerializer(data).data)


class QueueAddFailuresView(AnnotationsAPIView):
    serializer_class = AddToDatasetSerializer

    @extend_schema(
        request=AddToDatasetSerializer, responses={201: RevisionSerializer, 200: RevisionSerializer}
    )
    def post(self, request, queue_id: int):
        queue = self.queue(queue_id)
        data = valid_data(AddToDatasetSerializer, request)
        dataset = selectors.dataset_for_field(data["dataset_id"], field="dataset_id")
        result = services.queue_add_failures_to_dataset(
            team=self.team, actor=self.actor, queue=queue, dataset=dataset
        )
        code = status.HTTP_201_CREATED if result.added else status.HTTP_200_OK
        return Response(RevisionSerializer(result).data, status=code)
