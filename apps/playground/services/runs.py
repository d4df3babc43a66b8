"""Running a playground variant: streamed, and recorded as a PlaygroundRun."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from apps.core.errors import NotFound
from apps.core.tenancy import team_scope
from apps.llm import gateway
from apps.llm.models import ProviderConfig
from apps.llm.selectors import provider_get
from apps.playground.models import PlaygroundRun, RunStatus
from apps.playground.variants import Variant
from apps.prompts.models import PromptVersion
from apps.prompts.rendering import RenderError
from apps.teams.actors import Actor
from apps.teams.models import PERM_EDIT, Team
from apps.teams.permissions import actor_user, require

logger = logging.getLogger(__name__)


def playground_run_stream(
    *,
    team: Team,
    actor: Actor,
    variant: Variant,
    variables_schema: dict[str, Any],
    values: dict[str, Any],
    prompt_version: PromptVersion | None = None,
    batch: uuid.UUID | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Run one variant: returns an iterator of ("chunk", {"text"}) events, then one
    ("done", {...}) or ("error", {...}).

    Permission and the run row are handled at once (before any streaming starts), so a
    refusal is an ordinary error and a dropped connection still leaves a recorded run; the
    row is completed when the answer ends. The iterator may be consumed after the
    request's scope has closed (a StreamingHttpResponse does): it enters the team scope.
    """
    require(actor, PERM_EDIT, team, message="Only editors can run prompts in the playground.")
    with team_scope(team):
        settings = variant.settings
        provider = None
        if settings.provider_id:
            try:
                provider = provider_get(settings.provider_id)
            except NotFound:
                provider = None
        run = PlaygroundRun(
            team=team,
            user=actor_user(actor),
            label=variant.label,
            prompt_version=prompt_version,
            kind=variant.kind,
            template=variant.template,
            messages=variant.messages,
            variables_schema=variables_schema,
            variables=values,
            provider=provider,
            provider_name=provider.name if provider else "",
            model=settings.model,
            model_settings=settings.to_json(),
        )
        if batch is not None:
            run.batch = batch
        error = None
        try:
            run.rendered = variant.rendered_messages(variables_schema, values)
        except RenderError as exc:
            error = ("render", exc.message)
        if error is None and provider is None:
            error = (
                "bad_request",
                "Choose a provider and model. Admins add providers in Settings.",
            )
        if error is None and not settings.model:
            error = ("bad_request", "Choose a model.")
        if error is not None:
            run.status = RunStatus.ERROR
            run.error_kind, run.error_message = error
        run.save()
    if error is not None:
        return iter([("error", {"kind": error[0], "message": error[1], "run_id": run.pk})])
    assert provider is not None  # no provider is an error above
    return _stream_events(team=team, run=run, provider=provider, variant=variant)


def _stream_events(
    *, team: Team, run: PlaygroundRun, provider: ProviderConfig, variant: Variant
) -> Iterator[tuple[str, dict[str, Any]]]:
    parts: list[str] = []
    try:
        for item in gateway.stream(provider, settings=variant.settings, messages=run.rendered):
            if isinstance(item, str):
                parts.append(item)
                yield "chunk", {"text": item}
            else:
                completion = item
    except GeneratorExit:
        # The browser went away mid-answer: keep what arrived, say why it stopped.
        with team_scope(team):
            run.status = RunStatus.ERROR
            run.output = "".join(parts)
            run.error_kind = "cancelled"
            run.error_message = "The page closed the connection before the answer ended."
            run.save(update_fields=["status", "output", "error_kind", "error_message"])
        raise
    except gateway.GatewayError as exc:
        with team_scope(team):
            run.status = RunStatus.ERROR
            run.output = "".join(parts)
            run.error_kind = exc.kind
            run.error_message = exc.message
            run.save(update_fields=["status", "output", "error_kind", "error_message"])
        yield "error", {"kind": exc.kind, "message": exc.message, "run_id": run.pk}
        return
    except Exception:
        logger.exception("playground run %s failed", run.pk)
        with team_scope(team):
            run.status = RunStatus.ERROR
            run.output = "".join(parts)
            run.error_kind = "internal"
            run.error_message = "Something went wrong while running this prompt."
            run.save(update_fields=["status", "output", "error_kind", "error_message"])
        yield "error", {"kind": "internal", "message": run.error_message, "run_id": run.pk}
        return
    with team_scope(team):
        run.status = RunStatus.OK
        run.output = completion.text
        run.input_tokens = completion.input_tokens
        run.output_tokens = completion.output_tokens
        run.latency_ms = completion.latency_ms
        run.cost = Decimal(str(completion.cost)) if completion.cost is not None else None
        run.save(
            update_fields=[
                "status",
                "output",
                "input_tokens",
                "output_tokens",
                "latency_ms",
                "cost",
            ]
        )
    yield (
        "done",
        {
            "run_id": run.pk,
            "input_tokens": completion.input_tokens,
            "output_tokens": completion.output_tokens,
            "latency_ms": completion.latency_ms,
            "cost": completion.cost,
            "finish_reason": completion.finish_reason,
            "model": completion.model,
        },
    )
