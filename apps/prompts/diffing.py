"""Line diffs between two versions: unified and side by side (difflib)."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass


def content_text(version) -> str:
    """The prompt body as lines: the template, or one block per chat message."""
    if version is None:
        return ""
    if version.kind == "text":
        return version.template
    blocks = []
    for message in version.messages:
        if message.get("role") == "placeholder":
            blocks.append(f"[placeholder: {message.get('name', '')}]")
        else:
            blocks.append(f"[{message.get('role')}]\n{message.get('content', '')}")
    return "\n\n".join(blocks)


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
class UnifiedLine:
    text: str
    kind: str  # "add", "del", "hunk", "context"


@dataclass
class SideRow:
    left_no: int | None
    left: str | None
    right_no: int | None
    right: str | None
    kind: str  # "equal", "replace", "delete", "insert"


def unified(old: str, new: str, *, old_name: str, new_name: str) -> list[UnifiedLine]:
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), fromfile=old_name, tofile=new_name, lineterm="", n=3
    )
    out = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "context"
        out.append(UnifiedLine(line, kind))
    return out


def side_by_side(old: str, new: str) -> list[SideRow]:
    a, b = old.splitlines(), new.splitlines()
    rows: list[SideRow] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows.extend(
                SideRow(i1 + k + 1, a[i1 + k], j1 + k + 1, b[j1 + k], "equal")
                for k in range(i2 - i1)
            )
            continue
        span = max(i2 - i1, j2 - j1)
        for k in range(span):
            left = a[i1 + k] if i1 + k < i2 else None
            right = b[j1 + k] if j1 + k < j2 else None
            rows.append(
                SideRow(
                    i1 + k + 1 if left is not None else None,
                    left,
                    j1 + k + 1 if right is not None else None,
                    right,
                    tag,
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
