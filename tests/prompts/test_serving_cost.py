"""What a warm tagged fetch does per request, beyond what any view does: no query, the
answer's headers checked once per cached answer, the serving limit worked out once per
team, the cache backend looked up once, and a route found without walking other apps'
resolvers. (benchmarks/fetch_cost.py measures the cost; these pin the work.)"""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from apps.prompts import serving
from apps.teams import throttles
from tests.conftest import bearer
from tests.sdk.world import make_prompt, unprotect

SERVE = "/api/v1/prompts/greeting/?tag=production"


@pytest.fixture
def raw_key(acme, alice, api_key_for):
    unprotect(acme, alice)
    make_prompt(acme, alice, templates=("Hello {{ name }}",))
    return api_key_for(acme, alice, scopes=["prompts:read"], environment="production")


def _counting(monkeypatch, owner, name):
    calls = []
    real = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_it_checks_the_answers_headers_once_per_cached_answer(
    api_client, raw_key, monkeypatch, django_assert_num_queries
):
    built = _counting(monkeypatch, serving, "ResponseHeaders")
    first = api_client.get(SERVE, **bearer(raw_key))
    with django_assert_num_queries(0):
        again = [api_client.get(SERVE, **bearer(raw_key)) for _ in range(3)]
        not_modified = api_client.get(SERVE, HTTP_IF_NONE_MATCH=first["ETag"], **bearer(raw_key))
    assert len(built) == 1
    for response in [first, *again, not_modified]:
        assert response["ETag"] == first["ETag"]
        assert response["Cache-Control"] == "private, max-age=0, must-revalidate"
        assert response["Vary"] == "Authorization, Cookie"
    assert [r.status_code for r in again] == [200, 200, 200]
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert again[0]["Content-Type"] == "application/json"


def test_a_moved_tag_gets_its_own_headers(api_client, raw_key, acme, alice):
    from apps.prompts.models import Prompt
    from tests.sdk.world import move

    first = api_client.get(SERVE, **bearer(raw_key))
    from apps.core.tenancy import team_scope
    from apps.prompts.services import version_create

    with team_scope(acme):
        prompt = Prompt.objects.get(name="greeting")
        version = version_create(
            team=acme,
            actor=alice,
            prompt=prompt,
            kind="text",
            template="Hi {{ name }}",
            commit_message="second",
        )
    move(acme, alice, prompt, version)
    moved = api_client.get(SERVE, HTTP_IF_NONE_MATCH=first["ETag"], **bearer(raw_key))
    assert moved.status_code == 200 and moved.json()["version"] == 2
    assert moved["ETag"] != first["ETag"] and moved["ETag"].endswith('.2.production"')


def test_it_works_out_the_teams_serving_limit_once(api_client, raw_key, monkeypatch, acme, alice):
    worked_out = _counting(monkeypatch, throttles.Limit, "rate_for")
    for _ in range(4):
        assert api_client.get(SERVE, **bearer(raw_key)).status_code == 200
    assert len(worked_out) == 1


def test_a_teams_new_serving_limit_and_a_new_setting_still_apply(
    api_client, raw_key, acme, alice, settings, throttle_clock, django_capture_on_commit_callbacks
):
    from apps.teams.services import team_set_limits

    settings.PROMPTYARD_SERVING_RATE = "2/s"
    assert [api_client.get(SERVE, **bearer(raw_key)).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    # The key (and the team it carries) is remembered; the change forgets it on commit.
    with django_capture_on_commit_callbacks(execute=True):
        team_set_limits(team=acme, actor=alice, limits={"limit_serving_per_second": 4})
    throttle_clock.advance(1)
    codes = [api_client.get(SERVE, **bearer(raw_key)).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]
    settings.PROMPTYARD_SERVING_RATE = "1/s"  # the team's 4 is now above its ceiling
    settings.PROMPTYARD_TEAM_LIMIT_MAX_FACTOR = 2
    throttle_clock.advance(1)
    codes = [api_client.get(SERVE, **bearer(raw_key)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_a_warm_fetch_does_not_look_the_cache_backend_up(api_client, raw_key, monkeypatch):
    api_client.get(SERVE, **bearer(raw_key))
    looked_up = []

    class Caches:
        def __getitem__(self, alias):
            looked_up.append(alias)
            return caches[alias]

    monkeypatch.setattr(serving, "caches", Caches())
    assert api_client.get(SERVE, **bearer(raw_key)).status_code == 200
    assert looked_up == []


def test_a_changed_cache_setting_is_seen(settings):
    assert serving._process_local_cache() is True
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }
    assert serving._process_local_cache() is False


def test_the_api_routes_are_one_flat_list_under_each_mount():
    """A fetch's route is found by walking the API's own routes, not one resolver per app
    that raises Resolver404 when it has no match; both mounts keep every name."""
    match = resolve("/api/v1/prompts/greeting/")
    assert match.url_name == "prompt-serve" and match.namespace == "api"
    assert all(len(step) <= 2 for step in match.tried)  # the mount, then its route
    mounts = {
        str(route.pattern): route
        for route in get_resolver().url_patterns
        if isinstance(route, URLResolver) and str(route.pattern).startswith("api/v1/")
    }
    assert set(mounts) == {"api/v1/", "api/v1/t/<slug:team_slug>/"}
    for mount in mounts.values():
        assert all(isinstance(route, URLPattern) for route in mount.url_patterns)
    assert reverse("team_api:prompt-serve", kwargs={"team_slug": "acme", "prompt_name": "g"}) == (
        "/api/v1/t/acme/prompts/g/"
    )
    assert reverse("api:members") == "/api/v1/members/"
