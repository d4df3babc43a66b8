"""demo-echo's refine-assistant rule: a deterministic stand-in for proposing a prompt edit.

Test-server behaviour, not a language model. It lets the refine assistant (apps/playground)
be used and tested end to end without a model: when a chat request's system message
mentions "refine assistant" and its last user message carries the current template in a
fenced block labelled `template` followed by a `Request:` line, demo-echo answers:

- a question (the request ends with "?" or starts with why / what / how / which / where /
  when / who / is / are / does / do / can): an explanation that says demo-echo cannot reason
  about it and how many failing rows it was shown, and NO template block (no edit);
- anything else: a one-line explanation and the current template with the request appended
  as a last line of instructions (a sentence: capitalised, ending with a full stop), in a
  ```template block.

So "make it shorter" on `Hi {{ name }}` proposes `Hi {{ name }}\n\nMake it shorter.`: the
edit is real (the version saved from it differs), and demo-echo's instruction rules (see
apps/llm/demo_instructions.py) react to requests they know ("keep it short", "in JSON"...).
"""

from __future__ import annotations

import re

MARKER = re.compile(r"\brefine assistant\b", re.IGNORECASE)
TEMPLATE_BLOCK = re.compile(
    r"^Current template:\n(?P<fence>`{3,})template\n(?P<body>.*?)\n(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
REQUEST = re.compile(r"^Request:[ \t]*(?P<ask>.+)\Z", re.MULTILINE | re.DOTALL)
ROWS = re.compile(r"^Failing rows \((\d+)\):", re.MULTILINE)
QUESTION_WORDS = re.compile(
    r"^(?:why|what|how|which|where|when|who|is|are|does|do|can)\b", re.IGNORECASE
)
PREFIX = "demo-echo (a deterministic test server, not an LLM)"


def propose(system: str, said: str) -> str | None:
    """The answer to a refine-assistant request, or None when this is not one."""
    if not MARKER.search(system or ""):
        return None
    block = TEMPLATE_BLOCK.search(said or "")
    request = REQUEST.search(said or "")
    if block is None or request is None:
        return None
    ask = " ".join(request.group("ask").split())
    rows = ROWS.search(said)
    shown = int(rows.group(1)) if rows else 0
    if ask.endswith("?") or QUESTION_WORDS.match(ask):
        return (
            f"{PREFIX} cannot reason about questions. It was shown {shown} failing "
            f"row{'s' if shown != 1 else ''}. No edit proposed."
        )
    sentence = ask[0].upper() + ask[1:]
    if not sentence.endswith((".", "!")):
        sentence += "."
    template = block.group("body")
    fence = block.group("fence")
    return (
        f"{PREFIX} adds your request to the template as an instruction.\n\n"
        f"{fence}template\n{template}\n\n{sentence}\n{fence}"
    )
