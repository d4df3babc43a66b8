"""Every write to providers. Only team admins manage providers and test their connections."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from apps.core.errors import Conflict, ValidationFailed
from apps.core.validation import full_clean_or_raise
from apps.llm import gateway
from apps.llm.models import OPENAI_BASE_URL, ProviderConfig, ProviderKind
from apps.llm.urlcheck import UnsafeBaseURL, check_base_url
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import PERM_ADMIN, ApiKey, Team
from apps.teams.permissions import require

UNSET = object()
logger = logging.getLogger(__name__)


def _public(provider: ProviderConfig) -> dict[str, Any]:
    """What the audit trail may record about a provider: never the key, only its last 4."""
    return {
        "name": provider.name,
        "kind": provider.kind,
        "base_url": provider.base_url,
        "key_last4": provider.key_last4,
        "models": list(provider.models or []),
        "prices": dict(provider.prices or {}),
        "is_demo": provider.is_demo,
        "timeout_seconds": provider.timeout_seconds,
        "max_retries": provider.max_retries,
    }


def _clean_url(kind: str, base_url: str) -> str:
    if not base_url and kind == ProviderKind.OPENAI:
        base_url = OPENAI_BASE_URL
    try:
        return check_base_url(base_url)
    except UnsafeBaseURL as exc:
        raise ValidationFailed(str(exc), field="base_url") from None


def _clean_models(models: str | Iterable[Any] | None) -> list[str]:
    if models is None:
        return []
    if isinstance(models, str):
        models = models.replace(",", "\n").splitlines()
    out: list[str] = []
    for name in models:
        name = str(name).strip()
        if name and name not in out:
            out.append(name)
    return out


def _clean_key(api_key: str) -> str:
    """The key travels in an HTTP Authorization header: printable ASCII, no spaces. Anything
    else could never authenticate and made every call with it crash (500) in the HTTP client."""
    api_key = (api_key or "").strip()
    if api_key and not all("!" <= ch <= "~" for ch in api_key):
        raise ValidationFailed(
            "An API key is printable ASCII without spaces; check what was pasted.",
            field="api_key",
        )
    return api_key


def _save(provider: ProviderConfig) -> None:
    full_clean_or_raise(provider, exclude=["team", "created_by"])
    try:
        with transaction.atomic():
            provider.save()
    except IntegrityError:
        raise ValidationFailed("A provider with that name exists already.", field="name") from None


@transaction.atomic
def provider_create(
    *,
    team: Team,
    actor: Actor,
    name: str,
    kind: str = ProviderKind.OPENAI_COMPATIBLE,
    base_url: str = "",
    api_key: str = "",
    models: str | Iterable[Any] | None = None,
    prices: dict[str, Any] | None = None,
    is_demo: bool = False,
    timeout_seconds: float = 60.0,
    max_retries: int = 3,
) -> ProviderConfig:
    require(actor, PERM_ADMIN, team, message="Only team admins manage model providers.")
    if kind not in ProviderKind.values:
        raise ValidationFailed("Choose openai or openai-compatible.", field="kind")
    provider = ProviderConfig(
        team=team,
        name=(name or "").strip(),
        kind=kind,
        base_url=_clean_url(kind, (base_url or "").strip()),
        models=_clean_models(models),
        prices=prices or {},
        is_demo=is_demo,
        timeout_seconds=timeout_seconds,
        max_retries=max_retries,
        created_by=None if isinstance(actor, ApiKey) else actor,
    )
    api_key = _clean_key(api_key)
    if api_key:
        provider.set_api_key(api_key)
    _save(provider)
    audit_record(
        team=team, actor=actor, verb="provider.create", target=provider, after=_public(provider)
    )
    return provider


@transaction.atomic
def provider_update(
    *,
    team: Team,
    actor: Actor,
    provider: ProviderConfig,
    name: Any = UNSET,
    kind: Any = UNSET,
    base_url: Any = UNSET,
    api_key: Any = UNSET,
    clear_key: bool = False,
    models: Any = UNSET,
    prices: Any = UNSET,
    timeout_seconds: Any = UNSET,
    max_retries: Any = UNSET,
) -> ProviderConfig:
    """Change what is given. A new base URL drops the stored key unless a new key comes with it."""
    require(actor, PERM_ADMIN, team, message="Only team admins manage model providers.")
    provider = ProviderConfig.objects.select_for_update().get(pk=provider.pk)
    before = _public(provider)
    if name is not UNSET:
        provider.name = (name or "").strip()
    if kind is not UNSET:
        if kind not in ProviderKind.values:
            raise ValidationFailed("Choose openai or openai-compatible.", field="kind")
        provider.kind = kind
    if base_url is not UNSET:
        new_url = _clean_url(provider.kind, (base_url or "").strip())
        if new_url != provider.base_url:
            provider.base_url = new_url
            provider.clear_api_key()
    if models is not UNSET:
        provider.models = _clean_models(models)
    if prices is not UNSET:
        provider.prices = prices or {}
    if timeout_seconds is not UNSET:
        provider.timeout_seconds = timeout_seconds
    if max_retries is not UNSET:
        provider.max_retries = max_retries
    if clear_key:
        provider.clear_api_key()
    if api_key is not UNSET and (api_key := _clean_key(api_key)):
        provider.set_api_key(api_key)
    _save(provider)
    after = _public(provider)
    audit_record(
        team=team,
        actor=actor,
        verb="provider.update",
        target=provider,
        before=before,
        after={**after, "key_changed": before["key_last4"] != after["key_last4"]},
    )
    return provider


@transaction.atomic
def provider_delete(*, team: Team, actor: Actor, provider: ProviderConfig) -> None:
    require(actor, PERM_ADMIN, team, message="Only team admins manage model providers.")
    audit_record(
        team=team, actor=actor, verb="provider.delete", target=provider, before=_public(provider)
    )
    try:
        with transaction.atomic():
            provider.delete()
    except ProtectedError:
        raise Conflict(
            "This provider is used by saved experiments; keep it, or change its URL and key."
        ) from None


# What a team is told whenever a provider cannot be reached, whatever the reason. A message
# per failure ("refused (404)", "timed out", "could not connect") would let a team admin
# map which hosts and ports answer from this server; the reason goes to the server log.
UNREACHABLE = "unreachable"
UNREACHABLE_MESSAGE = (
    "Could not reach the provider. Check the URL, the API key and that the server is "
    "running; the server's log has the details."
)


def _unreachable(provider: ProviderConfig, kind: str, detail: str) -> None:
    logger.warning(
        "provider %s (team %s, %s) could not be reached: %s: %s",
        provider.pk,
        provider.team_id,
        provider.base_url,
        kind,
        detail,
    )


def provider_test_connection(
    *, team: Team, actor: Actor, provider: ProviderConfig
) -> dict[str, Any]:
    """Ask the provider for its models: {"ok", "models", "message", "kind"}. Writes nothing
    but the audit line; the caller decides whether to store the models. Every failure is
    the one UNREACHABLE_MESSAGE; the details go to the server log."""

    require(actor, PERM_ADMIN, team, message="Only team admins can test a provider connection.")
    try:
        models = gateway.list_models(provider)
    except gateway.GatewayError as exc:
        _unreachable(provider, exc.kind, exc.message)
        result = {"ok": False, "models": [], "message": UNREACHABLE_MESSAGE, "kind": UNREACHABLE}
    except UnicodeError:
        # A key stored before keys were checked may hold characters no HTTP header can carry.
        result = {
            "ok": False,
            "models": [],
            "message": "The stored key has characters an HTTP header cannot carry; enter it again.",
            "kind": "authentication",
        }
    else:
        result = {
            "ok": True,
            "models": models,
            "message": f"Connected: {len(models)} model(s) offered.",
            "kind": "",
        }
    audit_record(
        team=team,
        actor=actor,
        verb="provider.test_connection",
        target=provider,
        after={"ok": result["ok"], "kind": result["kind"]},
    )
    return result


@transaction.atomic
def provider_refresh_models(
    *, team: Team, actor: Actor, provider: ProviderConfig
) -> ProviderConfig:
    """Replace the provider's model list with what its /v1/models offers."""

    require(actor, PERM_ADMIN, team, message="Only team admins manage model providers.")
    try:
        models = gateway.list_models(provider)
    except gateway.GatewayError as exc:
        _unreachable(provider, exc.kind, exc.message)
        raise ValidationFailed(UNREACHABLE_MESSAGE, field="models") from None
    return provider_update(team=team, actor=actor, provider=provider, models=models)


# --- the team's default provider and model -----------------------------------------------


def _team_defaults_state(team: Team) -> dict[str, Any]:
    return {"default_provider": team.default_provider_id, "default_model": team.default_model}


@transaction.atomic
def team_defaults_set(
    *, team: Team, actor: Actor, provider: ProviderConfig | None, model: str = ""
) -> Team:
    """Set (or clear, with no provider) what versions saved without a model run with."""
    require(actor, PERM_ADMIN, team, message="Only team owners and admins set the default model.")
    model = (model or "").strip()
    if len(model) > 200:
        raise ValidationFailed("The model name is longer than 200 characters.", field="model")
    if provider is not None and provider.team_id != team.pk:
        raise ValidationFailed("Unknown provider.", field="provider")
    if provider is None and model:
        raise ValidationFailed("Choose the provider that serves this model.", field="provider")
    if provider is not None and not model:
        if len(provider.models or []) == 1:
            model = provider.models[0]
        else:
            raise ValidationFailed(
                f"Name the model {provider.name} should run by default.", field="model"
            )
    given = team
    team = Team.objects.select_for_update(no_key=True).get(pk=team.pk)
    before = _team_defaults_state(team)
    for row in (team, given):  # the caller's instance reads the new defaults too
        row.default_provider = provider
        row.default_model = model if provider is not None else ""
    team.save(update_fields=["default_provider", "default_model"])
    audit_record(
        team=team,
        actor=actor,
        verb="team.defaults_set",
        target=team,
        before=before,
        after={**_team_defaults_state(team), "provider_name": provider.name if provider else ""},
    )
    return team


@transaction.atomic
def provider_demo_add(*, team: Team, actor: Actor, make_default: bool = True) -> ProviderConfig:
    """The team's demo-echo test server (created once); with `make_default`, also the
    team's default model when the team has none yet: the one-click start of a new team."""
    from apps.llm.demo import DEMO_NAME, ensure_demo_provider  # demo imports this module

    require(actor, PERM_ADMIN, team, message="Only team admins manage model providers.")
    provider = ensure_demo_provider(team=team, actor=actor)
    if make_default and not team.default_provider_id:
        team_defaults_set(
            team=team, actor=actor, provider=provider, model=(provider.models or [DEMO_NAME])[0]
        )
    return provider
