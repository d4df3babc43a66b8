"""What the datasets API reads and writes, as JSON."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.datasets.models import Dataset, DatasetRevision, Example

MAX_BULK_ROWS = 10_000


class DatasetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Dataset
        fields = [
            "id",
            "name",
            "description",
            "current_revision",
            "example_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DatasetWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class DatasetUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class DatasetExampleSerializer(serializers.ModelSerializer):
    expected = serializers.JSONField(allow_null=True)
    input = serializers.DictField()
    metadata = serializers.DictField()

    class Meta:
        model = Example
        fields = [
            "example_id",
            "input",
            "expected",
            "metadata",
            "split",
            "source",
            "source_ref",
            "valid_from",
            "valid_to",
            "created_at",
        ]
        read_only_fields = fields


class DatasetExampleWriteSerializer(serializers.Serializer):
    input = serializers.DictField(help_text="The prompt variables (a JSON object).")
    expected = serializers.JSONField(
        required=False, allow_null=True, default=None, help_text="Text or any JSON value."
    )
    metadata = serializers.DictField(required=False, default=dict)
    split = serializers.CharField(required=False, allow_blank=True, default="", max_length=40)
    source = serializers.ChoiceField(  # type: ignore[assignment]  # named like Field.source
        choices=["manual", "upload", "experiment", "trace", "annotation"],
        required=False,
        default="manual",
    )
    source_ref = serializers.CharField(required=False, allow_blank=True, default="")


class DatasetExampleUpdateSerializer(serializers.Serializer):
    input = serializers.DictField(required=False)
    expected = serializers.JSONField(required=False, allow_null=True)
    metadata = serializers.DictField(required=False)
    split = serializers.CharField(required=False, allow_blank=True, max_length=40)


@extend_schema_field(
    {
        "type": "object",
        "required": ["input"],
        "properties": {
            "input": {"type": "object", "description": "The prompt variables."},
            "expected": {"description": "Text or any JSON value."},
            "metadata": {"type": "object"},
            "split": {"type": "string", "maxLength": 40},
            "source_ref": {"type": "string"},
        },
    }
)
class BulkRowField(serializers.JSONField):
    """One row of a bulk create. Checked by the import (a 400 naming the row), not here."""


class DatasetBulkCreateSerializer(serializers.Serializer):
    rows = serializers.ListField(
        child=BulkRowField(),
        allow_empty=False,
        max_length=MAX_BULK_ROWS,
        help_text="Objects with input and optionally expected, metadata, split, source_ref.",
    )
    source = serializers.ChoiceField(  # type: ignore[assignment]  # named like Field.source
        choices=["manual", "upload", "experiment", "trace", "annotation"], default="upload"
    )
    message = serializers.CharField(required=False, allow_blank=True, default="")


class DatasetRevisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetRevision
        fields = [
            "number",
            "actor_label",
            "message",
            "added",
            "changed",
            "removed",
            "row_count",
            "splits",
            "created_at",
        ]
        read_only_fields = fields


class DatasetUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(
        choices=["", "csv", "jsonl", "json"], required=False, default=""
    )
    mapping = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text=(
            'JSON object column → target: "input", "input:<name>", "expected", "metadata", '
            '"split" or "ignore". Omitted: a default from the column names.'
        ),
    )
    preview = serializers.BooleanField(
        required=False, default=False, help_text="Return the first 20 mapped rows; write nothing."
    )
