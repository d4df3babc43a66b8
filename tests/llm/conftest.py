import pytest


@pytest.fixture
def make_provider(acme, alice):
    """make_provider(base_url, **fields) -> a ProviderConfig of acme made through the service."""
    from apps.core.tenancy import team_scope
    from apps.llm.services import provider_create

    def make(base_url, name="demo", **fields):
        fields.setdefault("models", ["demo-echo"])
        fields.setdefault("prices", {"demo-echo": {"input": 1.0, "output": 2.0}})
        with team_scope(acme):
            return provider_create(team=acme, actor=alice, name=name, base_url=base_url, **fields)

    return make


@pytest.fixture
def no_sleep(monkeypatch):
    """Record the gateway's backoff waits instead of sleeping them."""
    from apps.llm import gateway

    waits = []
    monkeypatch.setattr(gateway, "_sleep", waits.append)

    async def asleep(seconds):
        waits.append(seconds)

    monkeypatch.setattr(gateway, "_asleep", asleep)
    return waits
