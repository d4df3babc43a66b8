"""Browser: after a tag move, the Environments page shows that the `production`
environment's key still holds the old version."""

from __future__ import annotations

from promptyard import Promptyard

from apps.prompts import telemetry
from tests.sdk.world import make_prompt, move, unprotect


def test_it_shows_drift_after_a_tag_move(new_page, live_server, acme, alice, api_key_for):
    unprotect(acme, alice)
    telemetry.reset()
    prompt, versions = make_prompt(acme, alice, templates=("Hello {{ name }}", "Hi {{ name }}"))
    raw = api_key_for(acme, alice, environment="production", name="checkout service")
    app = Promptyard(api_key=raw, base_url=live_server.url)
    assert app.get_prompt("greeting").version == 1  # the application holds v1

    page = new_page(alice)
    page.goto("/t/acme/prompts/environments/")
    row = page.locator("tr[data-environment=production][data-tag=production]")
    assert "In sync" in row.inner_text()

    move(acme, alice, prompt, versions[1])
    page.reload()
    text = row.inner_text()
    assert "Drift" in text and "still serving v1 (checkout service)" in text
    assert "v2" in text

    app.get_prompt("greeting", cache_ttl=0)  # the application catches up
    page.check("input[name=problems]")  # htmx filter: only problems
    page.wait_for_selector("#environment-rows >> text=Nothing matches this filter.")
    telemetry.reset()
