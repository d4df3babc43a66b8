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
def test_it_refuses_deeply_nested_json_with_a_400(
    client, acme, alice, api_key_for, depth, settings
):
    settings.PROMPTYARD_TRACE_DEFER_BYTES = 0  # decoded before the answer (see below)
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


@pytest.mark.django_db(transaction=True)
def test_a_deeply_nested_big_export_is_refused_by_the_worker_in_the_audit_log(
    client, acme, alice, api_key_for, settings
):
    """Past PROMPTYARD_TRACE_DEFER_BYTES the answer (200) comes before decoding: the
    worker refuses the body and says so in the team's audit log; nothing is stored."""
    from apps.teams.models import AuditEvent
    from apps.traces import exports
    from apps.traces.models import TraceExport

    settings.PROMPTYARD_TRACE_DEFER_BYTES = 1000
    depth = 100_000
    value = '{"arrayValue":{"values":[' * depth + "]}}" * depth
    body = '{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":' + value + "}]}}]}"
    response = client.post(
        URL, data=body, content_type="application/json", **_key(api_key_for, acme, alice)
    )
    assert response.status_code == 200
    with team_scope(acme):
        export = TraceExport.objects.get()
    assert exports.trace_export_write(export_id=export.pk) == 0
    event = AuditEvent.objects.unscoped().get(team=acme, verb="traces.export_malformed")
    assert "nested too deeply" in event.after["error"]
    with team_scope(acme):
        assert not Span.objects.exists() and not TraceExport.objects.exists()
