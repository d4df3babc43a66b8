"""The Hub's Environments page: per prompt, what each environment last fetched, how
often and when, with drift flags (apps.prompts.environments)."""

from __future__ import annotations

from apps.core.web import render_page
from apps.prompts import selectors, telemetry
from apps.prompts.environments import SILENT_AFTER, EnvironmentRow, environment_rows


def environments(request):
    # This process's counters are written first, so the page is as fresh as it can be.
    telemetry.flush_now_quietly()
    prompt_name = request.GET.get("prompt", "").strip()
    only_problems = request.GET.get("problems") == "1"
    rows = environment_rows(prompt_name=prompt_name)
    drifting = sum(1 for r in rows if r.drift)
    silent = sum(1 for r in rows if r.silent)
    if only_problems:
        rows = [r for r in rows if r.needs_attention]
    groups: dict[str, list[EnvironmentRow]] = {}
    for row in rows:
        groups.setdefault(row.prompt.name, []).append(row)
    context = {
        "groups": groups,
        "drifting": drifting,
        "silent": silent,
        "prompt_name": prompt_name,
        "only_problems": only_problems,
        "silent_after": SILENT_AFTER,
        "rollouts": selectors.rollouts_active(),
    }
    # Only the filter form's requests swap the rows; other htmx requests get the page.
    target = getattr(request, "htmx", False) and request.htmx.target
    partial = {"environment-rows": "rows", "rollouts-live": "rollouts"}.get(target or "")
    return render_page(request, "prompts/environments.html", context, partial=partial)
