"""Experiments: prompt versions run over a pinned dataset revision, scored by evaluators.

A cell is (variant, example, repetition). A Result is stored once per cell (unique
constraint); resuming computes the missing cells and runs only those. Scores carry the
evaluator's version and a denormalised experiment FK so comparison pages aggregate per
experiment without joining through results.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.tenancy import TeamOwned


class Evaluator(TeamOwned):
    """A named, reusable evaluator of a team: a kind from the registry plus parameters.

    `version` goes up whenever kind or params change, so a score says which definition
    produced it.
    """

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=40)
    params = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="evaluator_unique_name")
        ]

    def __str__(self):
        return self.name

    @property
    def kind_name(self) -> str:
        from apps.experiments.evaluators import REGISTRY

        spec = REGISTRY.get(self.kind)
        return spec.name if spec else self.kind


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"
    CAPPED = "capped", "Stopped at cost cap"


ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)
RESUMABLE_STATUSES = (Status.CANCELLED, Status.FAILED, Status.CAPPED, Status.COMPLETED)


class ExperimentKind(models.TextChoices):
    # The worker calls a stored prompt version through a provider.
    PROMPT = "prompt", "Prompt"
    # The team's own code ran each example (promptyard.run_experiment) and the SDK recorded
    # the results; the worker only runs the server-side evaluators on them.
    CODE = "code", "Code"


class Experiment(TeamOwned):
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=ExperimentKind.choices, default="prompt")
    description = models.TextField(blank=True)
    dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.CASCADE, related_name="experiments"
    )
    # The dataset as it was when the experiment was made: rerunning sees the same rows.
    dataset_revision = models.PositiveIntegerField()
    split = models.CharField(max_length=40, blank=True)
    # A seeded random sample of the rows (example ids, in position order); empty: every row.
    # Pinned at creation like the revision, so a rerun or resume sees the same rows.
    sample = models.JSONField(default=list, blank=True)
    # Chains: score every step's output with the evaluators too (as "<evaluator> · <step>").
    score_steps = models.BooleanField(default=False)
    repetitions = models.PositiveSmallIntegerField(default=1)
    concurrency = models.PositiveSmallIntegerField(default=8)
    # USD; null means no cap.
    cost_cap = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    # The worker reads this between batches; cancelling a queued run needs no worker.
    cancel_requested = models.BooleanField(default=False)
    # Human-readable reason for the final state (cap reached, failure, cancelled by whom).
    status_detail = models.TextField(blank=True)
    error = models.TextField(blank=True)

    # Counters, refreshed by the worker from the stored results (authoritative after a kill).
    total_cells = models.PositiveIntegerField(default=0)
    done_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    cost_total = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    input_tokens_total = models.PositiveBigIntegerField(default=0)
    output_tokens_total = models.PositiveBigIntegerField(default=0)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by_label = models.CharField(max_length=200, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Updated by the worker at every progress write: a stale heartbeat on a running
    # experiment means its worker died and the run may be resumed.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "status"], name="experiment_team_status")]
        constraints = [
            # Re-running `run_experiment` with the same name resumes the same experiment.
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=Q(kind="code"),
                name="experiment_unique_code_name",
            )
        ]

    def __str__(self):
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_code(self) -> bool:
        return self.kind == ExperimentKind.CODE

    @property
    def progress_percent(self) -> int:
        if not self.total_cells:
            return 100 if self.status == Status.COMPLETED else 0
        return min(100, int(100 * self.done_count / self.total_cells))

    @property
    def elapsed_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at if not self.is_active else timezone.now()
        return max(0.0, ((end or timezone.now()) - self.started_at).total_seconds())


class ExperimentEvaluator(TeamOwned):
    """An evaluator as the experiment pinned it: kind, params and version are a snapshot."""

    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="evaluator_links"
    )
    evaluator = models.ForeignKey(
        Evaluator, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=40)
    params = models.JSONField(default=dict, blank=True)
    evaluator_version = models.PositiveIntegerField(default=1)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "evaluator"], name="experiment_evaluator_unique"
            )
        ]

    def __str__(self):
        return f"{self.name} v{self.evaluator_version}"


class Variant(TeamOwned):
    """A prompt version plus model-settings overrides; a model swap is just another variant.

    In a code experiment a variant is a configuration of the team's task; it names the prompt
    version the task used when there is one (so it counts as promotion evidence), or none.
    """

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    prompt_version = models.ForeignKey(
        "prompts.PromptVersion", on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    overrides = models.JSONField(default=dict, blank=True)
    # The version's model settings with the overrides applied, pinned at creation.
    settings = models.JSONField(default=dict, blank=True)
    label = models.CharField(max_length=100)
    is_baseline = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "label"], name="variant_unique_label"),
            models.UniqueConstraint(
                fields=["experiment"],
                condition=Q(is_baseline=True),
                name="variant_one_baseline",
            ),
        ]

    def __str__(self):
        return self.label


class Result(TeamOwned):
    """One cell's outcome; stored once (a kill loses nothing done, a resume repeats nothing)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="results")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="results")
    example_id = models.UUIDField()
    # The example's display position: comparison pages list examples in dataset order.
    position = models.PositiveBigIntegerField(default=0)
    repetition = models.PositiveSmallIntegerField(default=0)
    input = models.JSONField(default=dict, blank=True)
    expected = models.JSONField(null=True, blank=True)
    output = models.TextField(blank=True)
    # A chain's steps as they ran: [{name, output, error, latency_ms, tokens, cost}]; null
    # for a single prompt. `output` is the last step's.
    steps = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Gateway error kind (rate_limit, timeout, ...) or "render" for a template failure.
    error_kind = models.CharField(max_length=20, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "variant_id", "repetition"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "variant", "example_id", "repetition"],
                name="result_unique_cell",
            )
        ]
        indexes = [
            # The results table's keyset pages (and any read in dataset order), team first
            # like every tenant index; the whole page order is in the key, so any page is a
            # range read of 51 entries.
            models.Index(
                fields=["team", "experiment", "position", "variant", "repetition", "id"],
                name="result_team_page",
            ),
            models.Index(
                fields=["team", "experiment", "variant", "position", "repetition", "id"],
                name="result_team_variant_page",
            ),
            # "Errors only": the few failed calls of a large run, without reading the others.
            models.Index(
                fields=["team", "experiment", "position", "variant", "repetition", "id"],
                condition=~models.Q(error=""),
                name="result_team_error_page",
            ),
        ]

    def __str__(self):
        return f"{self.example_id} #{self.repetition} ({self.variant_id})"

    @property
    def is_error(self) -> bool:
        return bool(self.error)


class ScoreSource(models.TextChoices):
    CODE = "code", "Code"
    LLM = "llm", "LLM judge"
    HUMAN = "human", "Human"
    # A Python function of the team's run in the SDK (promptyard.run_experiment).
    SDK = "sdk", "Code (SDK)"


class Score(TeamOwned):
    """One judgement of one result (or of a whole experiment when result is null)."""

    result = models.ForeignKey(
        Result, on_delete=models.CASCADE, null=True, blank=True, related_name="scores"
    )
    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, null=True, blank=True, related_name="scores"
    )
    evaluator = models.ForeignKey(
        Evaluator, on_delete=models.SET_NULL, null=True, blank=True, related_name="scores"
    )
    evaluator_version = models.PositiveIntegerField(null=True, blank=True)
    # Kept when the evaluator is deleted or renamed, so comparisons still group by it.
    evaluator_name = models.CharField(max_length=100, blank=True)
    value = models.FloatField(null=True, blank=True)
    passed = models.BooleanField(null=True, blank=True)
    label = models.CharField(max_length=100, blank=True)
    explanation = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=ScoreSource.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            # Automatic scores are written once per result and evaluator (resume-safe);
            # human scores may be many.
            models.UniqueConstraint(
                fields=["result", "evaluator"],
                condition=Q(source__in=["code", "llm"]),
                name="score_unique_automatic",
            ),
            # An SDK evaluator has no Evaluator row: its name identifies it.
            models.UniqueConstraint(
                fields=["result", "evaluator_name"],
                condition=Q(source="sdk"),
                name="score_unique_sdk",
            ),
        ]
        indexes = [
            models.Index(fields=["experiment", "evaluator"], name="score_experiment_evaluator"),
        ]

    def __str__(self):
        return f"{self.evaluator_name or self.source}: {self.label}"

    @property
    def is_error(self) -> bool:
        return self.label == "error"


class ShardState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"


class Shard(TeamOwned):
    """A slice of a run's cells (a range of example positions, every variant and repetition)
    that one worker process claims at a time, so several workers (on several machines with
    one PostgreSQL) run one experiment at once (apps/experiments/sharding.py).

    Claims are `SELECT … FOR UPDATE SKIP LOCKED`, then a compare-and-set; a claim is a lease
    the worker renews with its heartbeat. A shard whose lease ran out (its worker died) is
    claimed again by another. Work state only: results stay unique per cell by their own
    constraint, whoever stores them.
    """

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="shards")
    number = models.PositiveIntegerField()
    position_from = models.BigIntegerField()
    position_to = models.BigIntegerField()  # inclusive
    state = models.CharField(max_length=10, choices=ShardState.choices, default=ShardState.PENDING)
    worker = models.CharField(max_length=200, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    claims = models.PositiveIntegerField(default=0)  # > 1: picked up again after a lease ran out
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "number"], name="shard_unique_number")
        ]
        indexes = [
            models.Index(fields=["team", "experiment", "state", "number"], name="shard_team_claim")
        ]

    def __str__(self):
        return f"shard {self.number} of {self.experiment_id} ({self.state})"
