"""API keys as credentials: the stored hash of a secret, the lookup of a presented one
(with its person's current role in the key's team, in the same query), and a short
per-process memory of lookups for the serving hot path.

A remembered key (and the role it carries) is forgotten at once in this process when its
row changes (revocation: `forget_changed_api_key`) or its person's membership does (a role
change or a removal: `forget_changed_membership`), both connected in TeamsConfig.ready(),
and within API_KEY_CACHE_SECONDS (PROMPTYARD_API_KEY_CACHE_SECONDS, default 5 s) in every
other process. Unknown keys are never remembered: a flood of them must not fill memory.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import timedelta

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from apps.core.memo import Remembered
from apps.teams.models import ApiKey, Membership

API_KEY_PREFIX = "pyd_"
# Recording every use would put a write on the serving hot path; a minute's precision is plenty.
LAST_USED_PRECISION = timedelta(minutes=1)

API_KEY_CACHE_SECONDS = float(os.environ.get("PROMPTYARD_API_KEY_CACHE_SECONDS", "5"))
_remembered: Remembered[ApiKey] = Remembered(API_KEY_CACHE_SECONDS)


def api_key_hash(raw_key: str) -> str:
    return hmac.new(
        settings.API_KEY_HMAC_SECRET.encode(), raw_key.encode(), hashlib.sha256
    ).hexdigest()


def api_key_authenticate(raw_key: str, *, remember: bool = False) -> ApiKey | None:
    """The key for a presented secret (revoked ones included: the caller says why it is
    refused), or None. Constant-time hash comparison.

    `remember=True` answers from this process's memory for up to API_KEY_CACHE_SECONDS,
    for read paths that must not pay a query per request (serving)."""
    if not remember:
        return _lookup(raw_key)
    digest = hashlib.sha256(raw_key.encode()).hexdigest()
    key = _remembered.get(digest)
    if key is None:
        key = _lookup(raw_key)
        if key is not None:
            _remembered.put(digest, key)
    return key


def _lookup(raw_key: str) -> ApiKey | None:
    if not raw_key.startswith(API_KEY_PREFIX):
        return None
    prefix = raw_key[len(API_KEY_PREFIX) :].split("_", 1)[0]
    # The secret names its key, and through it its team and person: no team scope exists yet.
    # The person's role now rides along in the same query (the lesser-of rule, ApiKey).
    role_now = Membership.objects.unscoped().filter(
        team_id=OuterRef("team_id"), user_id=OuterRef("created_by_id")
    )
    key = (
        # Unscoped as above: the key is what names the team.
        ApiKey.objects.unscoped()
        .select_related("team", "created_by")
        .annotate(member_role=Subquery(role_now.values("role")[:1]))
        .filter(prefix=prefix)
        .first()
    )
    if key is None or not hmac.compare_digest(key.hashed_key, api_key_hash(raw_key)):
        return None
    return key


def api_key_mark_used(key: ApiKey) -> None:
    """Record that `key` was used, at most once per LAST_USED_PRECISION."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
        # Authentication runs before the request enters the key's team scope.
        ApiKey.objects.unscoped().filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def forget_api_key(key_id: int) -> None:
    """Drop a remembered key from this process at once."""
    _remembered.forget(lambda key: key.pk == key_id)


def forget_person_api_keys(*, team_id: int, user_id: int) -> None:
    """Drop this process's remembered keys of one person in one team at once (their role
    changed, or they left): the next request reads the role afresh."""
    _remembered.forget(lambda key: key.team_id == team_id and key.created_by_id == user_id)


def forget_all_api_keys() -> None:
    _remembered.clear()


def forget_changed_api_key(sender, instance, **kwargs) -> None:
    """post_save / post_delete receiver: a changed key (revoked, deleted) is looked up afresh."""
    forget_api_key(instance.pk)


def forget_changed_membership(sender, instance, **kwargs) -> None:
    """post_save / post_delete receiver on Membership: the person's keys act with the new
    role (or not at all) from the next request on."""
    forget_person_api_keys(team_id=instance.team_id, user_id=instance.user_id)
