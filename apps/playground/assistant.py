"""The refine assistant's conversation format: what it is sent, and how its answer is read.

The assistant is any configured model (through the one gateway); its system prompt is the
team's Hub prompt `refine-assistant`, seeded on first use and edited like any prompt. It is
asked to answer with an explanation and, when it proposes an edit, the complete new
template in one fenced block labelled `template`. Its answer is untrusted text: it is parsed
here, never executed, and escaped wherever it is shown. An answer with no such block
proposes no edit, and the page says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

ASSISTANT_PROMPT_NAME = "refine-assistant"

DEFAULT_SYSTEM_PROMPT = """You are Promptyard's refine assistant. You help a team improve one \
prompt template.

You are given the current template, its variables, what the user asks, and sometimes rows \
where the prompt failed, each with its input, the model's output and the evaluators' \
feedback.

Answer in two parts:
1. A short explanation: what you would change and why (for a question about failures, \
what the failing rows have in common).
2. If you propose an edit, the complete new template (not a fragment, not a diff) in one \
fenced block labelled template, like this:

```template
the whole new template here
```

Keep every {{ variable }} the template needs, in Jinja2 syntax. If no edit is needed, do \
not include a template block."""

MAX_ASK = 2000  # characters of one question
MAX_TEMPLATE = 20_000  # characters of the template sent (and of a proposal kept)
MAX_ROWS = 10  # failing rows shown to the assistant in one turn
MAX_ROW_TEXT = 1000  # characters of each row's input, output and feedback
MAX_TURNS = 20  # questions in one conversation
HISTORY_TURNS = 6  # earlier exchanges sent back with a new question
ANSWER_TOKENS = 2000  # the answer's bound when the assistant's settings name none

# A fenced block: ``` or ~~~ (three or more, the closing fence the same), an info string.
_FENCE = re.compile(
    r"^(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)\n?^(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_TEMPLATE_LABELS = {"template", "prompt", "jinja", "jinja2"}
_PLAIN_LABELS = {"", "text"}


@dataclass
class Proposal:
    explanation: str
    template: str | None  # the complete new template; None: no edit proposed


def parse_answer(text: str) -> Proposal:
    """The explanation and the proposed template of an answer.

    The last block labelled template (or prompt, jinja) is the proposal; with none, a lone
    unlabelled block is. Anything else (no block, several unlabelled ones, only blocks of
    other languages) proposes no edit."""
    text = text or ""
    blocks = list(_FENCE.finditer(text))
    labelled = [b for b in blocks if b.group("info").strip().lower() in _TEMPLATE_LABELS]
    chosen = labelled[-1] if labelled else None
    if chosen is None and len(blocks) == 1:
        if blocks[0].group("info").strip().lower() in _PLAIN_LABELS:
            chosen = blocks[0]
    if chosen is None:
        return Proposal(explanation=text.strip(), template=None)
    explanation = (text[: chosen.start()] + text[chosen.end() :]).strip()
    template = chosen.group("body")
    if len(template) > MAX_TEMPLATE:
        return Proposal(
            explanation=explanation
            + f"\n\n(The proposed template is longer than {MAX_TEMPLATE} characters and was "
            "not kept.)",
            template=None,
        )
    return Proposal(explanation=explanation, template=template)


def fence_for(text: str) -> str:
    """A backtick fence longer than any run of backticks in `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text or "")), default=0)
    return "`" * max(3, longest + 1)


def _cut(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_ROW_TEXT else text[:MAX_ROW_TEXT] + "…"


def question_text(*, template: str, variables: list[str], ask: str, rows: list[dict]) -> str:
    """The user message of one turn: the template as it stands, its variables, the chosen
    failing rows with their feedback, and the question."""
    fence = fence_for(template)
    parts = [
        f"Current template:\n{fence}template\n{template}\n{fence}",
        "Variables: " + (", ".join(variables) if variables else "(none)"),
    ]
    if rows:
        lines = [f"Failing rows ({len(rows)}):"]
        for number, row in enumerate(rows, start=1):
            lines.append(f"Row {number}:")
            lines.append(f"  input: {_cut(row.get('input'))}")
            if row.get("expected") not in (None, ""):
                lines.append(f"  expected: {_cut(row.get('expected'))}")
            lines.append(f"  output: {_cut(row.get('output', ''))}")
            for feedback in row.get("feedback") or []:
                lines.append(f"  feedback: {_cut(feedback)}")
        parts.append("\n".join(lines))
    parts.append(f"Request: {ask}")
    return "\n\n".join(parts)


def conversation_messages(
    *, system: str, history: list[tuple[str, str]], question: str
) -> list[dict[str, str]]:
    """System prompt, the last HISTORY_TURNS exchanges (role, text), then the question."""
    messages = [{"role": "system", "content": system}]
    for role, content in history[-2 * HISTORY_TURNS :]:
        messages.append({"role": role, "content": content})
    messages.append({"role": "user", "content": question})
    return messages
