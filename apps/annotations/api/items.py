"""Item endpoints: read one, assign it, its annotations (list, judge), skip, decide."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.annotations import selectors, services
from apps.annotations.api.base import AnnotationsAPIView, valid_data
from apps.annotations.api.serializers import (
    AnnotateSerializer,
    AnnotationSerializer,
    DecideSerializer,
    ItemAssignSerializer,
    ItemSerializer,
)


class ItemDetailView(AnnotationsAPIView):
    serializer_class = ItemSerializer

    @extend_schema(responses=ItemSerializer)
    def get(self, request, queue_item_id: int):
        return Response(self.item_data(self.item(queue_item_id)))


class ItemAssignView(AnnotationsAPIView):
    serializer_class = ItemAssignSerializer

    @extend_schema(request=ItemAssignSerializer, responses={201: ItemSerializer})
    def post(self, request, queue_item_id: int):
        item = self.item(queue_item_id)
        data = valid_data(ItemAssignSerializer, request)
        users = selectors.resolve_annotators(
            team=self.team, emails=data["emails"], user_ids=data["user_ids"]
        )
        services.items_assign(
            team=self.team, actor=self.actor, queue=item.queue, users=users, items=[item]
        )
        return Response(self.item_data(item), status=status.HTTP_201_CREATED)


class ItemAnnotationsView(AnnotationsAPIView):
    serializer_class = AnnotationSerializer
    conflict_methods = ("post",)  # the item's verdicts are in

    @extend_schema(responses=AnnotationSerializer(many=True))
    def get(self, request, queue_item_id: int):
        item = self.item(queue_item_id)
        annotations = selectors.visible_annotations(team=self.team, actor=self.actor, item=item)
        page = self.paginate_queryset(annotations)
        return self.get_paginated_response(AnnotationSerializer(page, many=True).data)

    @extend_schema(request=AnnotateSerializer, responses={201: AnnotationSerializer})
    def post(self, request, queue_item_id: int):
        """Record (or revise) the caller's verdict: a human Score on the item's result."""
        item = self.item(queue_item_id)
        data = valid_data(AnnotateSerializer, request)
        annotation = services.annotation_save(team=self.team, actor=self.actor, item=item, **data)
        return Response(AnnotationSerializer(annotation).data, status=status.HTTP_201_CREATED)


class ItemSkipView(AnnotationsAPIView):
    serializer_class = ItemSerializer

    @extend_schema(request=None, responses={204: None})
    def post(self, request, queue_item_id: int):
        services.item_skip(team=self.team, actor=self.actor, item=self.item(queue_item_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ItemDecideView(AnnotationsAPIView):
    serializer_class = DecideSerializer
    conflict_methods = ("post",)  # only disputed items are decided

    @extend_schema(request=DecideSerializer, responses=ItemSerializer)
    def post(self, request, queue_item_id: int):
        item = self.item(queue_item_id)
        data = valid_data(DecideSerializer, request)
        item = services.item_decide(team=self.team, actor=self.actor, item=item, **data)
        return Response(self.item_data(item))
