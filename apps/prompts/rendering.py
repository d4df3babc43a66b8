"""Prompt rendering. One implementation, shared with the SDK so both behave identically."""

from promptyard.rendering import (  # noqa: F401
    KIND_CHAT,
    KIND_TEXT,
    PLACEHOLDER,
    RenderError,
    check_values,
    render_prompt,
    template_variables,
    validate_schema,
)
