"""A saved version's page, and the diff between two versions."""

from __future__ import annotations

import json

from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from apps.core.web import render_page, role_allows, team_url
from apps.prompts import chains, selectors
from apps.prompts.diffing import version_diff
from apps.prompts.models import Kind
from apps.prompts.validators import LATEST_TAG
from apps.teams.models import PERM_EDIT

DIFF_MODES = ("unified", "side")


@require_GET
def version_detail(request, prompt_name, version_number):
    prompt = selectors.prompt_get(prompt_name)
    version = selectors.version_get(prompt, version_number)
    context = {
        "prompt": prompt,
        "version": version,
        "tag_names": sorted(selectors.tags_by_version(prompt).get(version.pk, [])),
        "settings_json": json.dumps(version.model_settings, indent=2, sort_keys=True),
        "schema_json": json.dumps(version.variables_schema, indent=2, sort_keys=True),
        "can_edit": role_allows(request, PERM_EDIT),
        "protected_tags": [t for t in (request.team.protected_tags or []) if t != LATEST_TAG],
        "chain_steps": chains.steps_shown(version) if version.kind == Kind.CHAIN else [],
    }
    return render(request, "prompts/version_detail.html", context)


@require_GET
def version_diff_pick(request, prompt_name):
    prompt = selectors.prompt_get(prompt_name)
    old = selectors.version_for_value(prompt, request.GET.get("from"))
    new = selectors.version_for_value(prompt, request.GET.get("to"))
    url = team_url(
        request,
        "prompts:diff",
        prompt_name=prompt.name,
        from_number=old.number,
        to_number=new.number,
    )
    mode = request.GET.get("mode")
    return redirect(f"{url}?mode={mode}" if mode in DIFF_MODES else url)


@require_GET
def version_diff_view(request, prompt_name, from_number, to_number):
    prompt = selectors.prompt_get(prompt_name)
    old = selectors.version_get(prompt, from_number)
    new = selectors.version_get(prompt, to_number)
    context = {
        "prompt": prompt,
        "diff": version_diff(old, new),
        "mode": request.GET.get("mode") if request.GET.get("mode") in DIFF_MODES else "side",
        "versions": selectors.version_numbers(prompt),
    }
    return render_page(request, "prompts/diff.html", context, partial="diff")
