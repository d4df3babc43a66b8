"""The API's OpenAPI schema, loaded with schemathesis, and calls that are checked against it.

Fixtures (import them into a test module): `wsgi_app`, the app in process; `api_schema`,
/api/schema/ loaded from it. `call_checked(api_schema, method, path, ...)` sends one request
and fails the test if the answer is not what the schema documents (status code, content
type, headers, body)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from schemathesis.config import SchemathesisConfig

# What every answer is checked for. Negative data (parameters that break the schema) must
# also be refused: the fuzz test adds that check to its negative cases.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
)
CONFIG = {
    "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    # Credentials are the test's, not generated: a mutated Authorization header would be
    # replaced by the real one and then count as "negative data accepted".
    "generation": {"with-security-parameters": False},
}


@contextmanager
def _connection_kept_open():
    """As Django's test client does, requests leave the database connection open: closing it
    at the start or end of a request (PostgreSQL) would end the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def wsgi_app(db):
    """The app, called in this thread inside the test's transaction."""
    with _connection_kept_open():
        yield get_wsgi_application()


@pytest.fixture
def api_schema(wsgi_app):
    config = SchemathesisConfig.from_dict(CONFIG)
    return schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app, config=config)


def call_checked(api_schema, method: str, path: str, *, key: str, **parts):
    """Send one request (`path` as in the schema, with `path_parameters`, `query`, `body`)
    with an API key and check the answer against the schema; the answer."""
    case = api_schema[path][method.upper()].Case(
        headers={"Authorization": f"Bearer {key}"}, **parts
    )
    # Again per call: a request through Django's test client in the same test reconnects
    # the signals when it ends.
    with _connection_kept_open():
        return case.call_and_validate()
