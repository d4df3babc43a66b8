from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TeamOwned
from apps.llm.crypto import decrypt_secret, encrypt_secret

OPENAI_BASE_URL = "https://api.openai.com/v1"


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    OPENAI_COMPATIBLE = "openai-compatible", "OpenAI-compatible server"


class ProviderConfig(TeamOwned):
    """Where a team's model calls go. The API key is stored encrypted and never shown again."""

    name = models.CharField(max_length=100)
    kind = models.CharField(
        max_length=20, choices=ProviderKind.choices, default=ProviderKind.OPENAI_COMPATIBLE
    )
    base_url = models.URLField(max_length=500, default=OPENAI_BASE_URL)
    api_key_encrypted = models.TextField(blank=True, default="")
    key_last4 = models.CharField(max_length=4, blank=True, default="")
    # {model: {"input": usd_per_million_tokens, "output": usd_per_million_tokens}}
    prices = models.JSONField(default=dict, blank=True)
    # The bundled deterministic test server (demo-echo): labelled in the UI, never an LLM.
    is_demo = models.BooleanField(default=False)
    timeout_seconds = models.FloatField(default=60.0)
    max_retries = models.PositiveSmallIntegerField(default=3)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # Model ids offered by the provider: listed from /v1/models, or typed. Declared last:
    # the field's name shadows the `models` module in the rest of this class body.
    models = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="provider_unique_name"),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._saved_base_url = instance.__dict__.get("base_url")
        return instance

    # --- the key -------------------------------------------------------------------

    def set_api_key(self, raw: str) -> None:
        raw = (raw or "").strip()
        self.api_key_encrypted = encrypt_secret(raw) if raw else ""
        self.key_last4 = raw[-4:] if raw else ""
        self._key_set_for_url = self.base_url

    def clear_api_key(self) -> None:
        self.api_key_encrypted = ""
        self.key_last4 = ""

    @property
    def api_key(self) -> str:
        return decrypt_secret(self.api_key_encrypted) if self.api_key_encrypted else ""

    @property
    def has_key(self) -> bool:
        return bool(self.api_key_encrypted)

    @property
    def masked_key(self) -> str:
        return f"••••{self.key_last4}" if self.has_key else ""

    def price_for(self, model: str) -> dict | None:
        price = (self.prices or {}).get(model)
        return price if isinstance(price, dict) else None

    def clean(self):
        super().clean()
        if not isinstance(self.models, list) or not all(
            isinstance(m, str) and m for m in self.models
        ):
            raise ValidationError({"models": "Models must be a list of model names."})
        if not isinstance(self.prices, dict):
            raise ValidationError({"prices": "Prices must map a model to input/output prices."})
        for model, price in self.prices.items():
            if not isinstance(price, dict) or set(price) - {"input", "output"}:
                raise ValidationError(
                    {"prices": f"Price of {model!r} must be {{'input': n, 'output': n}}."}
                )
            for side, value in price.items():
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                    raise ValidationError(
                        {"prices": f"Price of {model!r} ({side}) must be a number ≥ 0."}
                    )
        if not 0 < self.timeout_seconds <= 600:
            raise ValidationError({"timeout_seconds": "Timeout must be between 0 and 600 s."})
        if self.max_retries > 10:
            raise ValidationError({"max_retries": "At most 10 retries."})

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A changed URL never receives the old key: unless a key was set for the new URL,
        # the stored key goes.
        saved_url = getattr(self, "_saved_base_url", None)
        if (
            saved_url is not None
            and saved_url != self.base_url
            and getattr(self, "_key_set_for_url", None) != self.base_url
        ):
            self.clear_api_key()
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = set(update_fields) | {"api_key_encrypted", "key_last4"}
        super().save(*args, **kwargs)
        self._saved_base_url = self.base_url
