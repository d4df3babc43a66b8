"""Serving prompts to applications: the read path behind GET /api/v1/prompts/<name>/.

Answers are cached as ready-to-send JSON bytes with their ETag, so a warm fetch costs one
cache read: in Redis when REDIS_URL is set (Django's cache), else - the default local-memory
cache backend - in plain dicts of the process (bounded by PROMPTYARD_SERVING_LOCAL_ENTRIES).

Invalidation without stale reads after a tag move commits:
- Every cache key carries the team's *generation*, a random token stored in the cache
  (or, process-local, in a dict).
  When a tag moves, `tag_moved` (sent on commit) replaces the token: every entry of the
  team is orphaned at once. A request that read the database before the commit and
  writes its entry afterwards writes it under the old token, where nobody looks.
- With a process-local cache (LocMemCache, the default), other worker processes cannot
  see that token. The key then also carries a host-wide stamp: the inode and mtime of a
  file in VAR_DIR that the invalidation replaces atomically; each request stat()s it
  (about a microsecond); a changed stamp also empties the process's answers. Several
  hosts sharing no cache need REDIS_URL.

API keys on this path are remembered per process by apps.teams.keys (default 5 s): a
revocation takes effect at once in the process that made it and within that bound
everywhere else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver
from django.http.response import ResponseHeaders
from django.utils.http import parse_etags
from promptyard.rollouts import ARM_CANDIDATE, arm_for

from apps.core.errors import NotFound, ValidationFailed
from apps.prompts.models import Prompt, PromptVersion, Rollout, RolloutStatus, Tag
from apps.prompts.validators import TAG_NAME_RE
from apps.teams.keys import forget_all_api_keys

logger = logging.getLogger(__name__)

DEFAULT_TAG = "production"
PREFIX = "pyd:serve:1"
# Cached answers are dropped by invalidation, not by age; the TTL only bounds memory.
ENTRY_TTL = int(getattr(settings, "PROMPTYARD_SERVING_CACHE_SECONDS", 3600))
CACHE_CONTROL = "private, max-age=0, must-revalidate"
# Answers depend on who asks: the key (Authorization) or the signed-in person (Cookie).
ANSWER_VARY = "Authorization, Cookie"
_STAMP_PATH = Path(settings.VAR_DIR) / "serving-generation"


@dataclass(frozen=True)
class Served:
    """One cacheable answer: the body bytes, its ETag, and what telemetry needs."""

    body: bytes
    etag: str
    # (prompt_id, version_number) of every prompt in the answer.
    served: tuple[tuple[int, int], ...]
    # A tag under a rollout: the answers of its two arms, for a fetch with a caller key.
    arms: Arms | None = None

    @cached_property
    def headers(self) -> dict[str, tuple[str, str]]:
        """The answer's own headers (ETag, Cache-Control, Vary), checked and encoded once
        per cached answer instead of once per request: the entries of a response's header
        store (`ResponseHeaders._store`: lower-cased name -> (name, value))."""
        checked = ResponseHeaders(
            {"ETag": self.etag, "Cache-Control": CACHE_CONTROL, "Vary": ANSWER_VARY}
        )
        return dict(checked._store)

    def matches(self, if_none_match: str | None) -> bool:
        if not if_none_match:
            return False
        if if_none_match.strip() == "*":
            return True
        # If-None-Match uses the weak comparison (RFC 9110 13.1.2).
        etags = {e.removeprefix("W/") for e in parse_etags(if_none_match)}
        return self.etag in etags


@dataclass(frozen=True)
class Arms:
    """The two answers of a tag under rollout: which one a caller key gets is
    promptyard.rollouts.arm_for(prompt, rollout_id, percent, key), as in the SDK."""

    prompt_name: str
    rollout_id: int
    percent: int
    current: Served
    candidate: Served

    def pick(self, key: str | None) -> Served:
        arm = arm_for(self.prompt_name, self.rollout_id, self.percent, key)
        return self.candidate if arm == ARM_CANDIDATE else self.current


# --- generations ---------------------------------------------------------------------


# Whether the default cache is process-local (LocMemCache): asked on every fetch, so
# looked up once (`caches[...]` goes through a thread-local each time), and again only
# when the CACHES setting changes (tests).
_local_backend: list[bool | None] = [None]


def _process_local_cache() -> bool:
    local = _local_backend[0]
    if local is None:
        # `cache` is a proxy: look at the backend behind it.
        local = _local_backend[0] = isinstance(caches["default"], LocMemCache)
    return local


@receiver(setting_changed)
def _caches_changed(setting, **kwargs) -> None:
    if setting == "CACHES":
        _local_backend[0] = None


def _host_stamp() -> str:
    try:
        st = os.stat(_STAMP_PATH)
    except FileNotFoundError:
        return "0"
    return f"{st.st_ino:x}{st.st_mtime_ns:x}"


def _bump_host_stamp() -> None:
    """Replace the stamp file: a new inode, so every process sees a new stamp."""
    _STAMP_PATH.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=_STAMP_PATH.parent, prefix=".serving-")
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(8))
    os.replace(tmp, _STAMP_PATH)


# With a process-local cache backend, answers live in plain dicts of this process: no
# pickling per read, and no LocMemCache culling (300 entries by default) for big teams.
LOCAL_MAX_ENTRIES = int(os.environ.get("PROMPTYARD_SERVING_LOCAL_ENTRIES", "5000"))
_local_answers: dict[str, Served] = {}
_local_generations: dict[int, str] = {}
_local_stamp = [""]
_local_lock = threading.Lock()


def _generation(team_id: int) -> str | None:
    """The team's cache generation, or None when the cache cannot be reached (then the
    answer comes from the database: a cache outage slows serving, it does not stop it)."""
    if _process_local_cache():
        stamp = _host_stamp()
        if stamp != _local_stamp[0]:
            # Another process invalidated something: everything cached here is suspect.
            with _local_lock:
                _local_answers.clear()
                _local_stamp[0] = stamp
        token = _local_generations.get(team_id) or _local_generations.setdefault(
            team_id, secrets.token_hex(6)
        )
        return f"{token}.{stamp}"
    key = f"{PREFIX}:gen:{team_id}"
    try:
        token = cache.get(key)
        if token is None:
            # A random first token: an evicted generation never comes back as an old one.
            cache.add(key, secrets.token_hex(6), timeout=None)
            token = cache.get(key)
    except Exception:
        logger.warning("Serving cache unreachable; answering from the database", exc_info=True)
        return None
    return token


def _cache_get(key: str):
    if _process_local_cache():
        return _local_answers.get(key)
    return cache.get(key)


def _cache_set(key: str, served: Served) -> None:
    if _process_local_cache():
        with _local_lock:
            if len(_local_answers) >= LOCAL_MAX_ENTRIES:
                _local_answers.clear()  # rare: more distinct answers than the bound
            _local_answers[key] = served
        return
    cache.set(key, served, ENTRY_TTL)


def _cached(key: str | None, load):
    if key is None:
        return load()
    try:
        served = _cache_get(key)
    except Exception:
        logger.warning("Serving cache unreachable; answering from the database", exc_info=True)
        return load()
    if served is None:
        served = load()
        try:
            _cache_set(key, served)
        except Exception:
            logger.warning("Serving cache unreachable; not storing", exc_info=True)
    return served


def invalidate_team(team_id: int) -> None:
    """Orphan every cached answer of the team (all prompts, tags and snapshots)."""
    if _process_local_cache():
        prefix = f"{PREFIX}:{team_id}:"
        with _local_lock:
            _local_generations[team_id] = secrets.token_hex(6)
            for key in [k for k in _local_answers if k.startswith(prefix)]:
                del _local_answers[key]
        _bump_host_stamp()  # the other worker processes of this host
        return
    try:
        cache.set(f"{PREFIX}:gen:{team_id}", secrets.token_hex(6), timeout=None)
    except Exception:
        # Runs after the commit: the move stands; say loudly that caches may be stale.
        logger.error("Could not invalidate the serving cache of team %s", team_id, exc_info=True)


def invalidate_on_commit(team_id: int) -> None:
    transaction.on_commit(lambda: invalidate_team(team_id))


# --- answers -------------------------------------------------------------------------


def _check_tag(tag: str) -> str:
    if not TAG_NAME_RE.fullmatch(tag or ""):
        raise ValidationFailed(f"Tag name {tag!r} is not valid.", field="tag")
    return tag


def _payload(name: str, version: PromptVersion, tag: str | None) -> dict:
    return {
        "name": name,
        "version": version.number,
        "tag": tag,
        "kind": version.kind,
        "template": version.template,
        "messages": version.messages,
        # A chain's steps ([] for text and chat): each names the prompt version it runs.
        "steps": version.steps,
        "variables": version.variables,
        "variables_schema": version.variables_schema,
        "model_settings": version.model_settings,
        "content_hash": version.content_hash,
    }


def prompt_etag(version: PromptVersion, tag: str | None) -> str:
    # The number is part of it: a version that restores older content has the same hash.
    return f'"{version.content_hash}.{version.number}.{tag or "pinned"}"'


def _dumps(data) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _rollout_of(rollout: Rollout) -> dict:
    """The rollout definition a tagged fetch carries: both versions and the split."""
    return {
        "id": rollout.pk,
        "percent": rollout.percent,
        "current_version": rollout.base.number,
        "candidate": _payload(rollout.prompt.name, rollout.candidate, rollout.tag_name),
    }


def rollout_etag(etag: str, rollout: Rollout, arm: str | None = None) -> str:
    suffix = f".r{rollout.pk}-{rollout.percent}" + (f"-{arm}" if arm else "")
    return etag[:-1] + suffix + '"'


def _active_rollouts(tag: str, prompt_ids) -> dict[int, Rollout]:
    rows = Rollout.objects.select_related("prompt", "base", "candidate").filter(
        tag_name=tag, status=RolloutStatus.ACTIVE, prompt_id__in=prompt_ids
    )
    return {r.prompt_id: r for r in rows}


def _tagged_answer(name: str, row: Tag, rollout: Rollout | None) -> Served:
    found = row.version
    payload = _payload(name, found, row.name)
    etag = prompt_etag(found, row.name)
    if rollout is None:
        return Served(body=_dumps(payload), etag=etag, served=((found.prompt_id, found.number),))

    def arm(version: PromptVersion, which: str) -> Served:
        body = _payload(name, version, row.name)
        body["rollout"] = {"id": rollout.pk, "percent": rollout.percent, "arm": which}
        return Served(
            body=_dumps(body),
            etag=rollout_etag(prompt_etag(version, row.name), rollout, which),
            served=((version.prompt_id, version.number),),
        )

    payload["rollout"] = _rollout_of(rollout)
    return Served(
        body=_dumps(payload),
        etag=rollout_etag(etag, rollout),
        served=((found.prompt_id, found.number),),
        arms=Arms(
            prompt_name=name,
            rollout_id=rollout.pk,
            percent=rollout.percent,
            current=arm(rollout.base, "current"),
            candidate=arm(rollout.candidate, ARM_CANDIDATE),
        ),
    )


def _load_prompt(name: str, tag: str | None, version: int | None) -> Served:
    if version is not None:
        found = (
            PromptVersion.objects.select_related("prompt")
            .filter(prompt__name=name, number=version)
            .first()
        )
        if found is None:
            raise NotFound(f"Prompt {name!r} has no version {version}.")
    else:
        row = Tag.objects.select_related("version").filter(prompt__name=name, name=tag).first()
        if row is None:
            if not Prompt.objects.filter(name=name).exists():
                raise NotFound(f"No prompt named {name!r}.")
            raise NotFound(f"Prompt {name!r} has no tag {tag!r}.")
        rollout = _active_rollouts(row.name, [row.prompt_id]).get(row.prompt_id)
        return _tagged_answer(name, row, rollout)
    return Served(
        body=_dumps(_payload(name, found, tag)),
        etag=prompt_etag(found, tag),
        served=((found.prompt_id, found.number),),
    )


def serve_prompt(
    *,
    team,
    name: str,
    tag: str | None = None,
    version: int | None = None,
    key: str | None = None,
) -> Served:
    """The answer for one prompt at a tag (default production) or a pinned version.
    Under a rollout the tagged answer carries its definition; with a caller `key` it is
    instead the answer of the key's arm (the same arm the SDK picks for that key).
    Runs inside the team's scope; raises NotFound / ValidationFailed."""
    served = _serve_prompt(team=team, name=name, tag=tag, version=version)
    if key is not None and served.arms is not None:
        return served.arms.pick(key)
    return served


def _serve_prompt(*, team, name: str, tag: str | None, version: int | None) -> Served:
    if version is not None and version < 1:
        raise ValidationFailed("version must be a positive integer.", field="version")
    tag = None if version is not None else _check_tag(tag or DEFAULT_TAG)
    generation = _generation(team.pk)
    key = None
    if generation is not None:
        key = f"{PREFIX}:{team.pk}:{generation}:p:{name}:{tag or ''}:{version or ''}"
    return _cached(key, lambda: _load_prompt(name, tag, version))


def serve_snapshot(*, team, tag: str | None = None) -> Served:
    """Every prompt of the team at `tag`, in one answer with its own ETag."""
    tag = _check_tag(tag or DEFAULT_TAG)
    generation = _generation(team.pk)
    key = f"{PREFIX}:{team.pk}:{generation}:s:{tag}" if generation is not None else None
    return _cached(key, lambda: _load_snapshot(tag))


def _load_snapshot(tag: str) -> Served:
    rows = list(
        Tag.objects.select_related("prompt", "version").filter(name=tag).order_by("prompt__name")
    )
    rollouts = _active_rollouts(tag, [row.prompt_id for row in rows]) if rows else {}
    items = []
    for row in rows:
        item = _payload(row.prompt.name, row.version, tag)
        item["etag"] = prompt_etag(row.version, tag)
        rollout = rollouts.get(row.prompt_id)
        if rollout is not None:
            item["rollout"] = _rollout_of(rollout)
            item["etag"] = rollout_etag(item["etag"], rollout)
        items.append(item)
    digest = hashlib.sha256("\n".join(i["etag"] for i in items).encode()).hexdigest()
    return Served(
        body=_dumps({"tag": tag, "count": len(items), "prompts": items}),
        etag=f'"snapshot.{digest[:40]}.{tag}"',
        served=tuple((row.prompt_id, row.version.number) for row in rows),
    )


def reset_local_state() -> None:
    """Forget every process-local answer, generation and key (tests: rolled-back rows
    reuse ids)."""
    with _local_lock:
        _local_answers.clear()
        _local_generations.clear()
    forget_all_api_keys()
