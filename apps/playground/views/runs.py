"""The playground: open a version (or start blank), edit, run variants side by side, save."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from apps.core.errors import NotFound, ServiceError
from apps.core.pagination import paginate
from apps.core.web import render_page, role_allows, team_url
from apps.datasets.selectors import (
    dataset_get,
    dataset_list,
    example_at_revision,
    examples_at_revision,
)
from apps.experiments.selectors import evaluator_list
from apps.llm.chat import EDITOR_ROLES
from apps.llm.defaults import team_defaults
from apps.llm.models import ProviderConfig
from apps.llm.onboarding import setup_offer_context
from apps.llm.selectors import providers_for_team
from apps.playground import selectors, services
from apps.playground.inputs import (
    MAX_VARIANTS,
    parse_schema,
    parse_values,
    parse_variant,
    placeholder_names,
    variants_from_post,
)
from apps.playground.variants import Variant
from apps.playground.views.chains import chain_context
from apps.prompts.models import Kind
from apps.prompts.rendering import RenderError, template_variables
from apps.teams.models import PERM_EDIT
from apps.teams.refusals import refusal

DATASET_CHOICES = 100  # datasets offered to fill variables from, and examples of one
EVALUATOR_CHOICES = 100  # evaluators offered to attach to an evaluation


ProviderChoices = list[tuple[ProviderConfig, list[str]]]


class HasVariables(Protocol):
    """What the variables form reads: a Variant, or a chain's inputs (views.chains)."""

    kind: str
    messages: list

    def variables(self) -> list[str]: ...


def _provider_choices() -> ProviderChoices:
    """[(provider, [models])] for the model picker; the demo server comes first."""
    return [(p, list(p.models or [])) for p in providers_for_team()]


def _default_target(variant: Variant, choices: ProviderChoices, team: Any) -> Variant:
    """The provider and model the page starts on: the variant's own, else the team's
    default model, else the first provider offered."""
    settings = variant.settings
    ids = {p.pk for p, _ in choices}
    default = team_defaults(team)
    if settings.provider_id not in ids and choices:
        if default.get("provider_id") in ids:
            settings = settings.replace(provider_id=default["provider_id"])
            if not settings.model:
                settings = settings.replace(model=default.get("model", ""))
        else:
            settings = settings.replace(provider_id=choices[0][0].pk)
            if not settings.model:
                settings = settings.replace(model=(choices[0][1] or [""])[0])
    if settings.provider_id and not settings.model:
        if settings.provider_id == default.get("provider_id") and default.get("model"):
            settings = settings.replace(model=default["model"])
        else:
            models = next((m for p, m in choices if p.pk == settings.provider_id), [])
            settings = settings.replace(model=(models or [""])[0])
    variant.settings = settings
    return variant


def variable_fields(variants: Sequence[HasVariables], schema: dict, values: dict) -> list[dict]:
    """The variables form: one field per variable any variant uses, typed by the schema."""
    names: list[str] = []
    placeholders: set[str] = set()
    for variant in variants:
        for name in variant.variables():
            if name not in names:
                names.append(name)
        placeholders |= placeholder_names(variant.kind, variant.messages)
    fields = []
    for name in names:
        spec = schema.get(name, {}) if isinstance(schema.get(name), dict) else {}
        kind = spec.get("type", "array" if name in placeholders else "string")
        value = values.get(name, "")
        if not isinstance(value, str):
            value = (
                json.dumps(value) if not isinstance(value, bool) else ("true" if value else "false")
            )
        widget = "textarea"
        if spec.get("enum"):
            widget = "select"
        elif kind == "boolean":
            widget = "boolean"
        elif kind in ("number", "integer"):
            widget = "number"
        fields.append(
            {
                "name": name,
                "type": kind,
                "widget": widget,
                "enum": [str(v) for v in spec.get("enum", [])],
                "description": spec.get("description", ""),
                "required": spec.get("required", True),
                "value": value,
                "is_placeholder": name in placeholders,
            }
        )
    return fields


def _raw_values(post) -> dict:
    return {k[4:]: v for k, v in post.items() if k.startswith("var-")}


def playground(request):
    version = selectors.version_named(request.GET.get("version"))
    choices = _provider_choices()
    schema: dict = {}
    values: dict = {}
    source_run = None
    if request.GET.get("run"):
        source_run = selectors.run_get(request.GET["run"])
        version = version or source_run.prompt_version
        variant = Variant.from_run(source_run)
        schema = source_run.variables_schema or {}
        values = source_run.variables or {}
    elif version is not None:
        variant = Variant.from_version(version)
        schema = version.variables_schema or {}
    else:
        variant = Variant(kind="text", template="", label="A")
    variant = _default_target(variant, choices, request.team)
    variants = [variant]
    context = {
        "version": version,
        "source_run": source_run,
        "variants": variants,
        "choices": choices,
        "variables_schema_json": json.dumps(schema),
        "fields": variable_fields(variants, schema, values),
        "prompts": selectors.prompt_choices(),
        "datasets": list(dataset_list()[:DATASET_CHOICES]),
        "evaluators": list(evaluator_list()[:EVALUATOR_CHOICES]),
        "can_run": role_allows(request, PERM_EDIT),
        "max_variants": MAX_VARIANTS,
        "roles": EDITOR_ROLES,
        "has_demo": any(p.is_demo for p, _ in choices),
        "role_note": refusal(request, PERM_EDIT, "run prompts or save versions"),
        **setup_offer_context(request),
    }
    if version is not None and version.kind == Kind.CHAIN:
        context.update(chain_context(request, version, values))
    return render_page(request, "playground/playground.html", context)


def fill_from_example(values: dict, choice: str) -> str:
    """Put the input of the example an example picker chose ("<dataset_id>:<example_id>",
    at the dataset's current revision) into `values`; the error to show, or ""."""
    dataset_id, _, example_id = choice.partition(":")
    try:
        example = example_at_revision(dataset_get(dataset_id), example_id)
    except NotFound:
        return "That example could not be found."
    values.update(example.input or {})
    return ""


@require_POST
def variables(request):
    """The variables fieldset for the page's current templates, optionally filled from an
    example (`fill_example` = "<dataset_id>:<example_id>")."""
    schema = parse_schema(request.POST)
    variants = variants_from_post(request.POST)
    values = _raw_values(request.POST)
    error = ""
    fill = request.POST.get("example_choice", "") if request.POST.get("fill") else ""
    if fill:
        error = fill_from_example(values, fill)
    context = {"fields": variable_fields(variants, schema, values), "fill_error": error}
    return render(request, "playground/playground.html#variables", context)


@require_POST
def examples(request):
    """The example picker of one dataset (first 100 examples at its current revision)."""
    examples_list = []
    dataset = None
    if request.POST.get("dataset"):
        dataset = dataset_get(request.POST["dataset"])
        examples_list = list(examples_at_revision(dataset)[:DATASET_CHOICES])
    return render(
        request,
        "playground/playground.html#example-picker",
        {"dataset": dataset, "examples": examples_list},
    )


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


@require_POST
def run(request):
    """Run one variant and stream server-sent events: chunk… then done or error."""
    if not role_allows(request, PERM_EDIT):
        raise PermissionDenied(refusal(request, PERM_EDIT, "run prompts in the playground"))
    version = selectors.version_named(request.POST.get("version_id"))
    schema = parse_schema(request.POST)
    batch = None
    try:
        batch = uuid.UUID(request.POST.get("batch", ""))
    except ValueError:
        batch = None
    try:
        variant = parse_variant(request.POST)
        try:
            names = template_variables(variant.kind, variant.template, variant.messages)
        except RenderError as exc:
            raise ServiceError(exc.message) from None
        values = parse_values(
            request.POST, names, schema, placeholder_names(variant.kind, variant.messages)
        )
        events = services.playground_run_stream(
            team=request.team,
            actor=request.user,
            variant=variant,
            variables_schema=schema,
            values=values,
            prompt_version=version,
            batch=batch,
        )
    except ServiceError as exc:
        events = iter([("error", {"kind": "bad_request", "message": exc.message})])

    def body():
        # A first comment line makes proxies and the browser start delivering at once.
        yield b": stream\n\n"
        for event, data in events:
            yield _sse(event, data)

    response = StreamingHttpResponse(body(), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@require_POST
def save(request):
    """Save one variant as a version of a prompt and, in the same step, point an optional
    unprotected tag at it: JSON {ok, message, url}. A protected tag answers with the
    promotion request to open (`promotion_url`), with the evaluation run as evidence."""
    version = selectors.version_named(request.POST.get("version_id"))
    try:
        prompt = selectors.prompt_for_field(request.POST.get("prompt_id"), field="prompt_id")
        variant = parse_variant(request.POST)
        saved = services.playground_version_save(
            team=request.team,
            actor=request.user,
            prompt=prompt,
            variant=variant,
            variables_schema=parse_schema(request.POST),
            commit_message=request.POST.get("commit_message", ""),
            tag_name=request.POST.get("tag_name", ""),
            parent=version,
        )
    except ServiceError as exc:
        return JsonResponse(
            {"ok": False, "message": exc.message, "field": exc.field}, status=exc.http_status
        )
    new_version = saved.version
    url = team_url(
        request, "prompts:version", prompt_name=prompt.name, version_number=new_version.number
    )
    if saved.created:
        message = f"Saved as {prompt.name} v{new_version.number}."
    else:
        message = f"Already saved as {prompt.name} v{new_version.number} (same content)."
    if saved.tagged:
        message += f" Tag {saved.tagged} now points at it."
    body = {"ok": True, "message": message, "url": url, "version_id": new_version.pk}
    if saved.needs_promotion:
        query = urlencode(
            {"tag": saved.needs_promotion, "evidence": request.POST.get("evidence", "").strip()}
        )
        body["promotion_url"] = (
            team_url(
                request,
                "prompts:promotion_create",
                prompt_name=prompt.name,
                version_number=new_version.number,
            )
            + "?"
            + query
        )
        body["message"] += (
            f" {saved.needs_promotion} is protected: request its promotion for review."
        )
    return JsonResponse(body)


def history(request):
    page = paginate(request, selectors.run_list(), per_page=50)
    return render_page(request, "playground/history.html", {"page": page})


def run_detail(request, playground_run_id):
    found = selectors.run_get(playground_run_id)
    context = {
        "run": found,
        "variables_json": json.dumps(found.variables, indent=2, ensure_ascii=False),
        "settings_json": json.dumps(found.model_settings, indent=2, ensure_ascii=False),
    }
    return render_page(request, "playground/run_detail.html", context)
