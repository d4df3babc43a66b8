"""Security review: hostile OTLP bodies get a 4xx, never a 500, and store nothing."""

from __future__ import annotations

import gzip

import pytest

from apps.core.tenancy import team_scope
from apps.traces.models import Span
from tests.conftest import bearer

URL = "/v1/traces"


def _key(api_key_for, acme, alice):
    return bearer(api_key_for(acme, alice, scopes=["traces:write"]))


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [100_000, 900, 400])
def test_it_refuses_deeply_nested_json_with_a_400(client, acme, alice, api_key_for, depth):
    value = '{"arrayValue":{"values":[' * depth + "]}}" * depth
    body = '{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":' + value + "}]}}]}"
    response = client.post(
        URL, data=body, content_type="application/json", **_key(api_key_for, acme, alice)
    )
    assert response.status_code == 400, response.status_code
    with team_scope(acme):
        assert not Span.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_gzip_bomb_with_a_413(client, acme, alice, api_key_for, settings):
    settings.PROMPTYARD_TRACE_MAX_BYTES = 64 * 1024
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    assert len(bomb) < settings.PROMPTYARD_TRACE_MAX_BYTES
    response = client.post(
        URL,
        data=bomb,
        content_type="application/x-protobuf",
        HTTP_CONTENT_ENCODING="gzip",
        **_key(api_key_for, acme, alice),
    )
    assert response.status_code == 413
