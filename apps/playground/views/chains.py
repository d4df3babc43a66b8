"""Chains in the playground: a chain version (or the version a chain's tag points at) run
on the typed values, each step's prompt, output, latency and tokens shown. A plain form
(htmx swaps the result in place; without JavaScript the page comes back with it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.views.decorators.http import require_POST

from apps.core.errors import NotFound, ServiceError
from apps.core.web import render_page, role_allows
from apps.playground import selectors, services
from apps.playground.inputs import parse_values
from apps.prompts.models import Kind, PromptVersion
from apps.prompts.selectors import tags_of, version_at_tag
from apps.teams.models import PERM_EDIT
from apps.teams.refusals import refusal

TAG_PREFIX = "tag:"


@dataclass
class _ChainInputs:
    """What the variables form reads of a variant, for a chain's own input variables."""

    names: list[str]
    kind: str = "text"
    messages: list = field(default_factory=list)

    def variables(self) -> list[str]:
        return self.names


def chain_context(request, version: PromptVersion, values: dict, *, ref: str = "") -> dict:
    """The chain panel: the version's steps, the tags it may run at, its input fields."""
    from apps.playground.views.runs import variable_fields  # reason: one form builder

    return {
        "chain_version": version,
        "chain_tags": [t.name for t in tags_of(version.prompt)],
        "chain_ref": ref,
        "chain_fields": variable_fields(
            [_ChainInputs(list(version.variables or []))], version.variables_schema or {}, values
        ),
    }


def _chosen(version: PromptVersion, ref: str) -> PromptVersion:
    """The chain version the form chose: the opened one, or the one a tag points at."""
    if not ref.startswith(TAG_PREFIX):
        return version
    name = ref[len(TAG_PREFIX) :]
    found = version_at_tag(version.prompt, name)
    if found is None:
        raise NotFound(f"{version.prompt.name} has no tag {name!r}.")
    return found


@require_POST
def chain_run(request):
    """Run the chain and show its steps (htmx: the result; otherwise the whole page)."""
    if not role_allows(request, PERM_EDIT):
        raise PermissionDenied(refusal(request, PERM_EDIT, "run prompts in the playground"))
    opened = selectors.version_named(request.POST.get("version_id"))
    if opened is None or opened.kind != Kind.CHAIN:
        raise NotFound("No such chain version.")
    ref = request.POST.get("ref", "")
    raw = {k[4:]: v for k, v in request.POST.items() if k.startswith("var-")}
    run = None
    error = ""
    status = 200
    try:
        version = _chosen(opened, ref)
        if version.kind != Kind.CHAIN:
            raise ServiceError(f"{version.prompt.name} v{version.number} is not a chain.")
        values = parse_values(
            request.POST, list(version.variables or []), version.variables_schema or {}, set()
        )
        run = services.playground_chain_run(
            team=request.team, actor=request.user, version=version, values=values
        )
    except NotFound as exc:
        error, status = exc.message, 400
    except ServiceError as exc:
        error, status = exc.message, exc.http_status
    context = {
        "version": opened,
        "chain_run": run,
        "chain_error": error,
        "can_run": True,
        **chain_context(request, opened, raw, ref=ref),
    }
    if getattr(request, "htmx", None):
        status = 200  # htmx swaps only 2xx answers: the error is shown in place
    return render_page(
        request, "playground/playground.html", context, partial="chain-result", status=status
    )
