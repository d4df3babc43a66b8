"""Providers: the key is encrypted at rest, URLs are checked, only admins manage them."""

import pytest
from django.db import connection

from apps.core.errors import PermissionRefused, ValidationFailed
from apps.core.tenancy import team_scope
from apps.llm import services
from apps.llm.models import ProviderConfig
from apps.teams.models import AuditEvent

pytestmark = pytest.mark.django_db

RAW_KEY = "sk-test-1234567890abcdefWXYZ"


def test_it_stores_the_key_encrypted(make_provider):
    provider = make_provider("http://127.0.0.1:8765/v1", api_key=RAW_KEY)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key_encrypted, key_last4 FROM llm_providerconfig WHERE id = %s",
            [provider.pk],
        )
        stored, last4 = cursor.fetchone()
    assert RAW_KEY not in stored and "1234567890" not in stored
    assert last4 == "WXYZ"
    fresh = ProviderConfig.objects.unscoped().get(pk=provider.pk)
    assert fresh.api_key == RAW_KEY
    assert fresh.masked_key == "••••WXYZ"


def test_it_keeps_the_key_out_of_the_audit_trail(make_provider):
    provider = make_provider("http://127.0.0.1:8765/v1", api_key=RAW_KEY)
    events = AuditEvent.objects.unscoped().filter(
        target_id=str(provider.pk), verb="provider.create"
    )
    assert events.count() == 1
    assert RAW_KEY not in str(events[0].after)


def test_it_clears_the_key_when_the_base_url_changes(acme, alice, make_provider):
    provider = make_provider("http://127.0.0.1:8765/v1", api_key=RAW_KEY)
    with team_scope(acme):
        services.provider_update(
            team=acme, actor=alice, provider=provider, base_url="http://127.0.0.1:9999/v1"
        )
        fresh = ProviderConfig.objects.get(pk=provider.pk)
    assert fresh.base_url == "http://127.0.0.1:9999/v1"
    assert fresh.api_key_encrypted == "" and fresh.key_last4 == "" and fresh.api_key == ""


def test_it_keeps_a_new_key_given_with_the_new_url(acme, alice, make_provider):
    provider = make_provider("http://127.0.0.1:8765/v1", api_key=RAW_KEY)
    with team_scope(acme):
        services.provider_update(
            team=acme,
            actor=alice,
            provider=provider,
            base_url="http://127.0.0.1:9999/v1",
            api_key="sk-new-key-0000",
        )
        fresh = ProviderConfig.objects.get(pk=provider.pk)
    assert fresh.api_key == "sk-new-key-0000"


def test_it_clears_the_key_even_when_the_model_is_saved_directly(acme, make_provider):
    provider = make_provider("http://127.0.0.1:8765/v1", api_key=RAW_KEY)
    with team_scope(acme):
        fresh = ProviderConfig.objects.get(pk=provider.pk)
        fresh.base_url = "http://127.0.0.1:9999/v1"
        fresh.save(update_fields=["base_url"])
        assert ProviderConfig.objects.get(pk=provider.pk).api_key == ""


def test_it_keeps_the_key_when_the_url_stays(acme, alice, make_provider):
    provider = make_provider("http://127.0.0.1:8765/v1", api_key=RAW_KEY)
    with team_scope(acme):
        services.provider_update(
            team=acme, actor=alice, provider=provider, name="renamed", base_url=provider.base_url
        )
        assert ProviderConfig.objects.get(pk=provider.pk).api_key == RAW_KEY


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.10.1/v1",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://METADATA.GOOGLE.INTERNAL./v1",
        "http://[fe80::1]/v1",
        "http://[fd00:ec2::254]/v1",
        "http://[::ffff:169.254.169.254]/v1",
        "http://100.100.100.200/v1",
        "file:///etc/passwd",
        "ftp://example.com/v1",
        "http://user:sk-secret@example.com/v1",
    ],
)
def test_it_refuses_unsafe_base_urls(acme, alice, url):
    with team_scope(acme), pytest.raises(ValidationFailed) as caught:
        services.provider_create(team=acme, actor=alice, name="bad", base_url=url)
    assert caught.value.field == "base_url"
    with team_scope(acme):
        assert not ProviderConfig.objects.exists()


def test_it_refuses_a_host_name_resolving_to_link_local(acme, alice, monkeypatch):
    import socket

    def fake_getaddrinfo(host, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with team_scope(acme), pytest.raises(ValidationFailed):
        services.provider_create(
            team=acme, actor=alice, name="sneaky", base_url="http://rebind.example/v1"
        )


def test_it_refuses_moving_an_existing_provider_to_metadata(acme, alice, make_provider):
    provider = make_provider("http://127.0.0.1:8765/v1", api_key=RAW_KEY)
    with team_scope(acme), pytest.raises(ValidationFailed):
        services.provider_update(
            team=acme, actor=alice, provider=provider, base_url="http://169.254.169.254/"
        )
    with team_scope(acme):
        assert ProviderConfig.objects.get(pk=provider.pk).api_key == RAW_KEY


def test_it_defaults_the_openai_url(acme, alice):
    with team_scope(acme):
        provider = services.provider_create(
            team=acme, actor=alice, name="OpenAI", kind="openai", api_key="sk-x"
        )
    assert provider.base_url == "https://api.openai.com/v1"


def test_it_validates_prices_and_names(acme, alice, make_provider):
    make_provider("http://127.0.0.1:8765/v1", name="one")
    with team_scope(acme):
        with pytest.raises(ValidationFailed) as caught:
            services.provider_create(
                team=acme, actor=alice, name="one", base_url="http://127.0.0.1:1/v1"
            )
        assert caught.value.field == "name"
        with pytest.raises(ValidationFailed):
            services.provider_create(
                team=acme,
                actor=alice,
                name="two",
                base_url="http://127.0.0.1:1/v1",
                prices={"m": {"input": -1}},
            )


@pytest.mark.parametrize("who", ["bob", "carol", "erin"])
def test_it_lets_only_admins_manage_providers(request, acme, make_provider, who):
    user = request.getfixturevalue(who)
    provider = make_provider("http://127.0.0.1:8765/v1")
    with team_scope(acme):
        with pytest.raises(PermissionRefused):
            services.provider_create(team=acme, actor=user, name="x", base_url="http://127.0.0.1:1")
        with pytest.raises(PermissionRefused):
            services.provider_update(team=acme, actor=user, provider=provider, name="y")
        with pytest.raises(PermissionRefused):
            services.provider_test_connection(team=acme, actor=user, provider=provider)
        with pytest.raises(PermissionRefused):
            services.provider_delete(team=acme, actor=user, provider=provider)


def test_it_needs_the_admin_scope_for_api_keys(acme, alice):
    from apps.teams.services import api_key_create

    with team_scope(acme):
        key, _ = api_key_create(
            team=acme, actor=alice, name="k", scopes=["prompts:write", "experiments:write"]
        )
        with pytest.raises(PermissionRefused):
            services.provider_create(team=acme, actor=key, name="x", base_url="http://127.0.0.1:1")
        admin_key, _ = api_key_create(team=acme, actor=alice, name="a", scopes=["admin"])
        services.provider_create(
            team=acme, actor=admin_key, name="x", base_url="http://127.0.0.1:1"
        )


def test_it_tests_the_connection_and_refreshes_models(acme, alice, demo_echo, make_provider):
    provider = make_provider(demo_echo, models=[])
    with team_scope(acme):
        result = services.provider_test_connection(team=acme, actor=alice, provider=provider)
        assert result["ok"] and result["models"] == ["demo-echo"]
        provider = services.provider_refresh_models(team=acme, actor=alice, provider=provider)
    assert provider.models == ["demo-echo"]


def test_it_reports_a_failed_connection_plainly(acme, alice, make_provider):
    provider = make_provider("http://127.0.0.1:9/v1")
    with team_scope(acme):
        result = services.provider_test_connection(team=acme, actor=alice, provider=provider)
    assert not result["ok"]
    assert result["kind"] == services.UNREACHABLE
    assert result["message"] == services.UNREACHABLE_MESSAGE
