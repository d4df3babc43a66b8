"""Tag names: a team's protected tags and the Hub's tags follow one rule."""

from __future__ import annotations

import re

from apps.core.errors import ValidationFailed

TAG_NAME_RE = re.compile(r"^[a-z0-9_.-]{1,36}$")


def validate_tag_name(name: str, *, field: str = "tag_name") -> str:
    if not isinstance(name, str) or not TAG_NAME_RE.fullmatch(name):
        raise ValidationFailed(
            f"Tag name {name!r} is not valid: use 1-36 lowercase letters, digits, '_', '.' or '-'.",
            field=field,
        )
    return name
