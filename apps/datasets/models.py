"""Datasets whose examples are revisioned: "the dataset at revision r" is a query, not a copy.

An Example row is never updated in place. It is visible at revision r when
`valid_from <= r` and (`valid_to` is null or `valid_to > r`). An edit at revision r ends
the old row (`valid_to = r`) and starts a new one (`valid_from = r`) with the same
`example_id` and `position`; a delete only ends the row.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.tenancy import TeamOwned


class Dataset(TeamOwned):
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    # The newest revision; revision 0 is the empty dataset as created.
    current_revision = models.PositiveIntegerField(default=0)
    # Rows at current_revision, kept with each revision so pages need no COUNT(*).
    example_count = models.PositiveIntegerField(default=0)
    # Next display position handed to a new example; edits keep theirs, so order is stable.
    next_position = models.PositiveBigIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="dataset_unique_name_per_team")
        ]

    def __str__(self):
        return self.name


class DatasetRevision(TeamOwned):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    actor_label = models.CharField(max_length=200, blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    message = models.CharField(max_length=500, blank=True)
    added = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    # Rows visible at this revision (cached: pagination without COUNT(*)).
    row_count = models.PositiveIntegerField(default=0)
    # Distinct non-empty splits at this revision (cached for the split filter).
    splits = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "number"], name="dataset_revision_unique_number"
            )
        ]

    def __str__(self):
        return f"{self.dataset_id} r{self.number}"


class ExampleSource(models.TextChoices):
    UPLOAD = "upload", "Upload"
    MANUAL = "manual", "Manual"
    EXPERIMENT = "experiment", "Experiment"
    TRACE = "trace", "Trace"
    ANNOTATION = "annotation", "Annotation"


class Example(TeamOwned):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="example_rows")
    # The example's identity across edits; each edit is a new row with the same example_id.
    example_id = models.UUIDField(default=uuid.uuid4, editable=False)
    position = models.PositiveBigIntegerField()
    input = models.JSONField(default=dict)
    expected = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    split = models.CharField(max_length=40, blank=True)
    source = models.CharField(
        max_length=20, choices=ExampleSource.choices, default=ExampleSource.MANUAL
    )
    source_ref = models.CharField(max_length=500, blank=True)
    # Lowercased plain text of input values and expected, for search on every database.
    search_text = models.TextField(blank=True, editable=False)
    # sha256 of the normalised input and expected output (apps.datasets.fields.content_key):
    # what "an exact duplicate" of an example means when examples are added from elsewhere.
    content_key = models.CharField(max_length=64, blank=True, editable=False)
    valid_from = models.PositiveIntegerField()
    valid_to = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "example_id", "valid_from"],
                name="example_unique_version_start",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="example_valid_range",
            ),
        ]
        indexes = [
            # "Rows at revision r": range on valid_from / valid_to within one dataset.
            models.Index(fields=["dataset", "valid_from", "valid_to"], name="example_rev_range"),
            # The table's pages (keyset on position) of any revision, team first like every
            # tenant index; the range columns ride along so rows of other revisions are
            # skipped in the index, not fetched.
            models.Index(
                fields=["team", "dataset", "position"],
                include=["valid_from", "valid_to"],
                name="example_team_page",
            ),
            models.Index(
                fields=["team", "dataset", "split", "position"],
                include=["valid_from", "valid_to"],
                name="example_team_split_page",
            ),
            models.Index(fields=["dataset", "example_id"], name="example_identity"),
            models.Index(fields=["dataset", "content_key"], name="example_content"),
        ]

    def __str__(self):
        return f"{self.example_id} r{self.valid_from}-{self.valid_to or ''}"


class UploadFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSON Lines"
    JSON = "json", "JSON array"


class PendingUpload(TeamOwned):
    """An uploaded file waiting for its mapping to be confirmed; nothing is imported yet."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="pending_uploads")
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    filename = models.CharField(max_length=255)
    format = models.CharField(max_length=10, choices=UploadFormat.choices)
    size = models.PositiveBigIntegerField(default=0)
    # Path relative to settings.VAR_DIR.
    stored_path = models.CharField(max_length=500)
    columns = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.filename

    @property
    def file_path(self) -> Path:
        return Path(settings.VAR_DIR) / self.stored_path
