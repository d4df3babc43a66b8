"""A type checker narrows a served prompt: isinstance(TextPrompt) makes render() a str,
isinstance(ChatPrompt) a list of messages; the typed results type-check as documented."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from promptyard import ChatPrompt, Prompt, TextPrompt

SDK = Path(__file__).resolve().parents[2] / "sdk"

SNIPPET = """
from typing import Any
from promptyard import ChatPrompt, Promptyard, TextPrompt

client = Promptyard(api_key="pyd_x")
prompt = client.get_prompt("greeting")
if isinstance(prompt, TextPrompt):
    text: str = prompt.render(name="Ann")
elif isinstance(prompt, ChatPrompt):
    messages: list[dict[str, Any]] = prompt.render(name="Ann")
version = client.prompts.get_version("greeting", 2)
number: int = version.number
rows: list[dict[str, Any]] = client.datasets.rows("golden")
wrong: str = client.get_prompt("greeting").render()
"""


def test_it_narrows_render_for_a_type_checker(tmp_path):
    from mypy import api

    module = tmp_path / "snippet.py"
    module.write_text(textwrap.dedent(SNIPPET))
    env_path = os.environ.get("MYPYPATH")
    os.environ["MYPYPATH"] = str(SDK)
    try:
        out, _, status = api.run(
            [
                "--no-incremental",
                "--cache-dir",
                os.devnull,
                "--config-file",
                os.devnull,
                "--follow-imports",
                "silent",
                "--python-version",
                "3.11",
                str(module),
            ]
        )
    finally:
        if env_path is None:
            os.environ.pop("MYPYPATH", None)
        else:
            os.environ["MYPYPATH"] = env_path
    errors = [line for line in out.splitlines() if ": error:" in line]
    # Only the last line is wrong: an un-narrowed prompt renders to str | list.
    last = len(textwrap.dedent(SNIPPET).splitlines())
    assert len(errors) == 1 and f"snippet.py:{last}:" in errors[0], out
    assert 'expression has type "str | list[dict[str, Any]]"' in errors[0]
    assert status == 1


def test_served_and_fallback_prompts_are_text_or_chat():
    text = Prompt.from_dict({"name": "a", "version": 1, "kind": "text", "content_hash": "h"})
    chat = Prompt.from_fallback("b", [{"role": "user", "content": "{{ q }}"}])
    assert isinstance(text, TextPrompt) and isinstance(chat, ChatPrompt)
    assert isinstance(Prompt.from_fallback("c", "Hi {{ q }}"), TextPrompt)
    assert chat.render(q="x") == [{"role": "user", "content": "x"}]
