"""Names the Hub accepts: prompt names and tag names."""

from __future__ import annotations

import re

from apps.core.errors import ValidationFailed

# Tag names are a teams rule (a team's protected tags are tag names); the Hub uses it as is.
from apps.teams.validators import TAG_NAME_RE as TAG_NAME_RE
from apps.teams.validators import validate_tag_name as validate_tag_name

PROMPT_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,98}[a-z0-9])?$")
PROMPT_NAME_RULE = (
    "Use 1-100 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit."
)
LATEST_TAG = "latest"
# Path segments of the Hub pages that sit beside /prompts/<name>/.
RESERVED_PROMPT_NAMES = {"new", "reviews", "editor", "requests", "environments"}


def validate_prompt_name(name: str) -> str:
    if not isinstance(name, str) or not PROMPT_NAME_RE.fullmatch(name):
        raise ValidationFailed(PROMPT_NAME_RULE, field="name")
    if name in RESERVED_PROMPT_NAMES:
        raise ValidationFailed(f"{name!r} is reserved; choose another name.", field="name")
    return name
