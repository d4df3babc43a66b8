"""A refused body is dropped straight from gunicorn's socket, and the connection it came on
stays usable: the client reads its answer, not a reset, and its next request is served."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from apps.core.request_body import discard_body

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gunicorn_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "tests.core.discard_wsgi:app",
            "--worker-class",
            "gthread",
            "--threads",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_it_drops_a_large_refused_body_from_the_socket_and_keeps_the_connection(gunicorn_port):
    connection = http.client.HTTPConnection("127.0.0.1", gunicorn_port, timeout=10)
    for size in (3 * 1024 * 1024 + 17, 100, 2 * 1024 * 1024):
        connection.request("POST", "/", body=b"x" * size)
        response = connection.getresponse()
        assert (response.status, response.read()) == (429, b"socket")
        connection.request("GET", "/", body=b"next")
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"next")
    connection.close()


def test_it_leaves_a_pipelined_request_behind_the_refused_body_intact(gunicorn_port):
    post = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    get = b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nnext"
    with socket.create_connection(("127.0.0.1", gunicorn_port), timeout=10) as s:
        s.sendall(post + get)
        answers = b""
        while answers.count(b"HTTP/1.1") < 2 or not answers.endswith(b"next"):
            chunk = s.recv(65536)
            assert chunk, answers
            answers += chunk
    assert answers.startswith(b"HTTP/1.1 429")
    assert b"\r\n\r\nsocket" in answers
    assert b"HTTP/1.1 200" in answers


def test_it_waits_for_a_body_sent_in_pieces(gunicorn_port):
    with socket.create_connection(("127.0.0.1", gunicorn_port), timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n" + b"a" * 1000)
        for _ in range(3):
            time.sleep(0.05)
            s.sendall(b"b" * 99_000)
        s.sendall(b"c" * 2000 + b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
        answers = b""
        while not answers.endswith(b"\r\n\r\nok"):
            chunk = s.recv(65536)
            assert chunk, answers
            answers += chunk
    assert answers.startswith(b"HTTP/1.1 429") and b"socket" in answers


def test_it_stops_reading_a_trickled_body_at_its_deadline(gunicorn_port):
    with socket.create_connection(("127.0.0.1", gunicorn_port), timeout=10) as s:
        started = time.monotonic()
        s.sendall(b"POST /?seconds=0.3 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        s.sendall(b"a" * 1000)
        answer = s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 429")
        assert 0.25 < time.monotonic() - started < 3
        while s.recv(65536):  # the server closes the connection it could not finish
            pass


def test_it_reads_through_the_stream_elsewhere():
    body = SimpleNamespace(data=b"y" * 5_000_000, at=0)

    def read(size):
        chunk = body.data[body.at : body.at + size]
        body.at += len(chunk)
        return chunk

    request = SimpleNamespace(META={"wsgi.input": object()}, read=read)
    assert discard_body(request, len(body.data)) == "stream"
    assert body.at == len(body.data)
