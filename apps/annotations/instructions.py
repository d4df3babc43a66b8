"""A queue's instructions: Markdown its managers write, shown to every annotator."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})


def render_instructions(text: str) -> str:
    """Markdown without raw HTML, then sanitised: safe to mark as safe."""
    return nh3.clean(_markdown.render(text or ""), link_rel="noopener noreferrer nofollow")
