"""Datasets API: thin views over the same selectors and services as the pages.

Keys read with `datasets:read` and write with `datasets:write` (which includes the read);
a key acts within its person's role, a signed-in user within theirs (the services check).
"""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from apps.core import jsonshape
from apps.core.errors import NotFound, ValidationFailed
from apps.core.parsers import JSONParser
from apps.core.query import query_integer
from apps.datasets import exporting, importing, parsing, selectors, services
from apps.datasets.models import Dataset, Example
from apps.datasets.permissions import READ_SCOPE, WRITE_SCOPE, require_edit
from apps.datasets.serializers import (
    DatasetBulkCreateSerializer,
    DatasetExampleSerializer,
    DatasetExampleUpdateSerializer,
    DatasetExampleWriteSerializer,
    DatasetRevisionSerializer,
    DatasetSerializer,
    DatasetUpdateSerializer,
    DatasetUploadSerializer,
    DatasetWriteSerializer,
)
from apps.teams.api_base import TeamGenericAPIView


def _valid(serializer_class, request, **kwargs):
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _revision_param(request, dataset) -> int:
    number = query_integer(request.query_params, "revision", minimum=0)
    if number is None:
        return dataset.current_revision
    if number > dataset.current_revision:
        raise NotFound(f"Dataset {dataset.name} has no revision {number}.")
    return number


REVISION_PARAM = OpenApiParameter(
    "revision",
    {"type": "integer", "minimum": 0},
    description="The dataset revision (default: the current one); past it, a 404.",
)


class _DatasetsView(TeamGenericAPIView):
    read_scope = READ_SCOPE
    write_scope = WRITE_SCOPE
    # Each view names the serializer it answers with (for the schema and OPTIONS).
    serializer_class: type[BaseSerializer[Any]] = DatasetSerializer

    def dataset(self, dataset_id) -> Dataset:
        return selectors.dataset_get(dataset_id)


# --- datasets ----------------------------------------------------------------------------------


class DatasetListCreateView(_DatasetsView):
    @extend_schema(responses=DatasetSerializer(many=True))
    def get(self, request, *args, **kwargs):
        page = self.paginate_queryset(selectors.dataset_list())
        return self.get_paginated_response(DatasetSerializer(page, many=True).data)

    @extend_schema(request=DatasetWriteSerializer, responses={201: DatasetSerializer})
    def post(self, request, *args, **kwargs):
        data = _valid(DatasetWriteSerializer, request)
        dataset = services.dataset_create(team=self.team, actor=self.actor, **data)
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailView(_DatasetsView):
    conflict_methods = ("delete",)  # a dataset experiments ran on stays

    @extend_schema(responses=DatasetSerializer)
    def get(self, request, dataset_id: int):
        return Response(DatasetSerializer(self.dataset(dataset_id)).data)

    @extend_schema(request=DatasetUpdateSerializer, responses=DatasetSerializer)
    def patch(self, request, dataset_id: int):
        dataset = self.dataset(dataset_id)
        data = _valid(DatasetUpdateSerializer, request)
        dataset = services.dataset_update(team=self.team, actor=self.actor, dataset=dataset, **data)
        return Response(DatasetSerializer(dataset).data)

    @extend_schema(responses={204: None})
    def delete(self, request, dataset_id: int):
        services.dataset_delete(team=self.team, actor=self.actor, dataset=self.dataset(dataset_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RevisionListView(_DatasetsView):
    serializer_class = DatasetRevisionSerializer

    @extend_schema(responses=DatasetRevisionSerializer(many=True))
    def get(self, request, dataset_id: int):
        page = self.paginate_queryset(selectors.revision_list(self.dataset(dataset_id)))
        return self.get_paginated_response(DatasetRevisionSerializer(page, many=True).data)


# --- examples ----------------------------------------------------------------------------------


class ExampleListCreateView(_DatasetsView):
    serializer_class = DatasetExampleSerializer

    @extend_schema(
        parameters=[
            REVISION_PARAM,
            OpenApiParameter("split", str, description="Only this split."),
            OpenApiParameter("q", str, description="Search input and expected."),
        ],
        responses=DatasetExampleSerializer(many=True),
    )
    def get(self, request, dataset_id: int):
        dataset = self.dataset(dataset_id)
        rows = selectors.examples_at_revision(
            dataset,
            _revision_param(request, dataset),
            split=request.query_params.get("split") or None,
            search=request.query_params.get("q") or None,
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(DatasetExampleSerializer(page, many=True).data)

    @extend_schema(request=DatasetExampleWriteSerializer, responses={201: DatasetExampleSerializer})
    def post(self, request, dataset_id: int):
        dataset = self.dataset(dataset_id)
        data = _valid(DatasetExampleWriteSerializer, request)
        row = services.example_create(team=self.team, actor=self.actor, dataset=dataset, **data)
        return Response(DatasetExampleSerializer(row).data, status=status.HTTP_201_CREATED)


class ExampleBulkCreateView(_DatasetsView):
    serializer_class = DatasetRevisionSerializer

    @extend_schema(request=DatasetBulkCreateSerializer, responses={201: DatasetRevisionSerializer})
    def post(self, request, dataset_id: int):
        dataset = self.dataset(dataset_id)
        data = _valid(DatasetBulkCreateSerializer, request)
        revision = services.examples_bulk_create(
            team=self.team,
            actor=self.actor,
            dataset=dataset,
            rows=data["rows"],
            source=data["source"],
            message=data["message"],
        )
        return Response(DatasetRevisionSerializer(revision).data, status=status.HTTP_201_CREATED)


class ExampleDetailView(_DatasetsView):
    serializer_class = DatasetExampleSerializer

    def get_object(self) -> Example:
        # Only DRF's OPTIONS metadata calls this (to describe PUT); without it OPTIONS was a 500
        # (no queryset). The handlers below look the example up themselves.
        dataset = self.dataset(self.kwargs["dataset_id"])
        try:
            return selectors.example_at_revision(dataset, self.kwargs["example_id"])
        except NotFound:
            raise Http404 from None

    @extend_schema(parameters=[REVISION_PARAM], responses=DatasetExampleSerializer)
    def get(self, request, dataset_id: int, example_id):
        dataset = self.dataset(dataset_id)
        row = selectors.example_at_revision(dataset, example_id, _revision_param(request, dataset))
        return Response(DatasetExampleSerializer(row).data)

    @extend_schema(request=DatasetExampleUpdateSerializer, responses=DatasetExampleSerializer)
    def patch(self, request, dataset_id: int, example_id):
        dataset = self.dataset(dataset_id)
        data = _valid(DatasetExampleUpdateSerializer, request)
        row = services.example_update(
            team=self.team, actor=self.actor, dataset=dataset, example_id=example_id, **data
        )
        return Response(DatasetExampleSerializer(row).data)

    @extend_schema(request=DatasetExampleWriteSerializer, responses=DatasetExampleSerializer)
    def put(self, request, dataset_id: int, example_id):
        dataset = self.dataset(dataset_id)
        data = _valid(DatasetExampleWriteSerializer, request)
        data.pop("source", None)
        data.pop("source_ref", None)
        row = services.example_update(
            team=self.team, actor=self.actor, dataset=dataset, example_id=example_id, **data
        )
        return Response(DatasetExampleSerializer(row).data)

    @extend_schema(responses={204: None})
    def delete(self, request, dataset_id: int, example_id):
        services.example_delete(
            team=self.team,
            actor=self.actor,
            dataset=self.dataset(dataset_id),
            example_id=example_id,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- import and export -------------------------------------------------------------------------


class UploadView(_DatasetsView):
    """Import a CSV, JSONL or JSON-array file: every row as one revision, or nothing."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]
    serializer_class = DatasetRevisionSerializer

    @extend_schema(
        request={"multipart/form-data": DatasetUploadSerializer},
        responses={201: DatasetRevisionSerializer, 200: OpenApiTypes.OBJECT},
    )
    def post(self, request, dataset_id: int):
        dataset = self.dataset(dataset_id)
        parsing.check_request_size(request)  # before DRF reads the multipart body
        data = _valid(DatasetUploadSerializer, request)
        mapping = None
        if data["mapping"]:
            try:
                mapping = jsonshape.loads(data["mapping"])
            except json.JSONDecodeError as exc:
                raise ValidationFailed(
                    f"mapping is not valid JSON: {exc.msg}.", field="mapping"
                ) from None
            except ValueError as exc:  # too deep, a huge number
                raise ValidationFailed(f"mapping is not usable JSON: {exc}.", field="mapping")
        uploaded = data["file"]
        if data["preview"]:
            require_edit(self.actor, self.team)
            parsing.check_size(uploaded.size)
            fmt = data["format"] or parsing.guess_format(
                uploaded.name, parsing.first_bytes(uploaded)
            )
            source = parsing.uploaded_file_source(uploaded)
            columns = parsing.read_columns(source, fmt)
            cleaned = importing.clean_mapping(mapping, columns)
            rows = importing.preview(source, fmt, cleaned)
            return Response({"format": fmt, "columns": columns, "mapping": cleaned, "rows": rows})
        revision = importing.import_file(
            team=self.team,
            actor=self.actor,
            dataset=dataset,
            uploaded=uploaded,
            fmt=data["format"],
            mapping=mapping,
        )
        return Response(DatasetRevisionSerializer(revision).data, status=status.HTTP_201_CREATED)


class ExportView(_DatasetsView):
    @extend_schema(
        parameters=[
            REVISION_PARAM,
            OpenApiParameter("as", str, enum=["csv", "jsonl"], description="Default: jsonl."),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/x-ndjson"): OpenApiTypes.STR,
        },
    )
    def get(self, request, dataset_id: int):
        dataset = self.dataset(dataset_id)
        revision = _revision_param(request, dataset)
        fmt = request.query_params.get("as", "jsonl")
        return exporting.export_response(
            team=self.team, dataset=dataset, revision=revision, fmt=fmt
        )
