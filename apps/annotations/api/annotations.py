"""Annotation endpoints: the verdicts the caller may see, and one into a dataset."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.annotations import selectors, services
from apps.annotations.api.base import AnnotationsAPIView, valid_data
from apps.annotations.api.serializers import (
    AddToDatasetSerializer,
    AnnotationFilters,
    AnnotationSerializer,
    ExampleRefSerializer,
)
from apps.core.query import query_params


class AnnotationListView(AnnotationsAPIView):
    serializer_class = AnnotationSerializer

    @extend_schema(parameters=[AnnotationFilters], responses=AnnotationSerializer(many=True))
    def get(self, request, *args, **kwargs):
        filters = query_params(AnnotationFilters, request)
        annotations = selectors.visible_annotations(
            team=self.team, actor=self.actor, queue_id=filters.get("queue")
        )
        page = self.paginate_queryset(annotations)
        return self.get_paginated_response(AnnotationSerializer(page, many=True).data)


class AnnotationAddToDatasetView(AnnotationsAPIView):
    serializer_class = AddToDatasetSerializer

    @extend_schema(
        request=AddToDatasetSerializer,
        responses={201: ExampleRefSerializer, 200: ExampleRefSerializer},
    )
    def post(self, request, annotation_id: int):
        annotation = selectors.annotation_for(
            team=self.team, actor=self.actor, annotation_id=annotation_id
        )
        data = valid_data(AddToDatasetSerializer, request)
        dataset = selectors.dataset_for_field(data["dataset_id"], field="dataset_id")
        result = services.annotation_add_to_dataset(
            team=self.team,
            actor=self.actor,
            annotation=annotation,
            dataset=dataset,
            expected=data.get("expected"),
        )
        code = status.HTTP_201_CREATED if result.added else status.HTTP_200_OK
        return Response(ExampleRefSerializer(result).data, status=code)
