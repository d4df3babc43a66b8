"""GET /api/v1/prompts/<name>/diff/?from=&to=: what changed between two versions, as the
diff page shows it (content and settings, unified); bad numbers are a 400 naming the
parameter, a missing version or another team's prompt a 404."""

from __future__ import annotations

from tests.conftest import bearer

URL = "/api/v1/prompts/greeter/diff/"


def test_it_diffs_two_versions(api_client, hub, alice, api_key_for):
    raw = api_key_for(hub["team"], alice, scopes=["prompts:read"])
    body = api_client.get(URL + "?from=1&to=2", **bearer(raw)).json()
    assert (body["prompt"], body["from_version"], body["to_version"]) == ("greeter", 1, 2)
    prompt, settings = body["sections"]
    assert (prompt["title"], prompt["same"]) == ("Prompt", False)
    assert prompt["unified"].startswith("--- Prompt v1\n+++ Prompt v2\n@@")
    assert "-Hi {{ name }}\n+Hello {{ name }}!\n" in prompt["unified"]
    assert (settings["title"], settings["same"], settings["unified"]) == ("Settings", True, "")


def test_it_refuses_bad_or_missing_versions(api_client, hub, alice, api_key_for):
    raw = api_key_for(hub["team"], alice, scopes=["prompts:read"])
    missing = api_client.get(URL + "?from=1", **bearer(raw))
    assert missing.status_code == 400 and list(missing.json()["errors"]) == ["to"]
    bad = api_client.get(URL + "?from=x&to=2", **bearer(raw))
    assert bad.status_code == 400 and list(bad.json()["errors"]) == ["from"]
    assert api_client.get(URL + "?from=1&to=9", **bearer(raw)).status_code == 404


def test_another_team_gets_404(api_client, hub, globex, dave, api_key_for):
    raw = api_key_for(globex, dave, scopes=["prompts:read"])
    assert api_client.get(URL + "?from=1&to=2", **bearer(raw)).status_code == 404
