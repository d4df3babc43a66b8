"""Diffs between two versions: unified and side by side, word by word (difflib).

Lines are matched first; inside a changed line the words that changed are marked, and a
change that is only whitespace (a space, a tab, an empty line, the last newline) is shown
with a visible marker, since a blank on a blank would show nothing. Every part carries
plain text: the templates escape it, nothing here builds HTML.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field

CONTEXT = 3
_WORDS = re.compile(r"\s+|[^\s\w]|\w+")  # whitespace runs, punctuation marks, words
_MARKERS = str.maketrans({" ": "·", "\t": "→", "\r": "␍", "\f": "␌", "\v": "␋"})
EMPTY_LINE = "↵"


def content_text(version) -> str:
    """The prompt body as lines: the template, or one block per chat message."""
    if version is None:
        return ""
    if version.kind == "text":
        return version.template
    if version.kind == "chain":
        return chain_text(version.steps or [])
    blocks = []
    for message in version.messages:
        if message.get("role") == "placeholder":
            blocks.append(f"[placeholder: {message.get('name', '')}]")
        else:
            blocks.append(f"[{message.get('role')}]\n{message.get('content', '')}")
    return "\n\n".join(blocks)


def chain_text(steps: list[dict]) -> str:
    """A chain's steps, a line each with its input mappings under it (in name order)."""
    lines = []
    for index, step in enumerate(steps, start=1):
        runs = f"at tag {step['tag']}" if step.get("tag") else f"v{step.get('version')}"
        lines.append(f"{index}. {step.get('name')}: {step.get('prompt')} {runs}")
        for variable, source in sorted((step.get("inputs") or {}).items()):
            lines.append(f"   {variable} ← {source}")
    return "\n".join(lines)


def settings_text(version) -> str:
    if version is None:
        return ""
    return json.dumps(
        {
            "kind": version.kind,
            "model_settings": version.model_settings,
            "variables_schema": version.variables_schema,
        },
        indent=2,
        sort_keys=True,
        ensure_ascii=False,
    )


@dataclass
class Part:
    """A run of one line: unchanged ("equal"), removed ("del") or added ("add")."""

    text: str
    kind: str
    marked: bool = False  # a whitespace-only change, shown with visible markers

    @property
    def shown(self) -> str:
        if not self.marked:
            return self.text
        return self.text.translate(_MARKERS) or EMPTY_LINE


@dataclass
class UnifiedLine:
    text: str
    kind: str  # "add", "del", "hunk", "context"
    parts: list[Part] = field(default_factory=list)


@dataclass
class SideRow:
    left_no: int | None
    left: str | None
    right_no: int | None
    right: str | None
    kind: str  # "equal", "replace", "delete", "insert"
    left_parts: list[Part] = field(default_factory=list)
    right_parts: list[Part] = field(default_factory=list)


def _lines(text: str) -> list[str]:
    """Lines split on "\\n" only: a final newline is an empty last line, so adding or
    removing it shows as a change (splitlines() would hide it)."""
    return text.split("\n") if text else []


def _whole(line: str, kind: str) -> list[Part]:
    if kind == "equal":
        return [Part(line, kind)]
    return [Part(line, kind, marked=line == "" or line.isspace())]


def word_parts(old: str, new: str) -> tuple[list[Part], list[Part]]:
    """(old line's parts, new line's parts): the words each side lost or gained marked."""
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    left: list[Part] = []
    right: list[Part] = []

    def put(side: list[Part], text: str, kind: str) -> None:
        if not text:
            return
        marked = kind != "equal" and text.isspace()
        if side and side[-1].kind == kind and side[-1].marked == marked:
            side[-1].text += text
        else:
            side.append(Part(text, kind, marked))

    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            put(left, "".join(a[i1:i2]), "equal")
            put(right, "".join(b[j1:j2]), "equal")
            continue
        put(left, "".join(a[i1:i2]), "del")
        put(right, "".join(b[j1:j2]), "add")
    if old == "" and new != "":
        left = _whole(old, "del")
    if new == "" and old != "":
        right = _whole(new, "add")
    return left, right


PAIR_AT = 0.5  # lines at least this alike are shown as one changed line
MAX_ALIGN = 60  # a changed block larger than this (either side) is paired by position


def _paired(a: list[str], b: list[str], i1: int, i2: int, j1: int, j2: int):
    """The lines of one changed block as (i, old, j, new), None where a side has no line.

    Lines alike enough are paired so their words can be compared; the pairing keeps the
    order of both sides and pairs the most alike lines (a small edit-distance alignment
    where pairing two lines costs how unlike they are and a line on its own costs 1)."""
    n, m = i2 - i1, j2 - j1
    if n > MAX_ALIGN or m > MAX_ALIGN:
        for k in range(max(n, m)):
            i, j = i1 + k, j1 + k
            yield (
                i if i < i2 else None,
                a[i] if i < i2 else None,
                j if j < j2 else None,
                b[j] if j < j2 else None,
            )
        return
    like = [
        [
            difflib.SequenceMatcher(None, a[i1 + x], b[j1 + y], autojunk=False).ratio()
            for y in range(m)
        ]
        for x in range(n)
    ]
    cost = [[0.0] * (m + 1) for _ in range(n + 1)]
    for x in range(n + 1):
        for y in range(m + 1):
            if x == 0 or y == 0:
                cost[x][y] = float(x + y)
                continue
            best = min(cost[x - 1][y], cost[x][y - 1]) + 1
            if like[x - 1][y - 1] >= PAIR_AT:
                best = min(best, cost[x - 1][y - 1] + 2 * (1 - like[x - 1][y - 1]))
            cost[x][y] = best
    steps: list[tuple[int | None, int | None]] = []
    x, y = n, m
    while x or y:
        if (
            x
            and y
            and like[x - 1][y - 1] >= PAIR_AT
            and (cost[x][y] == cost[x - 1][y - 1] + 2 * (1 - like[x - 1][y - 1]))
        ):
            steps.append((i1 + x - 1, j1 + y - 1))
            x, y = x - 1, y - 1
        elif x and (not y or cost[x][y] == cost[x - 1][y] + 1):
            steps.append((i1 + x - 1, None))
            x -= 1
        else:
            steps.append((None, j1 + y - 1))
            y -= 1
    for left, right in reversed(steps):
        yield (
            left,
            a[left] if left is not None else None,
            right,
            b[right] if right is not None else None,
        )


def _changed_parts(left: str | None, right: str | None) -> tuple[list[Part], list[Part]]:
    if left is not None and right is not None:
        return word_parts(left, right)
    return (
        _whole(left, "del") if left is not None else [],
        _whole(right, "add") if right is not None else [],
    )


def unified(old: str, new: str, *, old_name: str, new_name: str) -> list[UnifiedLine]:
    a, b = _lines(old), _lines(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    out: list[UnifiedLine] = []
    for group in matcher.get_grouped_opcodes(CONTEXT):
        first, last = group[0], group[-1]
        out.append(
            UnifiedLine(
                f"@@ -{first[1] + 1},{last[2] - first[1]} +{first[3] + 1},{last[4] - first[3]} @@",
                "hunk",
            )
        )
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(
                    UnifiedLine(" " + line, "context", [Part(line, "equal")]) for line in a[i1:i2]
                )
                continue
            dels, adds = [], []
            for _i, left, _j, right in _paired(a, b, i1, i2, j1, j2):
                left_parts, right_parts = _changed_parts(left, right)
                if left is not None:
                    dels.append(UnifiedLine("-" + left, "del", left_parts))
                if right is not None:
                    adds.append(UnifiedLine("+" + right, "add", right_parts))
            out.extend(dels + adds)
    return out


def side_by_side(old: str, new: str) -> list[SideRow]:
    a, b = _lines(old), _lines(new)
    rows: list[SideRow] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows.extend(
                SideRow(
                    i1 + k + 1,
                    a[i1 + k],
                    j1 + k + 1,
                    b[j1 + k],
                    "equal",
                    [Part(a[i1 + k], "equal")],
                    [Part(b[j1 + k], "equal")],
                )
                for k in range(i2 - i1)
            )
            continue
        for i, left, j, right in _paired(a, b, i1, i2, j1, j2):
            left_parts, right_parts = _changed_parts(left, right)
            rows.append(
                SideRow(
                    i + 1 if i is not None else None,
                    left,
                    j + 1 if j is not None else None,
                    right,
                    tag,
                    left_parts,
                    right_parts,
                )
            )
    return rows


def version_diff(old, new) -> dict:
    """Everything a diff page shows, for the content and for the settings."""
    old_name = f"v{old.number}" if old is not None else "(nothing)"
    new_name = f"v{new.number}"
    sections = []
    for title, render in (("Prompt", content_text), ("Settings", settings_text)):
        left, right = render(old), render(new)
        sections.append(
            {
                "title": title,
                "same": left == right,
                "unified": unified(left, right, old_name=old_name, new_name=new_name),
                "side": side_by_side(left, right),
            }
        )
    return {"old": old, "new": new, "sections": sections}
