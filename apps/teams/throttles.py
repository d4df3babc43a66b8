"""Rate limits of teams and API keys: what each limit is, its default (settings), a team's
override (set by an owner, read with the team: no query of its own), and the DRF throttles
that apply them to the API.

- `api_key` and `api_team`: every API request (both mounts) takes a token from its key's
  bucket and from its team's. The team bucket is taken only once the team is resolved
  (`TeamScopedAPIMixin`), so an outsider naming a team in the URL spends nothing of it.
- `serving`: tagged prompt fetches (apps.prompts.api.serving), per team, on their own
  bucket: applications fetch far more often than people call the API.
- `trace_spans`, `trace_bytes`: /v1/traces quotas per team (apps.traces.quotas).
- `api_bad_key`: failed API keys per client address. Once its bucket is empty, that
  address's key attempts get 429 without a lookup, until it refills.

Over a limit the answer is 429 with Retry-After (whole seconds) and a JSON body naming
the limit: {"detail", "code": "throttled", "limit": {...}, "retry_after"}.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import JsonResponse
from rest_framework import exceptions
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from apps.core import throttling
from apps.core.throttling import Rate
from apps.teams.models import ApiKey, Team


@lru_cache(maxsize=64)
def _parse(text: str, burst_seconds: int | None) -> Rate:
    rate = Rate.parse(text)
    if burst_seconds is None:
        return rate
    return Rate.of(rate.count, rate.period, math.ceil(rate.per_second * burst_seconds))


@dataclass(frozen=True)
class Limit:
    """One kind of limit. A team's override counts `unit` per `period` seconds."""

    name: str
    label: str
    unit: str
    period: int
    field: str | None = None  # the Team field of an owner's override
    burst_seconds: bool = False  # burst = PROMPTYARD_TRACE_BURST_SECONDS at the rate

    def _default_text(self) -> str:
        if self.name.startswith("api_"):
            return str(api_settings.DEFAULT_THROTTLE_RATES[self.name])
        return str(getattr(settings, f"PROMPTYARD_{self.name.upper()}_RATE"))

    def _burst_seconds(self) -> int | None:
        return settings.PROMPTYARD_TRACE_BURST_SECONDS if self.burst_seconds else None

    def default_rate(self) -> Rate:
        return _parse(self._default_text(), self._burst_seconds())

    def default_count(self) -> int:
        """The default in this limit's own unit and period (what the form shows)."""
        return max(1, round(self.default_rate().per_second * self.period))

    def ceiling(self) -> int:
        """The most a team's owner may set."""
        return self.default_count() * max(1, settings.PROMPTYARD_TEAM_LIMIT_MAX_FACTOR)

    def override(self, team: Team | None) -> int | None:
        if team is None or self.field is None:
            return None
        return getattr(team, self.field, None)

    def rate_for(self, team: Team | None) -> Rate:
        own = self.override(team)
        if own is None:
            return self.default_rate()
        own = min(int(own), self.ceiling())
        burst = None
        if self.burst_seconds:
            burst = math.ceil(own / self.period * settings.PROMPTYARD_TRACE_BURST_SECONDS)
        return Rate.of(own, self.period, burst)

    def describe(self, rate: Rate) -> str:
        return rate.describe(self.unit)


API_KEY = Limit("api_key", "API requests per key", "requests", 60, "limit_api_key_per_minute")
API_TEAM = Limit("api_team", "API requests per team", "requests", 60, "limit_api_per_minute")
SERVING = Limit("serving", "Tagged prompt fetches", "fetches", 1, "limit_serving_per_second")
TRACE_SPANS = Limit(
    "trace_spans", "Trace spans", "spans", 1, "limit_trace_spans_per_second", burst_seconds=True
)
TRACE_BYTES = Limit(
    "trace_bytes", "Trace bytes", "bytes", 1, "limit_trace_bytes_per_second", burst_seconds=True
)
API_BAD_KEY = Limit("api_bad_key", "Failed API keys per address", "failed keys", 60)

# The limits a team's owner may set, in the order the settings page shows them.
TEAM_LIMITS: tuple[Limit, ...] = (API_TEAM, API_KEY, SERVING, TRACE_SPANS, TRACE_BYTES)


def limits_of(team: Team) -> list[dict]:
    """Every team limit as the settings page and API show it."""
    rows = []
    for limit in TEAM_LIMITS:
        rate = limit.rate_for(team)
        rows.append(
            {
                "name": limit.name,
                "field": limit.field,
                "label": limit.label,
                "unit": f"{limit.unit} per {'minute' if limit.period == 60 else 'second'}",
                "override": limit.override(team),
                "default": limit.default_count(),
                "ceiling": limit.ceiling(),
                "effective": limit.describe(rate),
                "burst": rate.burst,
            }
        )
    return rows


# --- refusals ----------------------------------------------------------------------------


def refusal_body(*, limit: Limit, rate: Rate, wait: float, whose: str) -> dict:
    seconds = throttling.retry_after(wait)
    return {
        "detail": (
            f"Too many requests: {whose} allows {limit.describe(rate)}. "
            f"Retry in {seconds} second{'s' if seconds != 1 else ''}."
        ),
        "code": "throttled",
        "limit": {
            "name": limit.name,
            "rate": limit.describe(rate),
            "count": rate.count,
            "period_seconds": rate.period,
            "burst": rate.burst,
        },
        "retry_after": seconds,
    }


class RateLimited(exceptions.Throttled):
    """A 429 naming the limit; DRF adds Retry-After from `wait`."""

    def __init__(self, *, limit: Limit, rate: Rate, wait: float, whose: str):
        self.body = refusal_body(limit=limit, rate=rate, wait=wait, whose=whose)
        super().__init__(wait=self.body["retry_after"], detail=self.body["detail"])
        self.detail = {k: v for k, v in self.body.items() if k != "code"}

    def as_response(self) -> JsonResponse:
        """The same answer outside DRF (the serving fast path)."""
        response = JsonResponse(self.body, status=429)
        response["Retry-After"] = str(self.body["retry_after"])
        return response


def _whose_team(team: Team) -> str:
    return f"team {team.slug!r}"


# --- DRF throttles -------------------------------------------------------------------------


class _BucketThrottle(BaseThrottle):
    """Takes one token per request from the bucket `bucket()` names, or raises RateLimited.
    A refusal gives back what earlier throttles took for the same request."""

    limit: Limit

    def bucket(self, request, view) -> tuple[str, Rate, str] | None:
        """(bucket name, rate, whose limit it is), or None when this limit does not apply."""
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        found = self.bucket(request, view)
        if found is None:
            return True
        name, rate, whose = found
        wait = throttling.take(name, rate)
        taken = request.__dict__.setdefault("_throttle_taken", [])
        if wait:
            for earlier_name, earlier_rate in taken:
                throttling.give_back(earlier_name, earlier_rate, 1)
            taken.clear()
            raise RateLimited(limit=self.limit, rate=rate, wait=wait, whose=whose)
        taken.append((name, rate))
        return True

    def wait(self):
        return None


class ApiKeyRateThrottle(_BucketThrottle):
    """Per API key; the key's team may set its own per-key limit."""

    limit = API_KEY

    def bucket(self, request, view):
        key = request.auth
        if not isinstance(key, ApiKey):
            return None
        return f"key:{key.pk}", API_KEY.rate_for(key.team), "this API key"


class TeamRateThrottle(_BucketThrottle):
    """Per team, for keys and signed-in users alike, once the view has resolved the team."""

    limit = API_TEAM

    def bucket(self, request, view):
        team = getattr(view, "team", None)
        if team is None:
            return None
        return f"team:{team.pk}:api", API_TEAM.rate_for(team), _whose_team(team)


class ServingTeamThrottle(_BucketThrottle):
    """The serving bucket on the full DRF path (the fast path calls `serving_take`)."""

    limit = SERVING

    def bucket(self, request, view):
        team = getattr(view, "team", None)
        if team is None or getattr(request, "_serving_charged", False):
            return None
        return (*_serving_bucket(team), _whose_team(team))


# (team id, the team's override) -> (bucket name, rate) of its serving limit: worked out
# once per process, not per fetch. A changed override is another entry; a changed setting
# (tests) empties it.
_serving_buckets: dict[tuple[int, int | None], tuple[str, Rate]] = {}


@receiver(setting_changed)
def _forget_serving_buckets(**kwargs) -> None:
    _serving_buckets.clear()


def _serving_bucket(team: Team) -> tuple[str, Rate]:
    memo = (team.pk, SERVING.override(team))
    found = _serving_buckets.get(memo)
    if found is None:
        if len(_serving_buckets) >= 10_000:
            _serving_buckets.clear()
        found = _serving_buckets[memo] = (f"team:{team.pk}:serving", SERVING.rate_for(team))
    return found


def serving_take(team: Team) -> RateLimited | None:
    """The serving path's check: no query (the team came with the key), one atomic cache
    operation (a lease of tokens with a shared cache), None when the fetch may go on."""
    name, rate = _serving_bucket(team)
    wait = throttling.take_leased(name, rate)
    if not wait:
        return None
    return RateLimited(limit=SERVING, rate=rate, wait=wait, whose=_whose_team(team))


# --- failed keys per client address ------------------------------------------------------


def client_address(request) -> str:
    """The client's address as DRF's throttles see it (NUM_PROXIES); an IPv6 client is
    counted by its /64, which one subscriber usually holds whole."""
    ident = BaseThrottle().get_ident(request) or "unknown"
    if ":" in ident:
        try:
            return str(ipaddress.ip_network(f"{ident}/64", strict=False))
        except ValueError:
            return ident
    return ident


def _bad_key_bucket(request) -> tuple[str, Rate]:
    return f"addr:{client_address(request)}:bad_key", API_BAD_KEY.default_rate()


def bad_key_refusal(request) -> RateLimited | None:
    """A 429 for an address that has sent too many failed keys lately (a read)."""
    name, rate = _bad_key_bucket(request)
    wait = throttling.wait_for(name, rate)
    if not wait:
        return None
    return RateLimited(limit=API_BAD_KEY, rate=rate, wait=wait, whose="this address")


def bad_key_record(request) -> None:
    """Count one failed key (unknown, malformed or revoked) against the client's address."""
    name, rate = _bad_key_bucket(request)
    throttling.take(name, rate)
