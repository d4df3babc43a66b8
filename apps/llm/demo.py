"""Demo data: the demo team's provider points at the bundled demo-echo server.

`demo_echo_available()` lets the other demos run their experiments through the real
runner while `seed_demo` runs: `make run` seeds before it starts demo-echo, so when nothing
answers at the demo URL on this machine, a demo-echo is served in-process for the while."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from django.conf import settings

from apps.core.tenancy import team_scope
from apps.llm.demo_echo import MODEL_NAME, start_demo_echo
from apps.llm.models import ProviderConfig, ProviderKind
from apps.llm.services import provider_create

DEMO_NAME = "demo-echo"
DEMO_LABEL = "demo-echo — deterministic test server, not an LLM"
# Illustrative prices, so cost columns show something; demo-echo itself costs nothing.
DEMO_PRICES = {"demo-echo": {"input": 0.5, "output": 1.5}}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PROBE_SECONDS = 2.0


def ensure_demo_provider(*, team, actor) -> ProviderConfig:
    """The team's demo-echo provider, created once (idempotent)."""
    with team_scope(team):
        existing = ProviderConfig.objects.filter(is_demo=True).order_by("pk").first()
        if existing is not None:
            return existing
        return provider_create(
            team=team,
            actor=actor,
            name=DEMO_NAME,
            kind=ProviderKind.OPENAI_COMPATIBLE,
            base_url=settings.PROMPTYARD_DEMO_ECHO_URL,
            models=["demo-echo"],
            prices=DEMO_PRICES,
            is_demo=True,
            timeout_seconds=30,
            max_retries=3,
        )


def answers_as_demo_echo(base_url: str) -> bool:
    """Whether a demo-echo answers at this base URL now."""
    try:
        with urllib.request.urlopen(base_url.rstrip("/"), timeout=PROBE_SECONDS) as response:
            return json.loads(response.read() or b"{}").get("name") == MODEL_NAME
    except (OSError, ValueError, AttributeError):
        return False


@contextmanager
def demo_echo_available(base_url: str) -> Iterator[bool]:
    """Yields whether a demo-echo answers at `base_url` for the duration: the one already
    running there, else (for a loopback URL) one served in this process until the block
    ends. False: nothing could be reached; the caller leaves its runs to the worker."""
    if answers_as_demo_echo(base_url):
        yield True
        return
    parts = urlsplit(base_url)
    server = None
    if parts.scheme == "http" and parts.hostname in LOOPBACK and parts.port:
        try:
            server, _ = start_demo_echo(port=parts.port, host=parts.hostname)
        except OSError:
            server = None  # the port is taken: by a demo-echo that just started, or not
    try:
        yield server is not None or answers_as_demo_echo(base_url)
    finally:
        if server is not None:
            server.stop()


def seed(team, users):
    ensure_demo_provider(team=team, actor=users["alice"])
