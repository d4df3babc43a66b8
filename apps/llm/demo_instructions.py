"""demo-echo's instruction rules: a deterministic stand-in for following a prompt.

demo-echo is a test server, not a language model. To let two prompt versions score
differently in the demo and in tests, it recognises a few fixed phrases in the prompt's
instructions and reshapes its answer by simple, documented rules (see the list in
apps/llm/demo_echo.py). Nothing here is learned or random: the same messages always give
the same answer, and with no recognised phrase `follow()` returns None so the caller keeps
the plain echo.

Where the parts come from:
- instructions: the text of every `system` and `developer` message. With none (a text
  prompt, sent as one user message) the last user message is read as the instructions;
- input: the last user message. For a text prompt it is the part after the message's last
  blank line, with a leading label such as `Message:` or `Customer message:` dropped.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

THANKS = "Thank you for reaching out."
BRIEF_WORDS = 12
CUT = "…"

_NUMBERS = {
    "one": 1,
    "a single": 1,
    "single": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_COUNT = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten)"
_I = re.IGNORECASE

ONE_SENTENCE = re.compile(r"\b(?:in|as|with|to)?\s*(?:one|a single|single)\s+sentence\b", _I)
AT_MOST_SENTENCES = re.compile(rf"\bat most {_COUNT} sentences?\b", _I)
BRIEF = re.compile(r"\b(?:be brief|keep it (?:brief|short))\b", _I)
AT_MOST_WORDS = re.compile(rf"\bat most {_COUNT} words?\b", _I)
BULLETS = re.compile(r"\b(?:bullet(?:ed)? (?:points?|list)|as bullets)\b", _I)
JSON_ANSWER = re.compile(r"\b(?:(?:in|as|with) json|json object)\b", _I)
THANK = re.compile(r"\bthank (?:the customer|the user|them)\b", _I)
ORDER_STATUS = re.compile(r"\b(?:mention|include|state|give|say) the order status\b", _I)
UPPER = re.compile(r"\b(?:upper ?case|all caps|in capitals|capital letters)\b", _I)
LOWER = re.compile(r"\blower ?case\b", _I)
NEVER_MENTION = re.compile(r"\b(?:never|do not|don't) mention\s+(?:\"([^\"]+)\"|([\w-]+))", _I)
ADDRESS_AS = re.compile(r"\baddress the customer as ([^.\n,;]+)", _I)
START_WITH = re.compile(
    r"\b(?:start|begin)(?: (?:your|the) (?:answer|reply))? with \"([^\"]+)\"", _I
)
END_WITH = re.compile(
    r"\b(?:end(?: (?:your|the) (?:answer|reply))?|sign off) with \"([^\"]+)\"", _I
)
# The order status an input carries: `Order status: shipped` or `"order_status": "shipped"`.
INPUT_STATUS = re.compile(r"order[ _]status\"?\s*[:=]\s*\"?([^\"\n.,;!?]+)", _I)
LABEL = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 '_-]{0,39}?)\s*:\s*(.*)$")
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
WORD = re.compile(r"\w+")


@dataclass
class Rules:
    """What the instructions ask for, read once."""

    examples: list[tuple[str, str]] = field(default_factory=list)
    input_label: str = ""
    never: list[str] = field(default_factory=list)
    sentences: int | None = None
    words: int | None = None
    order_status: bool = False
    thank: bool = False
    address_as: str = ""
    start: str = ""
    end: str = ""
    bullets: bool = False
    case: str = ""  # "upper" | "lower" | ""
    json: bool = False

    @property
    def any(self) -> bool:
        return bool(
            self.examples
            or self.never
            or self.sentences
            or self.words
            or self.order_status
            or self.thank
            or self.address_as
            or self.start
            or self.end
            or self.bullets
            or self.case
            or self.json
        )


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBERS[word.lower()]


def few_shot_examples(text: str) -> tuple[list[tuple[str, str]], str]:
    """(example pairs, their input label): lines `A: text` followed by `B: text`, where the
    same two labels make at least two pairs (Input/Output, Q/A, Ticket/Category...)."""
    lines = [line for line in text.splitlines() if line.strip()]
    pairs: list[tuple[str, str, str, str]] = []
    index = 0
    while index < len(lines) - 1:
        a, b = LABEL.match(lines[index]), LABEL.match(lines[index + 1])
        if (
            a
            and b
            and a.group(2).strip()
            and b.group(2).strip()
            and a.group(1).lower() != b.group(1).lower()
        ):
            pairs.append((a.group(1).lower(), b.group(1).lower(), a.group(2), b.group(2)))
            index += 2  # an example's output line never starts the next pair
        else:
            index += 1
    counts = Counter((a, b) for a, b, _, _ in pairs)
    if not counts:
        return [], ""
    (labels, seen) = counts.most_common(1)[0]
    if seen < 2:
        return [], ""
    return [(x.strip(), y.strip()) for a, b, x, y in pairs if (a, b) == labels], labels[0]


def read_rules(instructions: str) -> Rules:
    rules = Rules()
    rules.examples, rules.input_label = few_shot_examples(instructions)
    rules.never = [q or w for q, w in NEVER_MENTION.findall(instructions)]
    limits = [_count(m) for m in AT_MOST_SENTENCES.findall(instructions)]
    if ONE_SENTENCE.search(instructions):
        limits.append(1)
    rules.sentences = min(limits) if limits else None
    words = [_count(m) for m in AT_MOST_WORDS.findall(instructions)]
    if BRIEF.search(instructions):
        words.append(BRIEF_WORDS)
    rules.words = min(words) if words else None
    rules.order_status = bool(ORDER_STATUS.search(instructions))
    rules.thank = bool(THANK.search(instructions))
    address = ADDRESS_AS.search(instructions)
    rules.address_as = address.group(1).strip() if address else ""
    start = START_WITH.search(instructions)
    rules.start = start.group(1) if start else ""
    end = END_WITH.search(instructions)
    rules.end = end.group(1) if end else ""
    rules.bullets = bool(BULLETS.search(instructions))
    rules.case = (
        "upper" if UPPER.search(instructions) else "lower" if LOWER.search(instructions) else ""
    )
    rules.json = bool(JSON_ANSWER.search(instructions))
    return rules


def last_paragraph(text: str) -> str:
    """What follows a text prompt's last blank line (all of it when it has none)."""
    parts = re.split(r"\n\s*\n", text.strip())
    return parts[-1]


def without_label(text: str) -> str:
    """The text without a leading label such as `Message:` on its first line."""
    first, _, rest = text.partition("\n")
    label = LABEL.match(first)
    if label:
        return (label.group(2) + ("\n" + rest if rest else "")).strip()
    return text


def sentences(text: str) -> list[str]:
    return [s for s in SENTENCE_END.split(text.strip()) if s]


def _words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


def imitate(examples: list[tuple[str, str]], query: str) -> str:
    """The answer the examples suggest: their pattern applied to the query when every
    example's output contains its input, else the output of the most similar example."""
    if all(x and x.lower() in y.lower() for x, y in examples):
        x, y = examples[0]
        start = y.lower().index(x.lower())
        return y[:start] + query + y[start + len(x) :]
    asked = _words(query)
    best = max(examples, key=lambda pair: len(asked & _words(pair[0])))  # first on a tie
    return best[1]


def _query(text: str, label: str) -> str:
    """With examples labelled `label:`, the input is the last line carrying that label."""
    found = ""
    for line in text.splitlines():
        match = LABEL.match(line)
        if match and match.group(1).lower() == label and match.group(2).strip():
            found = match.group(2).strip()
    return found


def apply(rules: Rules, said: str, *, raw: str | None = None, message: str | None = None) -> str:
    """The reply to the input `said` under the rules, in the documented order. `raw` is the
    input with its label (the few-shot query is found there), `message` the whole user
    message (where an order status is looked for)."""
    raw = said if raw is None else raw
    message = said if message is None else message
    if rules.examples:
        query = _query(raw, rules.input_label) or " ".join(said.split())
        reply = imitate(rules.examples, query)
    else:
        reply = " ".join(said.split())
    if rules.never:
        kept = [s for s in sentences(reply) if not any(w.lower() in s.lower() for w in rules.never)]
        reply = " ".join(kept)
    if rules.sentences:
        reply = " ".join(sentences(reply)[: rules.sentences])
    if rules.words:
        words = reply.split()
        if len(words) > rules.words:
            reply = " ".join(words[: rules.words]) + CUT
    if rules.order_status:
        status = INPUT_STATUS.search(message)
        if status and status.group(1).strip():
            reply = f"{reply} Your order status: {status.group(1).strip()}.".strip()
    if rules.thank:
        reply = f"{THANKS} {reply}".strip()
    if rules.address_as:
        reply = f"Hi {rules.address_as}, {reply}".strip()
    if rules.start:
        reply = f"{rules.start} {reply}".strip()
    if rules.end:
        reply = f"{reply} {rules.end}".strip()
    if rules.bullets:
        reply = "\n".join(f"- {s}" for s in sentences(reply))
    if rules.case == "upper":
        reply = reply.upper()
    elif rules.case == "lower":
        reply = reply.lower()
    if rules.json:
        reply = json.dumps({"answer": reply}, ensure_ascii=False)
    return reply


def follow(instructions: str, said: str, *, text_prompt: bool) -> str | None:
    """The instruction-following reply, or None when the instructions ask for nothing the
    rules know (the caller then echoes as always)."""
    rules = read_rules(instructions)
    if not rules.any:
        return None
    if not text_prompt:
        return apply(rules, said)
    tail = last_paragraph(said)
    return apply(rules, without_label(tail), raw=tail, message=said)
