"""Dropping a request body the view refuses, at the least CPU the web process can spend.

A refused request (over a quota) must still have its body read: a server that answers and
closes a connection with unread data makes the kernel reset it, and the client, still
sending, sees a connection error instead of its 429. Read through the WSGI stream, every
byte is copied several times in Python by the server's buffers (gunicorn's Unreader and
Body, then Django's LimitedStream), under the interpreter lock the other teams' requests
in the process wait on. Under gunicorn the body's remaining bytes are read straight from
the socket into one reused buffer instead, and gunicorn's reader is told none are left,
so the connection stays usable for the client's next request.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Any

CHUNK = 1024 * 1024
# A client trickling its refused body holds a request thread no longer than this (by
# default); the connection is then left to the server, which closes it.
DEADLINE_SECONDS = 10.0

TIMEVAL = struct.Struct("@ll")

_buffers = threading.local()


def discard_body(request, declared: int, *, seconds: float = DEADLINE_SECONDS) -> str:
    """Read and drop what is left of the request's body (at most `declared` bytes; from
    gunicorn's socket, for at most `seconds`). Returns which way it went: "socket"
    (straight from gunicorn's socket) or "stream"."""
    if _drain_gunicorn_socket(request.META, seconds):
        return "socket"
    left = declared
    while left > 0:
        chunk = request.read(min(left, CHUNK))
        if not chunk:
            break
        left -= len(chunk)
    return "stream"


def _drain_gunicorn_socket(environ, seconds: float) -> bool:
    """gunicorn's body of known length (Body over a LengthReader over a SocketUnreader):
    what its reader already holds is dropped, the rest read from the socket. False, having
    read nothing, when the body is anything else (runserver, chunked, another server)."""
    sock = environ.get("gunicorn.socket")
    body = environ.get("wsgi.input")
    reader: Any = getattr(body, "reader", None)
    unreader: Any = getattr(reader, "unreader", None)
    length = getattr(reader, "length", None)
    held_buffer = getattr(body, "buf", None)
    if (
        not isinstance(sock, socket.socket)
        or not isinstance(length, int)
        or not hasattr(unreader, "take_buffered")
        or not hasattr(unreader, "unread")
        or sock.gettimeout() is not None  # gunicorn reads the body blocking
        or held_buffer is None
        or held_buffer.tell()  # the application has read part of it already
    ):
        return False
    held = unreader.take_buffered()
    if len(held) > length:  # a pipelined next request: give it back
        unreader.unread(held[length:])
        held = held[:length]
    left = length - len(held)
    reader.length = left
    buffer = getattr(_buffers, "buffer", None)
    if buffer is None:
        buffer = _buffers.buffer = memoryview(bytearray(CHUNK))
    # One blocking receive per megabyte (MSG_WAITALL), bounded by a kernel receive timeout:
    # a body arriving in many small segments would otherwise cost a receive, and a wait for
    # the interpreter lock, per segment.
    previous = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, TIMEVAL.size)
    deadline = time.monotonic() + seconds
    timeout = TIMEVAL.pack(int(seconds), int(seconds % 1 * 1_000_000))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeout)
        while left > 0 and time.monotonic() < deadline:
            wanted = min(left, CHUNK)
            received = sock.recv_into(buffer[:wanted], wanted, socket.MSG_WAITALL)
            if not received:
                break
            left -= received
            reader.length = left
    except OSError:
        pass  # timed out or reset: gunicorn's reader knows what is left, and closes
    finally:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, previous)
        except OSError:
            pass
    return True
