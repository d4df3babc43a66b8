"""A bare WSGI app for tests/core/test_request_body.py, served by a real gunicorn: POST
drops its body with apps.core.request_body.discard_body and answers 429 saying which way
it went; GET answers 200 with the body of the request it was sent with."""

from types import SimpleNamespace

from apps.core.request_body import discard_body


def app(environ, start_response):
    declared = int(environ.get("CONTENT_LENGTH") or 0)
    if environ["REQUEST_METHOD"] == "POST":
        request = SimpleNamespace(META=environ, read=environ["wsgi.input"].read)
        seconds = float(environ.get("QUERY_STRING", "").partition("seconds=")[2] or 10)
        way = discard_body(request, declared, seconds=seconds).encode()
        start_response("429 Too Many Requests", [("Content-Length", str(len(way)))])
        return [way]
    body = environ["wsgi.input"].read(declared) if declared else b"ok"
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
