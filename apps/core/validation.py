"""Model validation in services: Django's ValidationError becomes our ValidationFailed, so
both front ends show it the same way (the field named, the message beside it)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from apps.core.errors import ValidationFailed


def _validation(exc: ValidationError) -> ValidationFailed:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    field, messages = next(iter(errors.items()))
    if field == "__all__":
        return ValidationFailed(messages[0], errors=errors)
    return ValidationFailed(f"{field}: {messages[0]}", field=field, errors=errors)


def full_clean_or_raise(instance: models.Model, **kwargs: Any) -> None:
    """`instance.full_clean(**kwargs)`, raising ValidationFailed instead of ValidationError."""
    try:
        instance.full_clean(**kwargs)
    except ValidationError as exc:
        raise _validation(exc) from None
