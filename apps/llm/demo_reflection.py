"""demo-echo's reflection rule: a deterministic stand-in for an optimizer's reflection model.

demo-echo is a test server, not a language model. An optimisation run asks its reflection
model to rewrite a prompt's instructions from feedback on failing rows (GEPA's reflection
prompt: the current instructions in a ``` block, then the examples with their feedback, then
"Provide the new instructions within ``` blocks"). To make that loop demonstrable and
testable without a model, demo-echo answers such a request by fixed, documented rules:

- The request is recognised by the phrase "new instructions within ``` blocks" in the last
  user message; the current instructions are its first ``` block.
- Every feedback line of the form `expected <field> "<value>"` (what apps.optimisation
  writes when an evaluator compares with an example's expected field) asks for the field:
  the sentence `Always include the <field, underscores as spaces> word for word.` is added
  once (demo-echo's instruction rules then follow e.g. "include the order status").
- Every feedback line `missing literal "<text>"` (an evaluator looking for a fixed text)
  adds `End with "<text>".` once.
- The answer is one line saying what changed and why, then the new instructions in a
  ``` block; with nothing to add the instructions come back unchanged, saying so.

Same request, same answer: nothing is learned or random.
"""

from __future__ import annotations

import re

MARKER = "new instructions within ``` blocks"
FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)
EXPECTED_FIELD = re.compile(r'\bexpected ([A-Za-z_][\w]*) "([^"\n]*)"')
MISSING_LITERAL = re.compile(r'\bmissing literal "([^"\n]+)"')


def is_reflection_request(text: str) -> bool:
    return MARKER in text


def propose(text: str) -> str:
    """The reply to a reflection request: a line of reasons, then the new instructions."""
    found = FENCE.search(text)
    current = found.group(1).strip() if found else ""
    rest = text[found.end() :] if found else text
    additions: list[str] = []
    reasons: list[str] = []
    fields: dict[str, int] = {}
    for name, _value in EXPECTED_FIELD.findall(rest):
        fields[name] = fields.get(name, 0) + 1
    for name, count in fields.items():
        words = name.replace("_", " ")
        if f"include the {words}".lower() in current.lower():
            continue
        additions.append(f"Always include the {words} word for word.")
        reasons.append(f"{count} replies left out the expected {words}")
    literals: dict[str, int] = {}
    for literal in MISSING_LITERAL.findall(rest):
        literals[literal] = literals.get(literal, 0) + 1
    for literal, count in literals.items():
        sentence = f'End with "{literal}".'
        if sentence.lower() in current.lower():
            continue
        additions.append(sentence)
        reasons.append(f'{count} replies did not say "{literal}"')
    if not additions:
        return (
            "demo-echo (test server) reflection: no feedback it has a rule for; "
            f"instructions unchanged.\n```\n{current}\n```"
        )
    new = (current + " " + " ".join(additions)).strip()
    why = "; ".join(reasons)
    return (
        f"demo-echo (test server) reflection: added {' '.join(additions)!r} because {why}."
        f"\n```\n{new}\n```"
    )
