"""Rollouts: the rollout page (the split live, its steps, step up, abort, and how the two
arms compare in production when the traces app registers its measure), and starting one
on an unprotected tag from the tag page."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.core.errors import ValidationFailed
from apps.core.web import refusal_as_message, render_page, team_url
from apps.prompts import rollout_measures, selectors, services
from apps.prompts.permissions import rollout_steer_blocker

# The steps the page offers (any percent above the current one is allowed).
STEPS = (5, 10, 25, 50, 75, 100)


def rollout_detail(request, rollout_id):
    rollout = selectors.rollout_get(rollout_id)
    blocker = rollout_steer_blocker(request.user, request.team, rollout.prompt, rollout.tag_name)
    context = {
        "rollout": rollout,
        "prompt": rollout.prompt,
        "events": selectors.rollout_events(rollout),
        "steps": [s for s in STEPS if s > rollout.percent],
        "can_steer": rollout.is_active and blocker is None,
        "steer_blocker": blocker if rollout.is_active else None,
        "protected": request.team.is_protected_tag(rollout.tag_name),
    }
    context.update(rollout_measures.page_context(request, rollout))
    # The split polls itself: only that fragment is sent to htmx.
    return render_page(request, "prompts/rollout_detail.html", context, partial="split")


def _percent(raw) -> int | None:
    try:
        return int(str(raw).strip().rstrip("%"))
    except (TypeError, ValueError):
        return None


@require_POST
def rollout_step(request, rollout_id):
    rollout = selectors.rollout_get(rollout_id)
    percent = _percent(request.POST.get("percent"))
    with refusal_as_message(request):
        services.rollout_step(
            team=request.team,
            actor=request.user,
            rollout=rollout,
            percent=percent,  # the service refuses None
            reason=request.POST.get("reason", ""),
        )
        if percent == 100:
            messages.success(
                request,
                f"Rollout complete: '{rollout.tag_name}' now points at v{rollout.candidate.number}.",
            )
        else:
            messages.success(
                request, f"v{rollout.candidate.number} now serves {percent} % of traffic."
            )
    return redirect(team_url(request, "prompts:rollout", rollout_id=rollout.pk))


@require_POST
def rollout_abort(request, rollout_id):
    rollout = selectors.rollout_get(rollout_id)
    with refusal_as_message(request):
        services.rollout_abort(
            team=request.team,
            actor=request.user,
            rollout=rollout,
            reason=request.POST.get("reason", ""),
        )
        messages.success(
            request,
            f"Rollout aborted: all traffic is back on v{rollout.base.number}.",
        )
    return redirect(team_url(request, "prompts:rollout", rollout_id=rollout.pk))


def _margin_points(raw) -> float | None:
    """The form speaks in points (2 = 0.02); blank is no guardrail."""
    text = str(raw or "").strip().rstrip("%").strip()
    if not text:
        return None
    try:
        return float(text) / 100
    except ValueError:
        raise ValidationFailed(f"Margin: {text!r} is not a number of points.", field="margin")


@require_POST
def rollout_guardrail(request, rollout_id):
    rollout = selectors.rollout_get(rollout_id)
    with refusal_as_message(request):
        services.rollout_guardrail_set(
            team=request.team,
            actor=request.user,
            rollout=rollout,
            margin=_margin_points(request.POST.get("margin")),
            score=request.POST.get("score", ""),
        )
        messages.success(request, "Guardrail saved.")
    return redirect(team_url(request, "prompts:rollout", rollout_id=rollout.pk))


@require_POST
def rollout_start(request, prompt_name, tag_name):
    """The tag page's "Roll out gradually" form (unprotected tags)."""
    prompt = selectors.prompt_get(prompt_name)
    candidate = selectors.version_for_value(prompt, request.POST.get("candidate"))
    with refusal_as_message(request) as outcome:
        rollout = services.rollout_start(
            team=request.team,
            actor=request.user,
            prompt=prompt,
            tag_name=tag_name,
            candidate=candidate,
            percent=_percent(request.POST.get("percent")),
            reason=request.POST.get("reason", ""),
        )
        messages.success(
            request, f"Rollout started: v{candidate.number} serves {rollout.percent} % of traffic."
        )
    if outcome.refused:
        return redirect(
            team_url(request, "prompts:tag", prompt_name=prompt.name, tag_name=tag_name)
        )
    return redirect(team_url(request, "prompts:rollout", rollout_id=rollout.pk))
