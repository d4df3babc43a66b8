"""The llm demo: the demo-echo provider, and demo-echo available while the demo is seeded."""

import socket

from apps.llm.demo import answers_as_demo_echo, demo_echo_available, ensure_demo_provider


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_it_serves_demo_echo_in_process_while_nothing_answers():
    url = f"http://127.0.0.1:{_free_port()}/v1"
    assert not answers_as_demo_echo(url)
    with demo_echo_available(url) as live:
        assert live and answers_as_demo_echo(url)
    assert not answers_as_demo_echo(url)


def test_it_uses_the_demo_echo_already_running(demo_echo):
    with demo_echo_available(demo_echo) as live:
        assert live
    assert answers_as_demo_echo(demo_echo)  # not ours to stop


def test_it_reports_a_demo_echo_it_cannot_reach():
    with demo_echo_available(f"https://127.0.0.1:{_free_port()}/v1") as live:
        assert not live


def test_it_creates_the_demo_provider_once(acme, alice, settings):
    from apps.core.tenancy import team_scope
    from apps.llm.models import ProviderConfig

    settings.PROMPTYARD_DEMO_ECHO_URL = "http://127.0.0.1:8765/v1"
    first = ensure_demo_provider(team=acme, actor=alice)
    assert ensure_demo_provider(team=acme, actor=alice) == first
    with team_scope(acme):
        assert ProviderConfig.objects.filter(is_demo=True).count() == 1
    assert first.base_url == "http://127.0.0.1:8765/v1" and first.models == ["demo-echo"]
