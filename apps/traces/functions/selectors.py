"""Reads of function versions (team-scoped) and the diff between two of them."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import QuerySet

from apps.core.errors import NotFound
from apps.prompts.diffing import side_by_side, unified
from apps.traces.models import FunctionVersion, Trace


def function_name_resolve(name: str) -> str:
    """The stored name for `name`: itself, or the one function whose last part it is
    ("answer_question" for "app.rag.answer_question")."""
    name = (name or "").strip()
    if FunctionVersion.objects.filter(name=name).exists():
        return name
    matches = list(
        FunctionVersion.objects.filter(name__endswith="." + name)
        .order_by("name")
        .values_list("name", flat=True)
        .distinct()[:2]
    )
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise NotFound(f"More than one function is called {name}; give the full name.")
    raise NotFound("No such traced function.")


def function_traced(name: str) -> bool:
    """Has any trace of the team run this function?"""
    return Trace.objects.filter(function_name=name).exists()


def function_versions(name: str) -> QuerySet[FunctionVersion]:
    return FunctionVersion.objects.filter(name=name).order_by("-number")


def function_version_get(name: str, number: Any) -> FunctionVersion:
    try:
        return FunctionVersion.objects.get(name=function_name_resolve(name), number=int(number))
    except (FunctionVersion.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such version of this function.") from None


def _settings_text(version: FunctionVersion | None) -> str:
    if version is None:
        return ""
    return json.dumps(version.settings or {}, indent=2, sort_keys=True, ensure_ascii=False)


def function_version_diff(old: FunctionVersion | None, new: FunctionVersion) -> dict[str, Any]:
    """What the prompts' diff component shows (prompts/_diff.html), for code and settings."""
    old_name = f"v{old.number}" if old is not None else "(nothing)"
    new_name = f"v{new.number}"
    sections = []
    for title, left, right in (
        ("Code", old.source if old is not None else "", new.source),
        ("Settings", _settings_text(old), _settings_text(new)),
    ):
        sections.append(
            {
                "title": title,
                "same": left == right,
                "unified": unified(left, right, old_name=old_name, new_name=new_name),
                "side": side_by_side(left, right),
            }
        )
    return {"old": old, "new": new, "sections": sections}
