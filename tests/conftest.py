"""Shared fixtures: alice (owner), bob (editor), carol (viewer), erin (annotator) of acme;
dave (owner) of globex. Browser fixtures drive Debian's Chromium through Playwright."""

from __future__ import annotations

import os

import pytest

# Playwright's sync API runs an event loop in the test thread; the ORM calls in browser
# tests are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct-horse-battery-staple"
CHROMIUM = os.environ.get("PROMPTYARD_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def make_user(db):
    """make_user(email, name="", verified=True): an account whose address is verified
    unless told otherwise (sign-up leaves it unverified until the mailed link is opened)."""
    from django.utils import timezone

    from apps.accounts.models import User

    def make(email: str, name: str = "", verified: bool = True) -> User:
        verified_at = timezone.now() if verified else None
        return User.objects.create_user(
            email=email, password=PASSWORD, name=name, email_verified_at=verified_at
        )

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice@acme.test", "Alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob@acme.test", "Bob")


@pytest.fixture
def carol(make_user):
    return make_user("carol@acme.test", "Carol")


@pytest.fixture
def erin(make_user):
    return make_user("erin@acme.test", "Erin")


@pytest.fixture
def dave(make_user):
    return make_user("dave@globex.test", "Dave")


def add_member(team, user, role):
    from apps.core.tenancy import team_scope
    from apps.teams.services import _membership_add

    with team_scope(team):
        return _membership_add(team=team, user=user, role=role)


@pytest.fixture
def acme(alice, bob, carol, erin):
    from apps.teams.services import team_create

    team = team_create(actor=alice, name="Acme", slug="acme")
    add_member(team, bob, "editor")
    add_member(team, carol, "viewer")
    add_member(team, erin, "annotator")
    return team


@pytest.fixture
def globex(dave):
    from apps.teams.services import team_create

    return team_create(actor=dave, name="Globex", slug="globex")


@pytest.fixture
def acme_scope(acme):
    """Run the test body inside acme's tenant scope."""
    from apps.core.tenancy import team_scope

    with team_scope(acme):
        yield acme


@pytest.fixture
def api_key_for(db):
    """make a key: api_key_for(team, actor, scopes=[...], environment="") -> raw key."""
    from apps.core.tenancy import team_scope
    from apps.teams.services import api_key_create

    def make(team, actor, scopes=("prompts:read",), environment="", name="test key"):
        with team_scope(team):
            _, raw = api_key_create(
                team=team, actor=actor, name=name, scopes=list(scopes), environment=environment
            )
        return raw

    return make


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


def bearer(raw_key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}


# --- browser -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield instance
        instance.close()


@pytest.fixture
def new_page(browser, live_server):
    """new_page(user=None) -> a Page in its own browser context, logged in when a user is given."""
    contexts = []

    def make(user=None):
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        if user is not None:
            login(page, user.email)
        return page

    yield make
    for context in contexts:
        context.close()


def login(page, email: str, password: str = PASSWORD):
    page.goto("/accounts/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


# --- demo-echo: the deterministic OpenAI-compatible test server (llm helper) ---------


@pytest.fixture(scope="session")
def demo_echo():
    """Base URL (http://127.0.0.1:<port>/v1) of a session-wide demo-echo server, no faults."""
    from apps.llm.demo_echo import start_demo_echo

    server, base_url = start_demo_echo()
    yield base_url
    server.stop()


@pytest.fixture
def demo_echo_server():
    """Factory: demo_echo_server(**options) -> a fresh DemoEchoServer (fault injection).

    The server has .base_url, .script("429", "ok", ...), .outcomes and .options; it is
    stopped after the test.
    """
    from apps.llm.demo_echo import start_demo_echo

    servers = []

    def make(**options):
        server, _ = start_demo_echo(**options)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def _loopback_providers(settings):
    """Tests point providers at demo-echo and stub servers on 127.0.0.1, which a deployment
    refuses unless its operator allows it (apps/llm/urlcheck.py): allow loopback here, as
    `make run` allows its demo-echo. The URL-policy tests set their own."""
    settings.PROMPTYARD_PROVIDER_URL_ALLOWLIST = ["127.0.0.0/8", "::1"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 costs ~0.3 s per user; tests create many users and never need the strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_fetch_telemetry():
    """Fetch counters live in process memory (apps.prompts.telemetry): start and end each
    test with none, so no test's counts are flushed into another test's (or the dev) DB."""
    try:
        from apps.prompts import serving, telemetry
    except ImportError:
        yield
        return
    telemetry.reset()
    serving.reset_local_state()  # served answers too: rolled-back rows reuse their ids
    # The host-wide invalidation stamp, private to this test process: test runs in other
    # processes on this machine must not invalidate (or be seen invalidating) ours.
    import tempfile
    from pathlib import Path

    serving._STAMP_PATH = Path(tempfile.gettempdir()) / f"promptyard-serving-{os.getpid()}"
    yield
    telemetry.reset()


# --- rate limits -------------------------------------------------------------------------

# Far above anything a test sends: no test meets a limit unless it sets one (`throttle_rates`).
TEST_THROTTLE_RATES = {
    "api_key": "100000/min",
    "api_team": "100000/min",
    "api_bad_key": "10000/min",
}


@pytest.fixture(autouse=True)
def _throttles_out_of_the_way(settings):
    """Buckets live in the process's throttle cache: every test starts with none, and with
    limits no test reaches by accident. A test sets its own with `throttle_rates`."""
    from apps.core import throttling

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict(TEST_THROTTLE_RATES),
    }
    settings.PROMPTYARD_SERVING_RATE = "100000/s"
    settings.PROMPTYARD_TRACE_SPANS_RATE = "1000000/s"
    settings.PROMPTYARD_TRACE_BYTES_RATE = f"{1 << 30}/s"
    throttling.reset()
    yield
    throttling.reset()


@pytest.fixture(autouse=True)
def _fresh_trace_ingest_memory():
    """What ingestion remembers per team in process memory (batch sizes, prices) starts
    empty in each test: rolled-back rows reuse their ids."""
    from apps.traces import cost, quotas

    quotas.reset()
    cost.reset()
    yield


@pytest.fixture
def throttle_rates(settings):
    """throttle_rates(api_key="3/min", ...): set DRF's rates (the others: `settings`)."""

    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**TEST_THROTTLE_RATES, **rates},
        }

    return set_rates


@pytest.fixture
def throttle_clock(monkeypatch):
    """Stops the clock the buckets read (apps.core.throttling), so a test of "N per second"
    does not depend on how fast the machine runs it; `.advance(seconds)` moves it on."""
    import time
    import types

    from apps.core import throttling

    clock = types.SimpleNamespace(now=time.time())
    clock.advance = lambda seconds: setattr(clock, "now", clock.now + seconds)
    monkeypatch.setattr(throttling, "time", types.SimpleNamespace(time=lambda: clock.now))
    return clock
