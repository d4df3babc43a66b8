"""The SDK README is a guide whose examples call what exists: every `yard.<area>.<method>`
it shows is a method of the client, and its sections are there."""

from __future__ import annotations

import re
from pathlib import Path

from promptyard import Promptyard

README = Path(__file__).resolve().parents[2] / "sdk" / "README.md"


def test_the_readme_shows_only_methods_the_client_has():
    text = README.read_text(encoding="utf-8")
    client = Promptyard(api_key="pyd_x")
    shown = set(re.findall(r"yard\.([a-z_]+)\.([a-z_]+)\(", text))
    assert len(shown) >= 20
    for area, method in sorted(shown):
        assert callable(getattr(getattr(client, area, None), method, None)), f"{area}.{method}"


def test_the_readme_has_every_section_of_the_guide():
    headings = re.findall(r"^## (.+)$", README.read_text(encoding="utf-8"), flags=re.M)
    for needed in (
        "Install",
        "Fetch and render",
        "Offline behaviour",
        "Tracing",
        "Scores and feedback",
        "The client's areas",
        "Model settings",
        "Errors",
        "Experiments over your own code",
        "CI",
    ):
        assert needed in headings
