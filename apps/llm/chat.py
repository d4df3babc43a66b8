"""Chat message roles: the ones a model receives, and the ones a prompt editor writes."""

from __future__ import annotations

from promptyard.rendering import CHAT_ROLES, PLACEHOLDER

# An editor (the prompt editor, the playground) also writes placeholder rows: a named list
# of messages, such as a chat history, filled in when the prompt is rendered.
EDITOR_ROLES = (*CHAT_ROLES, PLACEHOLDER)

__all__ = ["CHAT_ROLES", "EDITOR_ROLES", "PLACEHOLDER"]
