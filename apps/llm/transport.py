"""The HTTP transport of the gateway's clients: every connection goes to a checked address.

The `openai` SDK's HTTP stack resolves a host name when it connects. Checking the name
beforehand (`urlcheck.check_base_url`) leaves a window: the name can resolve to a public
address for the check and to 127.0.0.1 for the connection (DNS rebinding). Here the
network backend under the connection pool resolves the name itself, checks every address
(`urlcheck.resolve_for_connect`) and connects to one of those addresses; TLS still verifies
the certificate against the host name. A refused address fails like an unreachable server
(a connection error), with the reason in the server log only.

The SDK uses `httpx`/`httpcore` or, in its newer releases, their `httpx2`/`httpcore2`
forks (same API): the transport is built from whichever the installed SDK uses.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import TYPE_CHECKING

import openai

from apps.llm.urlcheck import UnsafeBaseURL, resolve_for_connect

logger = logging.getLogger(__name__)

# The SDK's own connection limits (openai._constants.DEFAULT_CONNECTION_LIMITS).
MAX_CONNECTIONS = 1000
MAX_KEEPALIVE_CONNECTIONS = 100
KEEPALIVE_EXPIRY = 5.0


def _http_modules():
    """(httpx-like module, httpcore-like module) the installed openai SDK is built on."""
    for cls in openai.DefaultHttpxClient.__mro__:
        package = cls.__module__.split(".", 1)[0]
        if cls.__name__ == "Client" and package.startswith("httpx"):
            core = "httpcore" + package.removeprefix("httpx")
            return importlib.import_module(package), importlib.import_module(core)
    raise RuntimeError("Cannot tell which HTTP library the openai SDK uses.")  # pragma: no cover


if TYPE_CHECKING:  # the checker reads the SDK's current choice
    import httpcore2 as httpcore_
    import httpx2 as httpx_
else:
    httpx_, httpcore_ = _http_modules()


def _refused(host: str, port: int, exc: UnsafeBaseURL):
    logger.warning("provider connection refused: %s", exc)
    return httpcore_.ConnectError(f"connection to {host}:{port} refused by the address policy")


class GuardedBackend(httpcore_.NetworkBackend):
    """A network backend that connects only to checked addresses (synchronous clients)."""

    def __init__(self, inner=None):
        self._inner = inner or httpcore_.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            addresses = resolve_for_connect(host, port)
        except UnsafeBaseURL as exc:
            raise _refused(host, port, exc) from None
        error = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore_.ConnectError, httpcore_.ConnectTimeout) as exc:
                error = exc
        raise error

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore_.ConnectError("unix sockets are not provider addresses")

    def sleep(self, seconds):
        self._inner.sleep(seconds)


class AsyncGuardedBackend(httpcore_.AsyncNetworkBackend):
    """`GuardedBackend` for asyncio clients; resolution runs off the event loop."""

    def __init__(self, inner=None):
        self._inner = inner or httpcore_.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            addresses = await asyncio.to_thread(resolve_for_connect, host, port)
        except UnsafeBaseURL as exc:
            raise _refused(host, port, exc) from None
        error = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore_.ConnectError, httpcore_.ConnectTimeout) as exc:
                error = exc
        raise error

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore_.ConnectError("unix sockets are not provider addresses")

    async def sleep(self, seconds):
        await self._inner.sleep(seconds)


def _pool_options() -> dict:
    return {
        # No proxy from the environment: a proxy would make the connection, and the
        # address policy could not see where to.
        "ssl_context": httpx_.create_ssl_context(trust_env=False),
        "max_connections": MAX_CONNECTIONS,
        "max_keepalive_connections": MAX_KEEPALIVE_CONNECTIONS,
        "keepalive_expiry": KEEPALIVE_EXPIRY,
    }


class GuardedTransport(httpx_.HTTPTransport):
    def __init__(self):
        super().__init__(trust_env=False)
        self._pool = httpcore_.ConnectionPool(network_backend=GuardedBackend(), **_pool_options())


class AsyncGuardedTransport(httpx_.AsyncHTTPTransport):
    def __init__(self):
        super().__init__(trust_env=False)
        self._pool = httpcore_.AsyncConnectionPool(
            network_backend=AsyncGuardedBackend(), **_pool_options()
        )


def http_client(*, asynchronous: bool = False):
    """An HTTP client for the openai SDK: checked addresses, no redirects followed (a
    redirect would lead the key elsewhere), no proxy taken from the environment."""
    if asynchronous:
        return openai.DefaultAsyncHttpxClient(
            transport=AsyncGuardedTransport(), follow_redirects=False, trust_env=False
        )
    return openai.DefaultHttpxClient(
        transport=GuardedTransport(), follow_redirects=False, trust_env=False
    )
