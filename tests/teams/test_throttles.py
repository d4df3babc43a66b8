"""API throttles: per key and per team on both mounts, a team's own limits set by its
owner, another team untouched, and floods of wrong keys refused per client address."""

from __future__ import annotations

import pytest

from apps.core import throttling
from apps.core.tenancy import team_scope
from apps.teams.models import ApiKey, AuditEvent, Team
from apps.teams.services import api_key_revoke
from apps.teams.throttles import API_KEY
from tests.conftest import bearer

MEMBERS = "/api/v1/members/"
# The buckets' clock stands still: no token comes back while a test runs.
pytestmark = pytest.mark.usefixtures("throttle_clock")


def _throttled(response, limit: str) -> dict:
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) >= 1
    body = response.json()
    assert body["code"] == "throttled"
    assert body["limit"]["name"] == limit
    assert body["retry_after"] == int(response["Retry-After"])
    assert body["limit"]["rate"] in body["detail"]
    return body


@pytest.fixture
def admin_keys(acme, alice, api_key_for):
    return [api_key_for(acme, alice, scopes=["admin"], name=f"key {i}") for i in range(2)]


def test_it_answers_429_with_retry_after_past_a_keys_limit(api_client, admin_keys, throttle_rates):
    throttle_rates(api_key="3/min")
    first, second = admin_keys
    for _ in range(3):
        assert api_client.get(MEMBERS, **bearer(first)).status_code == 200
    body = _throttled(api_client.get(MEMBERS, **bearer(first)), "api_key")
    assert body["limit"]["rate"] == "3 requests per minute"
    assert "this API key allows 3 requests per minute" in body["detail"]
    assert 1 <= body["retry_after"] <= 20  # one request back every 20 s
    # The limit is the key's: the team's other key goes on.
    assert api_client.get(MEMBERS, **bearer(second)).status_code == 200


def test_it_answers_429_past_the_teams_limit_on_both_mounts(
    api_client, client, admin_keys, alice, throttle_rates
):
    throttle_rates(api_team="4/min")
    first, second = admin_keys
    assert api_client.get(MEMBERS, **bearer(first)).status_code == 200
    assert api_client.get(MEMBERS, **bearer(second)).status_code == 200
    client.force_login(alice)
    assert client.get("/api/v1/t/acme/members/").status_code == 200
    assert api_client.get(MEMBERS, **bearer(second)).status_code == 200
    body = _throttled(client.get("/api/v1/t/acme/members/"), "api_team")
    assert "team 'acme' allows 4 requests per minute" in body["detail"]
    _throttled(api_client.get(MEMBERS, **bearer(first)), "api_team")


def test_one_teams_exhaustion_leaves_another_team_alone(
    api_client, admin_keys, globex, dave, api_key_for, throttle_rates
):
    throttle_rates(api_team="2/min")
    globex_key = api_key_for(globex, dave, scopes=["admin"])
    for _ in range(2):
        api_client.get(MEMBERS, **bearer(admin_keys[0]))
    _throttled(api_client.get(MEMBERS, **bearer(admin_keys[1])), "api_team")
    for _ in range(2):
        assert api_client.get(MEMBERS, **bearer(globex_key)).status_code == 200


def test_an_outsider_spends_nothing_of_a_teams_allowance(
    client, api_client, admin_keys, acme, dave, throttle_rates
):
    throttle_rates(api_team="2/min")
    client.force_login(dave)
    for _ in range(5):
        assert client.get("/api/v1/t/acme/members/").status_code == 404
    for _ in range(2):
        assert api_client.get(MEMBERS, **bearer(admin_keys[0])).status_code == 200


def test_a_refused_request_gives_back_the_keys_token(api_client, admin_keys, throttle_rates):
    throttle_rates(api_key="2/min", api_team="1/min")
    first = admin_keys[0]
    assert api_client.get(MEMBERS, **bearer(first)).status_code == 200
    _throttled(api_client.get(MEMBERS, **bearer(first)), "api_team")
    _throttled(api_client.get(MEMBERS, **bearer(first)), "api_team")
    key = ApiKey.objects.unscoped().select_related("team").get(name="key 0")
    # Two refusals by the team's limit left the key's own bucket where one request put it.
    assert throttling.available(f"key:{key.pk}", API_KEY.rate_for(key.team)) == 1


def test_an_owner_raises_the_teams_limit_on_the_settings_page(
    client, api_client, admin_keys, alice, throttle_rates
):
    throttle_rates(api_key="2/min")
    first = admin_keys[0]
    for _ in range(2):
        api_client.get(MEMBERS, **bearer(first))
    _throttled(api_client.get(MEMBERS, **bearer(first)), "api_key")

    client.force_login(alice)
    page = client.get("/t/acme/settings/")
    assert b"Rate limits" in page.content and b"Save rate limits" in page.content
    assert b"2 requests per minute" in page.content
    response = client.post("/t/acme/settings/limits/", {"limit_api_key_per_minute": "5"})
    assert response.status_code == 302
    assert Team.objects.get(slug="acme").limit_api_key_per_minute == 5
    event = AuditEvent.objects.unscoped().get(verb="team.limits")  # read across the scope
    assert event.after == {**event.before, "limit_api_key_per_minute": 5}

    # A fresh bucket at the new rate: five requests a minute for this key.
    for _ in range(5):
        assert api_client.get(MEMBERS, **bearer(first)).status_code == 200
    body = _throttled(api_client.get(MEMBERS, **bearer(first)), "api_key")
    assert body["limit"]["rate"] == "5 requests per minute"
    assert b"5 requests per minute" in client.get("/t/acme/settings/").content


def test_only_owners_change_limits_and_only_up_to_the_ceiling(
    client, api_client, acme, alice, bob, carol, api_key_for, settings
):
    settings.PROMPTYARD_TEAM_LIMIT_MAX_FACTOR = 10
    client.force_login(bob)  # an editor
    assert (
        client.post("/t/acme/settings/limits/", {"limit_serving_per_second": "9"}).status_code
        == 403
    )
    client.force_login(carol)
    page = client.get("/t/acme/settings/")
    assert b"Rate limits" in page.content and b"Save rate limits" not in page.content

    admin_key = api_key_for(acme, alice, scopes=["admin"])
    listed = api_client.get("/api/v1/limits/", **bearer(admin_key))
    assert listed.status_code == 200
    serving = next(row for row in listed.json() if row["name"] == "serving")
    assert serving["override"] is None and serving["ceiling"] == 10 * serving["default"]
    # A key is never an owner.
    refused = api_client.patch(
        "/api/v1/limits/", {"limit_serving_per_second": 9}, format="json", **bearer(admin_key)
    )
    assert refused.status_code == 403

    api_client.force_login(alice)
    too_high = api_client.patch(
        "/api/v1/t/acme/limits/",
        {"limit_serving_per_second": serving["ceiling"] + 1},
        format="json",
    )
    assert too_high.status_code == 400
    assert "limit_serving_per_second" in too_high.json()["errors"]
    done = api_client.patch(
        "/api/v1/t/acme/limits/", {"limit_serving_per_second": 9}, format="json"
    )
    assert done.status_code == 200
    row = next(row for row in done.json() if row["name"] == "serving")
    assert (row["override"], row["effective"]) == (9, "9 fetches per second")
    back = api_client.patch(
        "/api/v1/t/acme/limits/", {"limit_serving_per_second": None}, format="json"
    )
    assert next(r for r in back.json() if r["name"] == "serving")["override"] is None


def test_the_settings_form_names_the_field_it_refuses(client, acme, alice):
    client.force_login(alice)
    response = client.post(
        "/t/acme/settings/limits/",
        {"limit_trace_spans_per_second": "0"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert b'id="id_limit_trace_spans_per_second-error"' in response.content


def test_a_flood_of_wrong_keys_meets_429_per_client_address(api_client, admin_keys, throttle_rates):
    throttle_rates(api_bad_key="5/min")
    for i in range(5):
        response = api_client.get(MEMBERS, **bearer(f"pyd_deadbeef_wrong{i}"))
        assert response.status_code == 401
    for i in range(20):
        body = _throttled(
            api_client.get(MEMBERS, **bearer(f"pyd_deadbeef_again{i}")), "api_bad_key"
        )
    assert "this address allows 5 failed keys per minute" in body["detail"]
    # The address is refused before any lookup, whatever key it sends next...
    _throttled(api_client.get(MEMBERS, **bearer(admin_keys[0])), "api_bad_key")
    # ...while another address is untouched: its good key works and a wrong one is a 401.
    elsewhere = {"REMOTE_ADDR": "10.1.2.3"}
    assert api_client.get(MEMBERS, **bearer(admin_keys[0]), **elsewhere).status_code == 200
    assert api_client.get(MEMBERS, **bearer("pyd_x_y"), **elsewhere).status_code == 401


def test_a_bad_key_flood_costs_no_lookup_once_throttled(
    db, api_client, django_assert_num_queries, throttle_rates
):
    throttle_rates(api_bad_key="1/min")
    assert api_client.get(MEMBERS, **bearer("pyd_deadbeef_wrong")).status_code == 401
    with django_assert_num_queries(0):
        assert api_client.get(MEMBERS, **bearer("pyd_deadbeef_again")).status_code == 429


def test_revoked_keys_count_as_failures(api_client, acme, alice, api_key_for, throttle_rates):
    throttle_rates(api_bad_key="2/min")
    raw = api_key_for(acme, alice, scopes=["admin"])
    with team_scope(acme):
        api_key_revoke(team=acme, actor=alice, key=ApiKey.objects.get())
    assert [api_client.get(MEMBERS, **bearer(raw)).status_code for _ in range(3)] == [
        401,
        401,
        429,
    ]
