"""A tiny scriptable HTTP server (stdlib) for the SDK's failure-mode tests: it answers
what the test tells it to (a prompt, 304, 500, 408, garbage, a slow answer) and can be
stopped mid-test so the next request meets a refused connection."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def prompt_body(name="greeting", version=1, template="Hello {{ name }}", tag="production"):
    return {
        "name": name,
        "version": version,
        "tag": tag,
        "kind": "text",
        "template": template,
        "messages": [],
        "variables": ["name"],
        "variables_schema": {},
        "model_settings": {"model": "demo-echo", "temperature": 0.2},
        "content_hash": f"hash-{version}",
    }


class StubServer:
    """`mode` decides the next answers: "ok", "500", "408", "404", "429", "garbage", "slow",
    "not-a-prompt". A "429" carries Retry-After when `retry_after` is set; `then_ok` answers
    the next requests "ok" after that many refusals."""

    def __init__(self):
        self.mode = "ok"
        self.body = prompt_body()
        self.etag = '"hash-1.production"'
        self.requests: list[dict] = []
        self.connections: set = set()
        self.slow_seconds = 3.0
        self.retry_after: str | None = None
        self.refusals_left: int | None = None
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                stub.connections.add(self.connection)

            def do_GET(self):
                stub.requests.append(
                    {"path": self.path, "if_none_match": self.headers.get("If-None-Match")}
                )
                mode = stub.mode
                if mode == "slow":
                    time.sleep(stub.slow_seconds)
                if mode == "429" and stub.refusals_left is not None:
                    stub.refusals_left -= 1
                    if stub.refusals_left < 0:
                        mode = "ok"
                if mode == "429":
                    headers = {"Retry-After": stub.retry_after} if stub.retry_after else {}
                    return self._send(429, b'{"detail": "slow down"}', headers=headers)
                if mode in ("500", "408", "404"):
                    return self._send(int(mode), b'{"detail": "boom"}')
                if mode == "garbage":
                    return self._send(200, b"<html>proxy error</html>", "text/html")
                if mode == "not-a-prompt":
                    return self._send(200, b'{"hello": "world"}')
                if self.headers.get("If-None-Match") == stub.etag:
                    return self._send(304, b"")
                body = stub.body
                if self.path.startswith("/api/v1/prompts/?"):
                    body = {"tag": "production", "prompts": [{**stub.body, "etag": stub.etag}]}
                return self._send(200, json.dumps(body).encode())

            def _send(self, status, body, content_type="application/json", headers=None):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                if status in (200, 304):
                    self.send_header("ETag", stub.etag)
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def set_version(self, version: int, template: str) -> None:
        self.body = prompt_body(version=version, template=template)
        self.etag = f'"hash-{version}.production"'

    def stop(self) -> None:
        """Stop listening and cut kept-alive connections: the next request is refused."""
        self._server.shutdown()
        self._server.server_close()
        for connection in list(self.connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            except OSError:
                pass
