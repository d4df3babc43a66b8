"""Promptyard's Python client."""

from promptyard.rendering import RenderError, render_prompt, template_variables

__all__ = ["RenderError", "render_prompt", "template_variables"]
