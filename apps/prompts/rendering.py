"""Prompt rendering for the server: the SDK's one implementation, re-exported so every
server caller (Hub, playground, experiments) reaches it the same way."""

from promptyard.rendering import (  # noqa: F401
    CHAT_ROLES,
    KIND_CHAT,
    KIND_TEXT,
    PLACEHOLDER,
    CompiledTemplate,
    RenderError,
    check_values,
    compile_template,
    render_prompt,
    template_variables,
    validate_schema,
)
