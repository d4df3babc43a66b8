"""Every page, in a real browser, with the Content-Security-Policy enforced: no violation.

The pages are the page crawl's (tests/test_page_crawl.py: the demo world, every link a
member can follow, as the owner and as the annotator, whose review pages only she sees)
plus the pages outside a team. Each is loaded in Chromium, which enforces the policy the
server sends; a violation shows as a `securitypolicyviolation` event in the page and as a
console error, and both are listened to. A control page with an inline script proves the
listeners hear one.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.test_page_crawl import crawl, world  # noqa: F401  (the crawl's demo world fixture)

# Recorded in the page before any of its scripts run, and kept across htmx swaps; with a
# count of htmx requests in flight, so a page is judged once its fragments are in.
LISTEN = """
window.__htmxInFlight = 0;
document.addEventListener("htmx:beforeRequest", () => { window.__htmxInFlight += 1; });
document.addEventListener("htmx:afterRequest", () => { window.__htmxInFlight -= 1; });
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}` +
    ` at ${e.sourceFile || ""}:${e.lineNumber || ""} ${e.sample || ""}`);
});
"""
OUTSIDE_A_TEAM = [
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
    "/accounts/password/",
    "/teams/new/",
]


def _browser_context(browser, live_server, user):
    """A context signed in as `user` through a session cookie (the demo users' password is
    the demo one, and sign-in itself is tested elsewhere)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": live_server.url,
            }
        ]
    )
    context.add_init_script(LISTEN)
    return context


def _violations_on(page, url: str, console: list[str]) -> list[str]:
    console.clear()
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status < 400, (url, response and response.status)
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, url
    # htmx fetches its load-triggered fragments (navigation badges, previews) by now: wait
    # for them to be swapped in (a poller's next round is not waited for).
    page.wait_for_function("() => window.__htmxInFlight <= 0")  # a function: no eval
    found = page.evaluate("window.__cspViolations")
    found += [text for text in console if "Content Security Policy" in text]
    return [f"{url}: {v}" for v in found]


def _crawled(user) -> list[str]:
    client = Client()
    client.force_login(user)
    statuses, pages, errors = crawl(client, "/t/acme/")
    assert not errors
    return sorted(pages)


@pytest.mark.django_db(transaction=True)
def test_it_loads_every_page_with_the_policy_enforced_and_no_violation(
    world,  # noqa: F811
    browser,
    live_server,
):
    from apps.core.tenancy import team_scope
    from apps.teams.models import Team
    from apps.teams.services import invite_create

    team = Team.objects.get(slug="acme")
    with team_scope(team):
        _, token = invite_create(
            team=team, actor=world["alice"], role="viewer", anyone_with_link=True
        )
    plan = {
        "alice": _crawled(world["alice"]) + OUTSIDE_A_TEAM + [f"/teams/invite/{token}/"],
        "erin": [u for u in _crawled(world["erin"]) if "/annotations/" in u],
    }
    assert len(plan["alice"]) > 40, plan["alice"]
    assert any("/annotations/items/" in u for u in plan["erin"]), plan["erin"]

    violations, loaded = [], 0
    for handle, urls in plan.items():
        context = _browser_context(browser, live_server, world[handle])
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message, sink=console: sink.append(message.text))
        for url in urls:
            violations += _violations_on(page, url, console)
            loaded += 1
        if handle == "alice":
            # The control: an inline script is refused, and the listeners hear it.
            page.goto("/t/acme/settings/", wait_until="load")
            page.evaluate(
                """() => { const s = document.createElement("script");
                           s.textContent = "window.ran = 1"; document.body.append(s); }"""
            )
            page.wait_for_function("() => window.__cspViolations.length > 0")
            assert page.evaluate("window.ran") is None
            assert any("Content Security Policy" in text for text in console)
        context.close()
    assert loaded == sum(len(urls) for urls in plan.values())
    print(f"CSP: {loaded} pages loaded in Chromium with the policy enforced")
    assert not violations, "\n".join(violations)


def test_it_sends_the_security_headers(client, db):
    response = client.get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "Content-Security-Policy-Report-Only" not in response
    permissions = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in permissions
    assert "clipboard-write=(self)" in permissions
