"""Input that used to be a 500 (found fuzzing and probing the API on PostgreSQL) is a 400
naming where it is wrong, on both front ends."""

from __future__ import annotations

import pytest

from tests.conftest import bearer
from tests.isolation_world import build_world

NUL = "\u0000"


@pytest.fixture
def admin_key(acme, alice, bob, api_key_for):
    build_world(acme, alice, bob)
    return api_key_for(acme, alice, scopes=["admin"])


def test_a_deeply_nested_json_body_is_a_400(api_client, admin_key):
    for depth in (150, 100_000):
        body = '{"name": "x", "description": ' + "[" * depth + "]" * depth + "}"
        response = api_client.generic(
            "POST", "/api/v1/datasets/", body, content_type="application/json", **bearer(admin_key)
        )
        assert response.status_code == 400, depth
        assert "nested deeper than 100 levels" in response.json()["detail"]


@pytest.mark.parametrize(
    ("url", "body", "where"),
    [
        (
            "/api/v1/prompts/acme-only-prompt/versions/",
            {"kind": "chat", "commit_message": "m", "messages": [{"role": "user", "content": NUL}]},
            "messages[0].content",
        ),
        (
            "/api/v1/evaluators/",
            {"name": "e", "kind": "regex", "params": {"pattern": "a" + NUL}},
            "params.pattern",
        ),
        (
            "/api/v1/providers/",
            {"name": "p", "models": ["m"], "prices": {"m" + NUL: {"input": 1, "output": 1}}},
            "prices",
        ),
    ],
)
def test_a_nul_character_in_a_json_body_is_a_400_naming_where(
    api_client, admin_key, url, body, where
):
    response = api_client.post(url, body, format="json", **bearer(admin_key))
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [where]
    assert response.json()["detail"].startswith(f"{where} contains a NUL character")


def test_a_nul_character_in_a_query_is_a_400_naming_the_parameter(
    api_client, client, admin_key, alice
):
    response = api_client.get("/api/v1/prompts/?q=a%00b", **bearer(admin_key))
    assert response.status_code == 400
    assert response.json() == {
        "detail": "q contains a NUL character.",
        "code": "invalid",
        "errors": {"q": ["q contains a NUL character."]},
    }
    client.force_login(alice)
    for url in ("/t/acme/prompts/?q=%00", "/t/acme/traces/?name=%00"):
        page = client.get(url)
        assert page.status_code == 400 and b"NUL character" in page.content, url


def test_the_last_day_there_is_bounds_the_audit_trail(api_client, client, admin_key, alice):
    response = api_client.get("/api/v1/audit-events/?date_to=9999-12-31", **bearer(admin_key))
    assert response.status_code == 200 and response.json()["count"] > 0
    client.force_login(alice)
    assert client.get("/t/acme/settings/audit/?date_to=9999-12-31").status_code == 200
