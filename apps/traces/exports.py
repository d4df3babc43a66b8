"""Big OTLP exports, taken in two steps: the web process accepts (counts the spans for the
quota, stores the body, answers 200) and a task worker writes (decodes, checks and stores
the spans, deleting the export in the same transaction).

Decoding and writing a 3,000-span batch is ~0.1-0.2 s of CPU in Python; in the web
process that time holds the interpreter lock every other request of the process waits on,
whichever team sent it. Workers run niced (PROMPTYARD_WORKER_NICE), so a team's big
exports wait for spare CPU instead of taking it from requests. Exports under
PROMPTYARD_TRACE_DEFER_BYTES (the OpenTelemetry SDK's 512-span batches are) are written
at once, readable as soon as the answer arrives. What a deferred export's spans cannot be
(a malformed body, rejected spans) is said in the team's audit log, since its answer has
already gone.
"""

from __future__ import annotations

import logging

import psycopg
from django.db import connection, transaction
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from apps.core.distinct import column_of
from apps.core.tenancy import team_scope
from apps.teams.actors import Actor
from apps.teams.audit import actor_label, audit_record
from apps.teams.models import PERM_EDIT, ApiKeyScope, Team
from apps.teams.permissions import require
from apps.traces import otlp, otlp_json
from apps.traces.models import TraceExport
from apps.traces.services import spans_record

logger = logging.getLogger(__name__)


def span_count(body: bytes, content_type: str) -> int:
    """The spans in an export, for the quota, without decoding them: protobuf is parsed in
    C (~1 ms for 3,000 spans); in JSON every span (and link) names a span id once, so
    counting the key is an upper bound (a string value's quotes are escaped)."""
    if otlp.media_type(content_type) == otlp.JSON:
        return body.count(b'"spanId"') + body.count(b'"span_id"')
    message = otlp.parse_request(body, content_type)  # MalformedBody: a 400, as inline
    return sum(
        len(scope_spans.spans)
        for resource_spans in message.resource_spans
        for scope_spans in resource_spans.scope_spans
    )


def trace_export_accept(
    *, team: Team, actor: Actor, body: bytes, content_type: str, spans: int
) -> TraceExport:
    """Keep the export for a worker (enqueued once this commits)."""
    from apps.traces.tasks import trace_export_write  # reason: tasks import this module

    require(actor, PERM_EDIT, team, scope=ApiKeyScope.TRACES_WRITE)
    export = TraceExport(
        team=team,
        body=body,
        content_type=content_type[:100],
        spans=spans,
        api_key_label=actor_label(actor)[:200],
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _insert_binary(export)
        else:
            export.save()
        transaction.on_commit(lambda: trace_export_write.enqueue(export.pk))
    return export


def _insert_binary(export: TraceExport) -> None:
    """INSERT the export with its body as a binary parameter. Django's PostgreSQL cursors
    bind on the client: a megabyte body would be escaped to two megabytes of hex in the
    web process (holding the interpreter lock) and parsed back by the server."""
    fields = [f for f in TraceExport._meta.concrete_fields if not f.primary_key]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(column_of(TraceExport, f.name)) for f in fields)
    marks = ", ".join("%b" if f.name == "body" else "%s" for f in fields)
    values = [
        export.body
        if f.name == "body"
        else f.get_db_prep_save(f.pre_save(export, True), connection)
        for f in fields
    ]
    connection.ensure_connection()
    # A server-side-binding cursor on Django's own connection: the same transaction.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"INSERT INTO {qn(TraceExport._meta.db_table)} ({columns}) VALUES ({marks}) "
            f"RETURNING {qn(column_of(TraceExport, 'id'))}",
            values,
        )
        row = cursor.fetchone()
    assert row is not None, "INSERT … RETURNING returns the new row"
    export.pk = row[0]


def _decoded(export: TraceExport) -> otlp.Decoded:
    body = bytes(export.body)
    if otlp.media_type(export.content_type) == otlp.JSON:
        return otlp_json.decode_json(body)
    message = ExportTraceServiceRequest()
    message.ParseFromString(body)  # parsed once already, when accepted
    return otlp.decode_spans(message)


def trace_export_write(*, export_id: int) -> int:
    """Decode and store a kept export; returns the spans stored (0 when it is gone: done by
    another worker already). A database error leaves the export for the task's retry."""
    # reason: the worker runs outside any team; the export names its team.
    export = TraceExport.objects.unscoped().select_related("team").filter(pk=export_id).first()
    if export is None:
        return 0
    team = export.team
    with team_scope(team):
        try:
            decoded = _decoded(export)
        except otlp.MalformedBody as exc:
            _said(team, export, "traces.export_malformed", {"error": str(exc)[:500]})
            TraceExport.objects.filter(pk=export.pk).delete()
            return 0
        with transaction.atomic():
            # Locked and deleted with the write: two workers never store it twice.
            locked = TraceExport.objects.select_for_update(skip_locked=True).filter(pk=export.pk)
            if not locked.exists():
                return 0
            stored = spans_record(team=team, spans=decoded.spans)
            locked.delete()
        if decoded.rejected:
            _said(
                team,
                export,
                "traces.export_rejected",
                {"rejected": decoded.rejected, "reasons": decoded.reasons[:5]},
            )
        return stored


def _said(team: Team, export: TraceExport, verb: str, after: dict) -> None:
    logger.warning("trace export %s of team %s: %s %s", export.pk, team.slug, verb, after)
    audit_record(
        team=team,
        actor=None,
        verb=verb,
        target_type="traces.traceexport",
        after={"export": export.pk, "sent_by": export.api_key_label, **after},
    )
