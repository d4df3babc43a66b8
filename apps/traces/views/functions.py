"""A traced function's versions (v1, v2, …) and the diff between two versions' code."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from apps.core.errors import NotFound
from apps.core.web import render_page
from apps.traces.functions import selectors

DIFF_MODES = ("side", "unified")


def function_versions_page(request: HttpRequest, function_name: str) -> HttpResponse:
    try:
        name = selectors.function_name_resolve(function_name)
    except NotFound:
        # Traced, but no span has brought its code yet: no versions. Unknown: 404.
        if not selectors.function_traced(function_name):
            raise
        name = function_name
    versions = list(selectors.function_versions(name))
    by_number = {v.number: v for v in versions}
    diff = None
    if versions:
        new = by_number.get(_number(request.GET.get("to"))) or versions[0]
        default_old = next((v for v in versions if v.number < new.number), None)
        old = by_number.get(_number(request.GET.get("from"))) or default_old
        diff = selectors.function_version_diff(old, new)
    mode = request.GET.get("mode")
    context = {
        "function_name": name,
        "versions": versions,
        "diff": diff,
        "mode": mode if mode in DIFF_MODES else "side",
    }
    return render_page(request, "traces/function_versions.html", context, partial="diff")


def _number(raw: str | None) -> int:
    try:
        return int(raw) if raw else 0
    except ValueError:
        return 0  # no version has it: the default is shown
