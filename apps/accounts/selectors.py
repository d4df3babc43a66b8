"""Reads of accounts."""

from __future__ import annotations

from apps.accounts.models import User


def user_by_email(email: str) -> User | None:
    email = (email or "").strip().lower()
    return User.objects.filter(email=email).first() if email else None
