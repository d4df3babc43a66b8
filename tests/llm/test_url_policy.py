"""Provider URLs reach public addresses only, unless the operator allows more; the address
checked is the address connected to; a team hears one answer whatever the failure."""

import http.server
import logging
import socket
import threading

import pytest

from apps.core.errors import ValidationFailed
from apps.core.tenancy import team_scope
from apps.llm import gateway, services, transport
from apps.llm.gateway import GatewayError
from apps.llm.model_settings import ModelSettings
from apps.llm.models import ProviderConfig
from apps.llm.urlcheck import UnsafeBaseURL, check_base_url
from tests.async_helper import run_async

pytestmark = pytest.mark.django_db

HI = [{"role": "user", "content": "hello"}]
ECHO = ModelSettings(model="demo-echo")
REAL_GETADDRINFO = socket.getaddrinfo

LOOPBACK_FORMS = [
    "http://127.0.0.1:8000/v1",
    "http://127.8.9.10/v1",
    "http://127.1/v1",  # short form
    "http://2130706433/v1",  # decimal
    "http://0x7f000001/v1",  # hex
    "http://0x7f.0.0.1/v1",
    "http://0177.0.0.1/v1",  # octal
    "http://[::1]:8000/v1",
    "http://[::ffff:127.0.0.1]/v1",  # IPv4-mapped IPv6
    "http://[::ffff:7f00:1]/v1",
    "http://[2002:7f00:1::1]/v1",  # 6to4 of 127.0.0.1
    "http://[64:ff9b::7f00:1]/v1",  # NAT64 of 127.0.0.1
    "http://localhost:8000/v1",
    "http://LOCALHOST./v1",
    "http://api.localhost/v1",
]
UNSPECIFIED = ["http://0.0.0.0:8000/v1", "http://0/v1", "http://[::]/v1"]
PRIVATE = [
    "http://10.0.0.1/v1",
    "http://10.255.255.254:8080/v1",
    "http://172.16.0.1/v1",
    "http://172.31.255.1/v1",
    "http://192.168.1.10/v1",
    "http://100.64.0.1/v1",  # shared address space (carrier-grade NAT)
    "http://[fc00::1]/v1",
    "http://[fd12:3456::1]/v1",
    "http://[::ffff:10.0.0.1]/v1",
]
LINK_LOCAL = ["http://169.254.1.1/v1", "http://[fe80::1]/v1", "http://169.254.169.254/v1"]
PUBLIC = ["http://8.8.8.8/v1", "https://[2606:4700:4700::1111]/v1", "http://172.32.0.1/v1"]


@pytest.fixture
def strict(settings):
    """The defaults of a deployment: no exception opened by the operator."""
    settings.PROMPTYARD_PROVIDER_URL_ALLOWLIST = []
    settings.PROMPTYARD_ALLOW_PRIVATE_PROVIDER_URLS = False
    gateway.clear_client_cache()
    yield settings
    gateway.clear_client_cache()


@pytest.fixture
def fake_dns(monkeypatch):
    """fake_dns({"name": "address" or [addresses]}): those names resolve as given (the rest
    as usual); returns the list of names looked up, in order."""
    lookups = []
    table = {}

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name in table:
            lookups.append(name)
            answers = table[name]
            answers = [answers] if isinstance(answers, str) else answers
            family = {True: socket.AF_INET6, False: socket.AF_INET}
            return [(family[":" in a], socket.SOCK_STREAM, 6, "", (a, port or 0)) for a in answers]
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def register(names):
        table.update(names)
        return lookups

    return register


def _create(team, actor, url, name="p"):
    with team_scope(team):
        return services.provider_create(team=team, actor=actor, name=name, base_url=url)


@pytest.mark.parametrize("url", LOOPBACK_FORMS + UNSPECIFIED + PRIVATE + LINK_LOCAL)
def test_it_refuses_special_addresses_by_default(acme, alice, strict, url):
    with pytest.raises(UnsafeBaseURL):
        check_base_url(url)
    with pytest.raises(ValidationFailed) as caught:
        _create(acme, alice, url)
    assert caught.value.field == "base_url"
    with team_scope(acme):
        assert not ProviderConfig.objects.exists()


@pytest.mark.parametrize("url", PUBLIC)
def test_it_accepts_public_addresses(acme, alice, strict, url):
    assert _create(acme, alice, url).base_url == url


def test_it_refuses_a_name_that_resolves_to_loopback(acme, alice, strict, fake_dns):
    fake_dns({"sneaky.example": ["93.184.216.34", "127.0.0.1"], "inside.example": "10.1.2.3"})
    for url in ("http://sneaky.example/v1", "http://inside.example:8080/v1"):
        with pytest.raises(ValidationFailed) as caught:
            _create(acme, alice, url)
        assert "operator" in caught.value.message


def test_it_names_the_kind_of_address_it_refused(acme, alice, strict):
    with pytest.raises(ValidationFailed) as caught:
        _create(acme, alice, "http://127.0.0.1:8000/v1")
    assert "loopback address (127.0.0.1)" in caught.value.message
    with pytest.raises(ValidationFailed) as caught:
        _create(acme, alice, "http://192.168.0.7/v1")
    assert "private address (192.168.0.7)" in caught.value.message


@pytest.mark.parametrize("url", LOOPBACK_FORMS + PRIVATE)
def test_it_allows_loopback_and_private_when_the_operator_says_so(strict, url):
    strict.PROMPTYARD_ALLOW_PRIVATE_PROVIDER_URLS = True
    assert check_base_url(url) == url


def test_it_saves_an_allowed_loopback_provider(acme, alice, strict):
    strict.PROMPTYARD_ALLOW_PRIVATE_PROVIDER_URLS = True
    for url in ("http://127.0.0.1:8000/v1", "http://localhost:11434/v1", "http://10.0.0.1/v1"):
        assert _create(acme, alice, url, name=url).base_url == url


@pytest.mark.parametrize("url", UNSPECIFIED + LINK_LOCAL)
def test_it_keeps_refusing_link_local_and_unspecified_with_private_allowed(
    acme, alice, strict, url
):
    strict.PROMPTYARD_ALLOW_PRIVATE_PROVIDER_URLS = True
    with pytest.raises(ValidationFailed):
        _create(acme, alice, url)


def test_it_allows_exactly_what_the_allowlist_lists(acme, alice, strict, fake_dns):
    fake_dns({"llm.internal": "10.9.8.7", "other.internal": "10.9.8.6"})
    strict.PROMPTYARD_PROVIDER_URL_ALLOWLIST = [
        "127.0.0.1:8765",
        "192.168.0.0/16",
        "[::1]:8080",
        "llm.internal",
        "169.254.1.0/24",
        "169.254.169.254",  # metadata stays refused whatever the list says
    ]
    for url in (
        "http://127.0.0.1:8765/v1",
        "http://192.168.44.1:9000/v1",
        "http://[::1]:8080/v1",
        "http://llm.internal:8000/v1",
        "http://169.254.1.9/v1",
    ):
        assert _create(acme, alice, url, name=url).base_url == url
    for url in (
        "http://127.0.0.1:8000/v1",  # the port is not the listed one
        "http://127.0.0.2:8765/v1",
        "http://10.0.0.1/v1",
        "http://[::1]:8000/v1",
        "http://other.internal/v1",
        "http://169.254.169.254/v1",
    ):
        with pytest.raises(ValidationFailed):
            _create(acme, alice, url, name=url)


# --- at connection time ---------------------------------------------------------------


def test_it_checks_the_address_it_connects_to(acme, alice, strict, demo_echo, fake_dns):
    """DNS rebinding: public when the URL is saved, loopback when the call is made."""
    port = int(demo_echo.rsplit(":", 1)[1].split("/")[0])
    lookups = fake_dns({"rebind.example": "93.184.216.34"})
    provider = _create(acme, alice, f"http://rebind.example:{port}/v1")
    fake_dns({"rebind.example": "127.0.0.1"})
    gateway._url_checked[provider.base_url] = float("inf")  # as if checked a moment ago
    with pytest.raises(GatewayError) as caught:
        gateway.complete(provider, settings=ECHO, messages=HI, max_retries=0)
    assert caught.value.kind == "connection"
    assert lookups[-1] == "rebind.example"


def test_it_connects_to_the_address_it_checked(acme, alice, strict, demo_echo, fake_dns):
    """The name never reaches the system resolver: the connection goes to the address the
    check resolved (an allowed one here), once per connection."""
    port = int(demo_echo.rsplit(":", 1)[1].split("/")[0])
    strict.PROMPTYARD_PROVIDER_URL_ALLOWLIST = [f"127.0.0.1:{port}"]
    lookups = fake_dns({"echo.invalid": "127.0.0.1"})
    provider = _create(acme, alice, f"http://echo.invalid:{port}/v1")
    lookups.clear()
    assert gateway.complete(provider, settings=ECHO, messages=HI).text == "echo: hello"
    assert gateway.complete(provider, settings=ECHO, messages=HI).text == "echo: hello"
    assert lookups == ["echo.invalid"]  # one connection, kept alive for the second call


def test_it_checks_asynchronous_connections_too(acme, alice, strict, demo_echo, fake_dns):
    port = int(demo_echo.rsplit(":", 1)[1].split("/")[0])
    strict.PROMPTYARD_PROVIDER_URL_ALLOWLIST = [f"127.0.0.1:{port}"]
    fake_dns({"echo.invalid": "127.0.0.1"})
    provider = _create(acme, alice, f"http://echo.invalid:{port}/v1")

    async def call():
        try:
            return await gateway.acomplete(provider, settings=ECHO, messages=HI, max_retries=0)
        finally:
            await gateway.aclose_loop_clients()

    assert run_async(call).text == "echo: hello"
    strict.PROMPTYARD_PROVIDER_URL_ALLOWLIST = []
    gateway._url_checked[provider.base_url] = float("inf")
    with pytest.raises(GatewayError) as caught:
        run_async(call)
    assert caught.value.kind == "connection"


def test_the_transport_refuses_before_any_byte_is_sent(strict, fake_dns):
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            received.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fake_dns({"internal.example": "127.0.0.1"})
        port = server.server_address[1]
        with transport.http_client() as client:
            with pytest.raises(transport.httpx_.ConnectError):
                client.get(f"http://internal.example:{port}/admin")
            with pytest.raises(transport.httpx_.ConnectError):
                client.get(f"http://[::ffff:127.0.0.1]:{port}/admin")
        assert received == []
    finally:
        server.shutdown()
        server.server_close()


# --- one answer to the team -----------------------------------------------------------


class _Answers(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": {"message": "no such route on the admin service"}}')

    def log_message(self, *args):
        pass


def _serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_it_gives_one_answer_whatever_the_failure(acme, alice, caplog, settings):
    not_found = _serve(_Answers)
    silent = socket.socket()  # accepts connections (the backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        urls = {
            "404": f"http://127.0.0.1:{not_found.server_address[1]}/v1",
            "timeout": f"http://127.0.0.1:{silent.getsockname()[1]}/v1",
            "refused": f"http://127.0.0.1:{closed_port}/v1",
        }
        providers = {why: _create(acme, alice, url, name=why) for why, url in urls.items()}
        with team_scope(acme):
            ProviderConfig.objects.filter(name="timeout").update(timeout_seconds=0.5)
            ProviderConfig.objects.filter(name="refused").update(max_retries=0)
            providers = {p.name: p for p in ProviderConfig.objects.all()}
        answers = {}
        with caplog.at_level(logging.WARNING, logger="apps.llm.services"):
            for why, provider in providers.items():
                with team_scope(acme):
                    answers[why] = services.provider_test_connection(
                        team=acme, actor=alice, provider=provider
                    )
        # The operator then closes loopback: the same provider, refused by the policy.
        with team_scope(acme):
            acme_refused = ProviderConfig.objects.get(name="404")
        settings.PROMPTYARD_PROVIDER_URL_ALLOWLIST = []
        gateway.clear_client_cache()
        with team_scope(acme):
            answers["policy"] = services.provider_test_connection(
                team=acme, actor=alice, provider=acme_refused
            )
    finally:
        not_found.shutdown()
        not_found.server_close()
        silent.close()
        gateway.clear_client_cache()
    messages = {(a["ok"], a["message"], a["kind"]) for a in answers.values()}
    assert messages == {(False, services.UNREACHABLE_MESSAGE, services.UNREACHABLE)}
    assert len(answers) == 4
    log = caplog.text
    assert "404" in log and "did not answer" in log and "Could not connect" in log


def test_refreshing_models_gives_the_same_answer(acme, alice):
    not_found = _serve(_Answers)
    try:
        provider = _create(acme, alice, f"http://127.0.0.1:{not_found.server_address[1]}/v1")
        with team_scope(acme), pytest.raises(ValidationFailed) as caught:
            services.provider_refresh_models(team=acme, actor=alice, provider=provider)
    finally:
        not_found.shutdown()
        not_found.server_close()
    assert caught.value.message == services.UNREACHABLE_MESSAGE
    assert "admin service" not in caught.value.message
