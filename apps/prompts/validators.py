"""Names the Hub accepts: prompt names and tag names."""

from __future__ import annotations

import re

from apps.core.errors import ValidationFailed

TAG_NAME_RE = re.compile(r"^[a-z0-9_.-]{1,36}$")
PROMPT_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,98}[a-z0-9])?$")
LATEST_TAG = "latest"
# Path segments of the Hub pages that sit beside /prompts/<name>/.
RESERVED_PROMPT_NAMES = {"new", "reviews", "editor", "requests", "environments"}


def validate_tag_name(name: str) -> str:
    if not isinstance(name, str) or not TAG_NAME_RE.fullmatch(name):
        raise ValidationFailed(
            f"Tag name {name!r} is not valid: use 1-36 lowercase letters, digits, '_', '.' or '-'.",
            field="tag_name",
        )
    return name


def validate_prompt_name(name: str) -> str:
    if not isinstance(name, str) or not PROMPT_NAME_RE.fullmatch(name):
        raise ValidationFailed(
            "Use 1-100 lowercase letters, digits, '-' or '_', starting and ending with a "
            "letter or digit.",
            field="name",
        )
    if name in RESERVED_PROMPT_NAMES:
        raise ValidationFailed(f"{name!r} is reserved; choose another name.", field="name")
    return name
