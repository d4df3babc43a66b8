"""Traces and spans received over OTLP.

A Trace row is the per-trace summary the explorer lists and filters on (one row per
OpenTelemetry trace id, aggregated as its spans arrive, possibly over several exports);
Span rows hold everything an exporter sent, with the GenAI fields lifted into columns.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TeamOwned


class Status(models.TextChoices):
    UNSET = "unset", "Unset"
    OK = "ok", "OK"
    ERROR = "error", "Error"


class Trace(TeamOwned):
    trace_id = models.CharField(max_length=32)  # lowercase hex, as OTLP/JSON spells it
    name = models.CharField(max_length=255, blank=True)  # the root span's name
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()
    duration_ms = models.FloatField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.UNSET)
    span_count = models.PositiveIntegerField(default=0)
    model = models.CharField(max_length=200, blank=True)
    prompt_name = models.CharField(max_length=200, blank=True)
    prompt_version_number = models.PositiveIntegerField(null=True, blank=True)
    function_name = models.CharField(max_length=255, blank=True)
    function_version = models.CharField(max_length=64, blank=True)
    input_preview = models.TextField(blank=True)
    output_preview = models.TextField(blank=True)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=8, null=True, blank=True)
    # The conversation and the end user the trace belongs to (`session.id`, `user.id`:
    # OpenInference; also the OTel GenAI conversation id and `enduser.id`).
    session_id = models.CharField(max_length=255, blank=True)
    user_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-start_time", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "trace_id"], name="trace_unique_team_trace_id")
        ]
        # The explorer's keyset pages (newest first) under each of its filters: team first,
        # then the filter, then the whole page order, so a page is a range read of 51
        # entries. The (team, name / model / prompt / function, …) ones also serve the
        # filter suggestions' distinct values (apps.core.distinct).
        indexes = [
            models.Index(fields=["team", "-start_time", "-id"], name="trace_team_time"),
            models.Index(fields=["team", "name", "-start_time", "-id"], name="trace_team_name"),
            models.Index(fields=["team", "status", "-start_time", "-id"], name="trace_team_status"),
            models.Index(fields=["team", "model", "-start_time", "-id"], name="trace_team_model"),
            models.Index(
                fields=["team", "prompt_name", "prompt_version_number", "-start_time", "-id"],
                name="trace_team_prompt",
            ),
            models.Index(
                fields=["team", "function_name", "function_version", "-start_time", "-id"],
                name="trace_team_function",
            ),
            # A session's traces in order (its page reads it forwards, the explorer back).
            models.Index(
                fields=["team", "session_id", "start_time", "id"], name="trace_team_session"
            ),
            models.Index(fields=["team", "user_id", "-start_time", "-id"], name="trace_team_user"),
        ]

    def __str__(self):
        return f"{self.name or 'trace'} {self.trace_id}"


class Span(TeamOwned):
    """One span. On PostgreSQL the table is partitioned by week of `start_ns` (migration
    0003, apps/traces/partitions.py): retention drops whole partitions, and its primary key
    is (team, id, start_ns), since a key of a partitioned table must hold the partition key.
    Django still addresses a span by `id` (unique: one sequence feeds every partition), and
    every read here names the team, so each goes through an index that starts with it."""

    # No index of their own: (team, trace, span_id, start_ns) below serves both, and the
    # primary key starts with the team. A span never outlives its team or trace in a
    # query that would need one (retention deletes by team and trace; see services).
    team = models.ForeignKey(
        "teams.Team", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="spans", db_index=False)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True)
    name = models.CharField(max_length=255, blank=True)
    kind = models.CharField(max_length=12, blank=True)
    start_ns = models.BigIntegerField()
    end_ns = models.BigIntegerField()
    duration_ms = models.FloatField(default=0)
    status_code = models.CharField(max_length=8, choices=Status.choices, default=Status.UNSET)
    status_message = models.TextField(blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    events = models.JSONField(default=list, blank=True)
    resource = models.JSONField(default=dict, blank=True)
    model = models.CharField(max_length=200, blank=True)
    input_text = models.TextField(blank=True)
    output_text = models.TextField(blank=True)
    input_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    output_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=18, decimal_places=8, null=True, blank=True)
    prompt_name = models.CharField(max_length=200, blank=True)
    prompt_version_number = models.PositiveIntegerField(null=True, blank=True)
    # Resolved at ingest from (prompt_name, prompt_version_number) within the key's team.
    # No index: versions are immutable and never deleted while spans name them.
    prompt_version = models.ForeignKey(
        "prompts.PromptVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    function_name = models.CharField(max_length=255, blank=True)
    function_version = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["start_ns", "id"]
        constraints = [
            # A retried export must not store a span twice. A unique key of a partitioned
            # table must hold its partition key (start_ns): a retry resends the same start,
            # so it still conflicts. Also the trace page's index: (team, trace) then order.
            models.UniqueConstraint(
                fields=["team", "trace", "span_id", "start_ns"], name="span_unique_team_trace"
            )
        ]

    def __str__(self):
        return f"{self.name} {self.span_id}"

    @property
    def is_error(self) -> bool:
        return self.status_code == Status.ERROR


class ScoreKind(models.TextChoices):
    BOOLEAN = "boolean", "Boolean"
    NUMBER = "number", "Number"
    CATEGORY = "category", "Category"


class ScoreSource(models.TextChoices):
    API = "api", "API"
    SDK = "sdk", "SDK"
    HUMAN = "human", "Human"
    LLM = "llm", "LLM judge"
    RULE = "rule", "Rule"


class TraceScore(TeamOwned):
    """A score on a trace, or on one of its spans: user feedback, a human verdict, an online
    evaluator's judgement. General on purpose (trace and span by their OTLP ids, a name, a
    typed value), so other features read it without knowing who wrote it.

    `value` holds every kind as a number (a boolean as 1.0 / 0.0, a category as None), so a
    mean or a pass rate is one aggregate; `category` holds a category's label. `client_id`
    makes a write idempotent: the same id again updates the same row."""

    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="scores")
    trace_hex = models.CharField(max_length=32)  # the OTLP trace id, as the trace has it
    span_hex = models.CharField(max_length=16, blank=True)  # '' scores the whole trace
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=ScoreKind.choices)
    value = models.FloatField(null=True, blank=True)
    category = models.CharField(max_length=200, blank=True)
    comment = models.TextField(blank=True)
    source = models.CharField(max_length=6, choices=ScoreSource.choices, default=ScoreSource.API)
    # Who gave it, as the client names them (an end user's id, a reviewer's email); the
    # person behind the key or session that sent it is `created_by`.
    author = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    client_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "client_id"],
                condition=~models.Q(client_id=""),
                name="trace_score_unique_client_id",
            )
        ]
        indexes = [
            # A trace's scores (the trace page, the explorer's columns and filters).
            models.Index(fields=["team", "trace", "name"], name="trace_score_team_trace"),
            # Scores by name over time (filters "has score X", exports, the dashboard).
            models.Index(fields=["team", "name", "-created_at"], name="trace_score_team_name"),
        ]

    def __str__(self):
        return f"{self.name}={self.display_value} on {self.trace_hex}"

    @property
    def display_value(self) -> str:
        if self.kind == ScoreKind.BOOLEAN:
            return "true" if self.value else "false"
        if self.kind == ScoreKind.CATEGORY:
            return self.category
        return f"{self.value:g}" if self.value is not None else ""

    @property
    def json_value(self):
        if self.kind == ScoreKind.BOOLEAN:
            return bool(self.value)
        if self.kind == ScoreKind.CATEGORY:
            return self.category
        return self.value


class Period(models.TextChoices):
    HOUR = "h", "Hour"
    DAY = "d", "Day"


class TraceBucket(TeamOwned):
    """The traces of one hour (or day) of one prompt version and function version, summed:
    what the dashboard charts, so a page reads buckets, never spans or traces. Rebuilt by
    the worker from the traces of each hour that ingestion or a score marked (BucketMark);
    a day is the sum of its hours. `latency` is a histogram of trace durations over
    geometric bins (apps/traces/dashboard/buckets.py) from which p50/p95 are read."""

    period = models.CharField(max_length=1, choices=Period.choices)
    start = models.DateTimeField()  # the hour's or day's start (UTC)
    prompt_name = models.CharField(max_length=200, blank=True)
    prompt_version_number = models.PositiveIntegerField(default=0)  # 0: no prompt version
    function_name = models.CharField(max_length=255, blank=True)
    function_version = models.CharField(max_length=64, blank=True)
    traces = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    duration_ms_sum = models.FloatField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=8, default=0)
    latency = models.JSONField(default=dict)  # {bin index: traces}

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "team",
                    "period",
                    "start",
                    "prompt_name",
                    "prompt_version_number",
                    "function_name",
                    "function_version",
                ],
                name="trace_bucket_unique_key",
            )
        ]
        indexes = [
            models.Index(fields=["team", "period", "start"], name="trace_bucket_team_time"),
            models.Index(
                fields=["team", "period", "prompt_name", "start"], name="trace_bucket_team_prompt"
            ),
            models.Index(
                fields=["team", "period", "function_name", "start"],
                name="trace_bucket_team_function",
            ),
        ]


class ScoreBucket(TeamOwned):
    """The boolean and numeric scores of one hour's (or day's) traces of one prompt version
    and function version, per score name: `count` and `total` give a mean, or for a
    boolean the pass rate."""

    period = models.CharField(max_length=1, choices=Period.choices)
    start = models.DateTimeField()
    prompt_name = models.CharField(max_length=200, blank=True)
    prompt_version_number = models.PositiveIntegerField(default=0)
    function_name = models.CharField(max_length=255, blank=True)
    function_version = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=ScoreKind.choices)
    count = models.PositiveIntegerField(default=0)
    total = models.FloatField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["team", "period", "start"], name="score_bucket_team_time"),
            models.Index(
                fields=["team", "period", "prompt_name", "start"], name="score_bucket_team_prompt"
            ),
            models.Index(
                fields=["team", "period", "function_name", "start"],
                name="score_bucket_team_function",
            ),
        ]


class BucketMark(TeamOwned):
    """An hour of a team whose buckets are stale: appended (never updated, so writers never
    wait on each other) by ingestion and score writes in their own transaction, drained by
    the worker for every team (apps/traces/dashboard/buckets.py)."""

    hour = models.DateTimeField()

    def __str__(self):
        return f"{self.team_id} {self.hour:%Y-%m-%d %H}:00"


class OnlineRule(TeamOwned):
    """An evaluator run on live traffic: which traces (filters on the trace's summary and
    its root span's attributes), how many of them (a sampling rate, decided by a hash of
    the trace id so a trace is in or out for good), which evaluator (the team's named one:
    a built-in check or an LLM judge from a Hub version), and what it may spend per day.

    The worker evaluates traces after ingestion (apps/traces/online/services.py), never on
    the ingestion path, reading traces after `cursor` in the order they were created."""

    name = models.CharField(max_length=100)
    # Deleting the evaluator leaves the rule, idle (the worker skips a rule without one).
    evaluator = models.ForeignKey(
        "experiments.Evaluator",
        on_delete=models.SET_NULL,
        null=True,
        related_name="online_rules",
    )
    prompt_name = models.CharField(max_length=200, blank=True)
    prompt_version_number = models.PositiveIntegerField(null=True, blank=True)
    function_name = models.CharField(max_length=255, blank=True)
    function_version = models.CharField(max_length=64, blank=True)
    trace_name = models.CharField(max_length=255, blank=True)  # the root span's name
    attributes = models.JSONField(default=dict, blank=True)  # root span attribute == value
    sample_rate = models.FloatField(default=1.0)
    daily_calls = models.PositiveIntegerField(default=1000)
    daily_cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    paused = models.BooleanField(default=False)
    cursor = models.BigIntegerField(default=0)  # the last trace pk looked at
    matched = models.PositiveBigIntegerField(default=0)
    sampled = models.PositiveBigIntegerField(default=0)
    scored = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)
    last_errors = models.JSONField(default=list, blank=True)  # newest first, a few
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="online_rule_unique_name")
        ]

    def __str__(self):
        return self.name

    @property
    def coverage(self) -> float | None:
        """Of the traces the filters matched, the share that got a score."""
        return self.scored / self.matched if self.matched else None


class OnlineRuleDay(TeamOwned):
    """A rule's spending on one day (UTC): calls made and their cost, plus what is reserved
    by calls in flight. A call reserves its worst case here before it starts, so the day's
    budget holds across workers."""

    rule = models.ForeignKey(OnlineRule, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    calls = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    budget_stops = models.PositiveIntegerField(default=0)  # traces left unjudged by the budget

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "day"], name="online_rule_day_unique")
        ]

    def __str__(self):
        return f"{self.rule_id} {self.day}"


class TraceExport(TeamOwned):
    """A big OTLP export (PROMPTYARD_TRACE_DEFER_BYTES or more, decompressed) accepted with
    200 and kept whole until a task worker decodes and writes it
    (apps.traces.exports): the web process only reads it and counts its spans for the
    team's quota, so one team's big batches never hold the request threads' CPU that other
    teams' requests need. Written and deleted in one transaction: stored exactly once."""

    body = models.BinaryField()
    content_type = models.CharField(max_length=100)
    spans = models.PositiveIntegerField()  # as counted and charged when accepted
    received_at = models.DateTimeField(default=timezone.now)
    api_key_label = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["received_at", "id"]


class FunctionVersion(TeamOwned):
    """A version of a traced function: numbered per function per team (v1, v2, …) the first
    time a span arrives with a new version hash and the code it covers (the function and
    the same-package functions it calls, as the SDK's @trace sends them)."""

    name = models.CharField(max_length=255)  # promptyard.function.name (module.qualname)
    number = models.PositiveIntegerField()
    version_hash = models.CharField(max_length=64)
    source = models.TextField(blank=True)
    settings = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "name", "version_hash"], name="function_version_unique_hash"
            ),
            models.UniqueConstraint(
                fields=["team", "name", "number"], name="function_version_unique_number"
            ),
        ]

    def __str__(self):
        return f"{self.name} v{self.number}"

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]
