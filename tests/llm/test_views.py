"""Provider pages: admins only, the key never shown again, the demo server labelled."""

import pytest
from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.llm.models import ProviderConfig

pytestmark = pytest.mark.django_db

RAW_KEY = "sk-live-abcdefghijklmnop9876"


def _url(name, **kwargs):
    return reverse(f"llm:{name}", kwargs={"team_slug": "acme", **kwargs})


def test_it_lists_providers_with_masked_keys(client, alice, make_provider):
    make_provider("http://127.0.0.1:8765/v1", name="Local", api_key=RAW_KEY)
    client.force_login(alice)
    response = client.get(_url("providers"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Local" in body and "••••9876" in body
    assert RAW_KEY not in body and "abcdefghijklmnop" not in body


def test_it_labels_the_demo_server(client, acme, alice):
    from apps.llm.demo import seed

    seed(acme, {"alice": alice})
    seed(acme, {"alice": alice})  # idempotent
    with team_scope(acme):
        assert ProviderConfig.objects.filter(is_demo=True).count() == 1
    client.force_login(alice)
    body = client.get(_url("providers")).content.decode()
    assert "demo-echo — deterministic test server, not an LLM" in body


@pytest.mark.parametrize("who", ["bob", "carol", "erin"])
def test_it_refuses_non_admins(request, client, make_provider, who):
    provider = make_provider("http://127.0.0.1:8765/v1")
    client.force_login(request.getfixturevalue(who))
    assert client.get(_url("providers")).status_code == 403
    assert client.get(_url("provider_create")).status_code == 403
    assert client.get(_url("provider_edit", provider_id=provider.pk)).status_code == 403
    assert client.post(_url("provider_test", provider_id=provider.pk)).status_code == 403
    assert client.post(_url("provider_delete", provider_id=provider.pk)).status_code == 403


def test_it_creates_a_provider_from_the_form(client, acme, alice):
    client.force_login(alice)
    response = client.post(
        _url("provider_create"),
        {
            "name": "Ollama",
            "kind": "openai-compatible",
            "base_url": "http://127.0.0.1:11434/v1",
            "api_key": RAW_KEY,
            "models": "llama3\nqwen2",
            "prices": "llama3 0 0\nqwen2 0.1 0.2",
            "timeout_seconds": "30",
            "max_retries": "2",
        },
    )
    assert response.status_code == 302
    with team_scope(acme):
        provider = ProviderConfig.objects.get(name="Ollama")
    assert provider.models == ["llama3", "qwen2"]
    assert provider.prices["qwen2"] == {"input": 0.1, "output": 0.2}
    assert provider.api_key == RAW_KEY
    page = client.get(response["Location"]).content.decode()
    assert RAW_KEY not in page and "••••9876" in page


def test_it_shows_a_refused_url_next_to_the_field(client, acme, alice):
    client.force_login(alice)
    response = client.post(
        _url("provider_create"),
        {
            "name": "Sneaky",
            "kind": "openai-compatible",
            "base_url": "http://169.254.169.254/latest",
            "timeout_seconds": "30",
            "max_retries": "2",
        },
    )
    assert response.status_code == 200
    assert "link-local or cloud-metadata" in response.content.decode()


def test_it_tests_the_connection(client, alice, demo_echo, make_provider):
    provider = make_provider(demo_echo, models=[])
    client.force_login(alice)
    response = client.post(
        _url("provider_test", provider_id=provider.pk), {"refresh": "1"}, follow=True
    )
    assert "Connected" in response.content.decode()
    provider.refresh_from_db()
    assert provider.models == ["demo-echo"]
    response = client.post(
        _url("provider_test", provider_id=provider.pk), headers={"HX-Request": "true"}
    )
    assert "Connected" in response.content.decode() and "<html" not in response.content.decode()


def test_it_adds_the_demo_server_from_the_empty_page(client, acme, alice):
    client.force_login(alice)
    client.post(_url("provider_add_demo"))
    with team_scope(acme):
        assert ProviderConfig.objects.get().is_demo


# --- API ---------------------------------------------------------------------------


def test_it_never_returns_the_key_from_the_api(api_client, alice, make_provider):
    provider = make_provider("http://127.0.0.1:8765/v1", api_key=RAW_KEY)
    api_client.force_login(alice)
    url = reverse("team_api:provider-list", kwargs={"team_slug": "acme"})
    body = api_client.get(url).json()
    assert body["results"][0]["key_last4"] == "9876"
    assert body["results"][0]["has_key"] is True
    assert RAW_KEY not in str(body) and "api_key_encrypted" not in str(body)
    detail = reverse(
        "team_api:provider-detail", kwargs={"team_slug": "acme", "provider_id": provider.pk}
    )
    response = api_client.patch(detail, {"base_url": "http://127.0.0.1:9000/v1"}, format="json")
    assert response.status_code == 200
    assert response.json()["has_key"] is False


def test_it_creates_through_the_api_with_an_admin_key(api_client, acme, alice, api_key_for):
    from tests.conftest import bearer

    raw = api_key_for(acme, alice, scopes=["admin"])
    response = api_client.post(
        reverse("api:provider-list"),
        {"name": "vllm", "base_url": "http://127.0.0.1:8000/v1", "api_key": RAW_KEY},
        format="json",
        **bearer(raw),
    )
    assert response.status_code == 201, response.content
    assert RAW_KEY not in response.content.decode()
    weak = api_key_for(acme, alice, scopes=["prompts:write"])
    response = api_client.post(
        reverse("api:provider-list"),
        {"name": "x", "base_url": "http://127.0.0.1:8000/v1"},
        format="json",
        **bearer(weak),
    )
    assert response.status_code == 403
    # Reading providers needs experiments:read (or admin): prompts:write alone is 403.
    assert api_client.get(reverse("api:provider-list"), **bearer(weak)).status_code == 403
    reader = api_key_for(acme, alice, scopes=["experiments:read"], name="reader")
    assert api_client.get(reverse("api:provider-list"), **bearer(reader)).status_code == 200


def test_it_refuses_editors_through_the_api(api_client, bob, make_provider):
    api_client.force_login(bob)
    url = reverse("team_api:provider-list", kwargs={"team_slug": "acme"})
    response = api_client.post(
        url, {"name": "x", "base_url": "http://127.0.0.1:1/v1"}, format="json"
    )
    assert response.status_code == 403
