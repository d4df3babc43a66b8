"""POST /v1/traces: OTLP/HTTP trace export (protobuf or JSON, optionally gzip).

A plain Django view (exporters speak OTLP, not DRF): the Bearer key gives the team,
and the answer is an ExportTraceServiceResponse, or a google.rpc.Status on failure.
Past the team's quotas (apps.traces.quotas) the answer is 429 with Retry-After, which
OpenTelemetry exporters honour, and nothing of the batch is stored.
"""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions

from apps.core.errors import PermissionRefused
from apps.core.request_body import discard_body
from apps.core.tenancy import team_scope
from apps.teams.authentication import RememberedApiKeyAuthentication
from apps.teams.models import ApiKeyScope
from apps.traces import exports, otlp, otlp_json, quotas
from apps.traces.services import IngestBusy, spans_ingest

# How long a request refused for its team's share of exports in progress may spend
# reading its body: past it, the connection is closed instead.
REFUSED_READ_SECONDS = 1.0

# google.rpc.Code values
INVALID_ARGUMENT = 3
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
UNAVAILABLE = 14
UNAUTHENTICATED = 16


def _failure(request, status: int, code: int, message: str, **headers) -> HttpResponse:
    body, content_type = otlp.encode_status(request.content_type or "", code=code, message=message)
    response = HttpResponse(body, status=status, content_type=content_type)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    if status == 429:
        # Not logged (apps.core.logs says why), and under a flood not even built as a log
        # record: Django's request handler skips a response marked as logged already.
        response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _authenticate(request):
    """The request's active API key, or an error response.

    The key is remembered per process for a few seconds, as on the serving path: every
    export, refused ones too, would otherwise pay the key's query (and its ORM work,
    which holds the interpreter lock other teams' requests wait on). A revoked key is
    refused at once in the revoking process, within PROMPTYARD_API_KEY_CACHE_SECONDS
    in the others."""
    try:
        result = RememberedApiKeyAuthentication().authenticate(request)
    except exceptions.Throttled as exc:  # too many failed keys from this address
        message = exc.detail["detail"] if isinstance(exc.detail, dict) else str(exc.detail)
        return None, _failure(
            request, 429, RESOURCE_EXHAUSTED, str(message), Retry_After=str(exc.wait or 1)
        )
    except exceptions.AuthenticationFailed as exc:
        return None, _failure(
            request, 401, UNAUTHENTICATED, str(exc.detail), WWW_Authenticate="Bearer"
        )
    if result is None:
        return None, _failure(
            request,
            401,
            UNAUTHENTICATED,
            "Send an API key with the traces:write scope: Authorization: Bearer pyd_…",
            WWW_Authenticate="Bearer",
        )
    key = result[1]
    if not key.has_scope(ApiKeyScope.TRACES_WRITE):
        return None, _failure(
            request, 403, PERMISSION_DENIED, "This API key lacks the 'traces:write' scope."
        )
    return key, None


def _refused(request, refusal: quotas.Refusal) -> HttpResponse:
    """Over the team's quota (429, Retry-After) or larger than its burst (413)."""
    if refusal.retry_after is None:
        return _failure(request, refusal.status, RESOURCE_EXHAUSTED, refusal.message)
    return _failure(
        request,
        refusal.status,
        RESOURCE_EXHAUSTED,
        refusal.message,
        Retry_After=str(refusal.retry_after),
    )


@csrf_exempt
def otlp_traces(request):
    if request.method != "POST":
        response = _failure(request, 405, INVALID_ARGUMENT, "Send traces with POST.")
        response["Allow"] = "POST"
        return response
    key, error = _authenticate(request)
    if error is not None:
        return error
    limit = settings.PROMPTYARD_TRACE_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return _failure(
            request,
            413,
            RESOURCE_EXHAUSTED,
            f"The body exceeds {limit} bytes; send smaller batches.",
        )
    team = key.team
    wire = quotas.Wire(
        declared_bytes=declared,
        compressed=bool(request.headers.get("Content-Encoding", "").strip()),
    )
    refused = quotas.quota_precheck(team=team, wire=wire)
    # Reading, parsing and writing a batch all count against the team's share of this
    # process's request threads: a flood holds a few, never all of them.
    with quotas.team_ingest_slot(team) as admitted:
        if not admitted:
            # Read briefly, outside the team's share: a body still unread when the answer
            # goes makes the server reset the connection, an error instead of a 429.
            discard_body(request, declared, seconds=REFUSED_READ_SECONDS)
            return _failure(
                request,
                429,
                RESOURCE_EXHAUSTED,
                f"Team {team.slug!r} already has its share of trace exports in progress; "
                "nothing of this batch was stored. Retry in 1 s.",
                Retry_After="1",
            )
        if refused is not None:
            discard_body(request, declared)
            return _refused(request, refused)
        return _ingest(request, key, team, limit, wire)


def _defer(request, key, team, body: bytes, content_type: str, wire: quotas.Wire) -> HttpResponse:
    """A big export: counted and charged now, decoded and written by a worker."""
    spans = exports.span_count(body, content_type)  # MalformedBody (protobuf): the caller's 400
    charge = quotas.quota_charge(team=team, spans=spans, size=len(body), wire=wire)
    if isinstance(charge, quotas.Refusal):
        return _refused(request, charge)
    try:
        with team_scope(team):
            exports.trace_export_accept(
                team=team, actor=key, body=body, content_type=content_type, spans=spans
            )
    except PermissionRefused as exc:
        charge.refund()
        return _failure(request, 403, PERMISSION_DENIED, exc.message)
    except DatabaseError:
        charge.refund()
        return _failure(
            request, 503, UNAVAILABLE, "The trace store could not take the export.", Retry_After="1"
        )
    media = otlp.JSON if otlp.media_type(content_type) == otlp.JSON else otlp.PROTOBUF
    return HttpResponse(otlp.encode_response(content_type), status=200, content_type=media)


def _ingest(request, key, team, limit: int, wire: quotas.Wire) -> HttpResponse:
    content_type = request.content_type or ""
    try:
        body = request.read(limit + 1)
        if len(body) > limit:
            raise otlp.BodyTooLarge(f"The body exceeds {limit} bytes; send smaller batches.")
        body = otlp.decompress(body, request.headers.get("Content-Encoding", ""), limit=limit)
        defer = settings.PROMPTYARD_TRACE_DEFER_BYTES
        if defer and len(body) >= defer:
            return _defer(request, key, team, body, content_type, wire)
        if otlp.media_type(content_type) == otlp.JSON:
            decoded = otlp_json.decode_json(body)
        else:
            decoded = otlp.decode_spans(otlp.parse_request(body, content_type))
    except otlp.BodyTooLarge as exc:
        return _failure(request, 413, RESOURCE_EXHAUSTED, str(exc))
    except otlp.UnsupportedEncoding as exc:
        return _failure(request, 415, INVALID_ARGUMENT, str(exc))
    except otlp.MalformedBody as exc:
        return _failure(request, 400, INVALID_ARGUMENT, str(exc))

    charge = quotas.quota_charge(
        team=team, spans=len(decoded.spans) + decoded.rejected, size=len(body), wire=wire
    )
    if isinstance(charge, quotas.Refusal):
        return _refused(request, charge)
    try:
        with team_scope(team):
            spans_ingest(team=team, actor=key, spans=decoded.spans)
    except IngestBusy as exc:
        # Nothing of this request was stored: the exporter retries it after Retry-After.
        charge.refund()
        return _failure(request, 503, UNAVAILABLE, exc.message, Retry_After=str(exc.retry_after))
    except PermissionRefused as exc:
        charge.refund()
        return _failure(request, 403, PERMISSION_DENIED, exc.message)

    error_message = ""
    if decoded.rejected:
        shown = "; ".join(decoded.reasons[:5])
        more = decoded.rejected - min(len(decoded.reasons), 5)
        error_message = shown + (f"; and {more} more" if more > 0 else "")
    body = otlp.encode_response(
        content_type, rejected=decoded.rejected, error_message=error_message
    )
    media = otlp.JSON if otlp.media_type(content_type) == otlp.JSON else otlp.PROTOBUF
    return HttpResponse(body, status=200, content_type=media)
