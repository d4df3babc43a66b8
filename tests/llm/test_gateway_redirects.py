"""A provider that answers with a redirect never leads the gateway somewhere else: the
URL rules are checked on the provider's base URL, so a followed redirect would bypass them."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.llm import gateway
from apps.llm.gateway import GatewayError
from apps.llm.model_settings import ModelSettings


def _serve(handler_cls):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_it_does_not_follow_a_providers_redirect(make_provider):
    hits = []

    class Target(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's name
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    target = _serve(Target)

    class Redirector(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's name
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{target.server_port}/steal")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    redirector = _serve(Redirector)
    try:
        provider = make_provider(f"http://127.0.0.1:{redirector.server_port}/v1")
        with pytest.raises(GatewayError):
            gateway.complete(
                provider,
                settings=ModelSettings(model="m"),
                messages=[{"role": "user", "content": "hi"}],
            )
        assert hits == []
    finally:
        gateway.clear_client_cache()
        redirector.shutdown()
        target.shutdown()
