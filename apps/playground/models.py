from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TeamOwned


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "Done"
    ERROR = "error", "Error"


class PlaygroundRun(TeamOwned):
    """One variant run from the playground: what was sent, what came back, who and when."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Variants run together at once share a batch id.
    batch = models.UUIDField(default=uuid.uuid4, db_index=True)
    label = models.CharField(max_length=20, blank=True)
    prompt_version = models.ForeignKey(
        "prompts.PromptVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    kind = models.CharField(max_length=10, default="text")
    template = models.TextField(blank=True)
    messages = models.JSONField(default=list, blank=True)
    variables_schema = models.JSONField(default=dict, blank=True)
    variables = models.JSONField(default=dict, blank=True)
    # The messages actually sent to the model, after rendering.
    rendered = models.JSONField(default=list, blank=True)
    provider = models.ForeignKey(
        "llm.ProviderConfig", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    provider_name = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    model_settings = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    output = models.TextField(blank=True)
    error_kind = models.CharField(max_length=30, blank=True)
    error_message = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    # A chain run (kind "chain"): each step that ran, as an experiment result stores them
    # ({name, prompt, version, output | error, latency_ms, tokens, cost}) with the
    # messages it sent; the totals above are the steps' sums, `output` the last step's.
    steps = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["team", "-created_at"], name="playground_run_recent")]

    def __str__(self):
        return f"Playground run {self.pk} ({self.model})"


class RefineConversation(TeamOwned):
    """A conversation with the refine assistant about one prompt, and the version it
    produced when one of its proposals was saved."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    prompt = models.ForeignKey(
        "prompts.Prompt", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # The version being refined (the editor's base, the playground's opened version).
    base_version = models.ForeignKey(
        "prompts.PromptVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # The team's assistant prompt version (its system prompt) and the model it ran on.
    assistant_version = models.ForeignKey(
        "prompts.PromptVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    provider_name = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    produced_version = models.ForeignKey(
        "prompts.PromptVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["team", "-created_at"], name="refine_conv_recent")]

    def __str__(self):
        return f"Refine conversation {self.pk}"


class RefineMessage(TeamOwned):
    """One turn: the person's ask (with the template and rows it was about) or the
    assistant's answer (untrusted text) and the full template it proposed, if any."""

    conversation = models.ForeignKey(
        RefineConversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=10)  # "user" | "assistant"
    content = models.TextField(blank=True)
    # user: the template as it stood when asked; assistant: the proposed new template.
    template = models.TextField(blank=True)
    has_proposal = models.BooleanField(default=False)
    # user: the failing rows shown to the assistant (input, output, feedback).
    rows = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["team", "conversation", "created_at"], name="refine_msg_turns")
        ]

    def __str__(self):
        return f"{self.role} turn of conversation {self.conversation_id}"
