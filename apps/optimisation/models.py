"""Optimisation runs: automated prompt learning from failures and feedback (GEPA).

A run pins what it learns from (the starting version, the dataset revision and its train and
validation examples by id, the evaluators, optionally an annotation queue whose reasoning is
feedback) and what it may spend (rounds, model calls, dollars). Every evaluation of a
candidate on an example and every reflection is stored once under its key, so a resumed run
(after a cancel or a killed worker) replays the search from the store and repeats no call.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TeamOwned


class RunStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Finished"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


class OptimisationRun(TeamOwned):
    name = models.CharField(max_length=200)
    prompt_version = models.ForeignKey(
        "prompts.PromptVersion", on_delete=models.PROTECT, related_name="+"
    )
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.PROTECT, related_name="+")
    dataset_revision = models.PositiveIntegerField()
    # The pinned split: example ids (a split made on the spot is stored the same way).
    train_ids = models.JSONField(default=list)
    validation_ids = models.JSONField(default=list)
    split_note = models.CharField(max_length=200, blank=True)
    evaluators = models.ManyToManyField(
        "experiments.Evaluator", through="optimisation.RunEvaluator", related_name="+"
    )
    annotation_queue = models.ForeignKey(
        "annotations.AnnotationQueue",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    task_settings = models.JSONField(default=dict)  # provider_id, model and the rest
    reflection_settings = models.JSONField(default=dict)
    max_rounds = models.PositiveIntegerField(default=5)
    max_calls = models.PositiveIntegerField(default=200)
    max_cost = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    minibatch_size = models.PositiveSmallIntegerField(default=4)
    concurrency = models.PositiveSmallIntegerField(default=8)
    margin = models.FloatField(default=0.05)
    seed = models.PositiveIntegerField(default=0)

    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.DRAFT)
    cancel_requested = models.BooleanField(default=False)
    status_detail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    rounds_done = models.PositiveIntegerField(default=0)
    calls_used = models.PositiveIntegerField(default=0)
    cost_used = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    best_candidate = models.ForeignKey(
        "optimisation.Candidate",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    comparison = models.JSONField(default=dict, blank=True)  # validation: start vs best
    promotion = models.ForeignKey(
        "prompts.PromotionRequest",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    task_id = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["team", "status"], name="optrun_team_status")]

    def __str__(self):
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE


class RunEvaluator(TeamOwned):
    """A run's evaluator: the link carries its team, like every tenant row."""

    run = models.ForeignKey(
        OptimisationRun, on_delete=models.CASCADE, related_name="evaluator_links"
    )
    evaluator = models.ForeignKey(
        "experiments.Evaluator", on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        ordering = ["run", "evaluator"]
        constraints = [
            models.UniqueConstraint(fields=["run", "evaluator"], name="optrun_evaluator_unique"),
        ]


class Candidate(TeamOwned):
    """One prompt the search produced (the start is candidate 0), saved as a Hub version."""

    run = models.ForeignKey(OptimisationRun, on_delete=models.CASCADE, related_name="candidates")
    index = models.PositiveIntegerField()  # GEPA's program index
    key = models.CharField(max_length=64)  # sha256 of the components
    components = models.JSONField(default=dict)
    round = models.PositiveIntegerField(default=0)
    parent_index = models.IntegerField(null=True, blank=True)
    version = models.ForeignKey(
        "prompts.PromptVersion", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    rationale = models.TextField(blank=True)
    train_score = models.FloatField(null=True, blank=True)
    train_pass_rate = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="optcandidate_run_index"),
        ]


class Round(TeamOwned):
    """A GEPA iteration: the candidate it proposed (if any), accepted or not."""

    run = models.ForeignKey(OptimisationRun, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField()
    candidate_keys = models.JSONField(default=list)
    accepted = models.BooleanField(default=False)
    best_train_score = models.FloatField(null=True, blank=True)
    calls_used = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="optround_run_number"),
        ]


class Proposal(TeamOwned):
    """A candidate the reflection proposed in a round, kept whether GEPA accepted it into
    its pool or not: its text, the reflection that wrote it, and its minibatch scores
    against its parent's. Only accepted proposals become Candidates (and Hub versions):
    a rejected one lost on a few train examples and was never scored on the train split,
    so it stays on the run instead of crowding the prompt's history."""

    run = models.ForeignKey(OptimisationRun, on_delete=models.CASCADE, related_name="proposals")
    round = models.PositiveIntegerField()
    position = models.PositiveSmallIntegerField(default=0)  # GEPA may propose several
    parent_index = models.IntegerField(null=True, blank=True)
    parent_components = models.JSONField(default=dict)
    components = models.JSONField(default=dict)
    key = models.CharField(max_length=64)  # sha256 of the components (evaluations' key)
    reflection = models.TextField(blank=True)  # the reflection model's answer, whole
    rationale = models.TextField(blank=True)  # what it said outside its ``` block
    minibatch_ids = models.JSONField(default=list)  # train example ids
    parent_scores = models.JSONField(default=list)  # per minibatch example, in order
    scores = models.JSONField(default=list)
    accepted = models.BooleanField(default=False)
    candidate_index = models.IntegerField(null=True, blank=True)  # in the pool, if accepted
    reason = models.CharField(max_length=300, blank=True)  # why GEPA rejected it
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "round", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "round", "position"], name="optproposal_run_round"
            ),
        ]

    @property
    def parent_total(self) -> float:
        return sum(self.parent_scores or [])

    @property
    def total(self) -> float:
        return sum(self.scores or [])


class Evaluation(TeamOwned):
    """A candidate's output on one example and the evaluators' verdicts, stored once."""

    run = models.ForeignKey(OptimisationRun, on_delete=models.CASCADE, related_name="evaluations")
    candidate_key = models.CharField(max_length=64)
    example_id = models.UUIDField()
    output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    score = models.FloatField(default=0.0)
    passed = models.BooleanField(default=False)
    verdicts = models.JSONField(default=list)  # [{name, passed, value, explanation, feedback}]
    cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "candidate_key", "example_id"], name="opteval_once"
            ),
        ]


class Reflection(TeamOwned):
    """A reflection model's answer, stored under its prompt's hash (a resume replays it)."""

    run = models.ForeignKey(OptimisationRun, on_delete=models.CASCADE, related_name="reflections")
    key = models.CharField(max_length=64)
    answer = models.TextField()
    cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "key"], name="optreflection_once"),
        ]
