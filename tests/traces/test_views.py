"""The trace explorer pages."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC

import pytest

from apps.core.tenancy import team_scope
from apps.traces.models import Trace
from tests.traces.helpers import hex_id, ingest, raw_span

pytestmark = pytest.mark.django_db


def _agent_trace(
    team, actor, n, *, model="gpt-test", prompt=None, status="ok", text=None, base_ns=None
):
    trace_id = hex_id(n, 16)
    root = hex_id(n * 10 + 1, 8)
    attrs = {"gen_ai.request.model": model, "gen_ai.usage.input_tokens": 10}
    if prompt:
        attrs.update({"promptyard.prompt.name": prompt[0], "promptyard.prompt.version": prompt[1]})
    ingest(
        team,
        actor,
        [
            raw_span(
                trace_id,
                root,
                name=f"run-{n}",
                duration_ms=100,
                attrs={
                    "input.value": text or f"question {n}",
                    "output.value": f"answer {n}",
                    "promptyard.function.name": "bot.answer",
                    "promptyard.function.version": "abc123",
                },
                status=status,
                base_ns=base_ns,
            ),
            raw_span(
                trace_id,
                hex_id(n * 10 + 2, 8),
                parent=root,
                name="chat",
                start_ms=10,
                duration_ms=50,
                attrs=attrs,
                base_ns=base_ns,
            ),
        ],
    )
    return trace_id


def _list(client, **params):
    return client.get("/t/acme/traces/", params)


def test_it_lists_and_filters_traces(client, acme, alice):
    _agent_trace(acme, alice, 1, model="gpt-a", prompt=("support", 2))
    _agent_trace(acme, alice, 2, model="gpt-b", status="error", text="refund please")
    client.force_login(alice)

    def names(**params):
        return {t.name for t in _list(client, **params).context["page"].rows}

    assert names() == {"run-1", "run-2"}
    assert names(model="gpt-b") == {"run-2"}
    assert names(status="ok") == {"run-1"}
    assert names(status="error") == {"run-2"}
    assert names(prompt="support", version="2") == {"run-1"}
    assert names(prompt="support", version="3") == set()
    assert names(q="refund") == {"run-2"}
    assert names(q="answer 1") == {"run-1"}
    assert names(function="bot.answer", function_version="abc123") == {"run-1", "run-2"}
    assert names(name="run-2") == {"run-2"}
    assert names(range="1h") == {"run-1", "run-2"}
    assert names(start="2000-01-01T00:00", end="2000-01-02T00:00") == set()


def _link(response, rel: str) -> str:
    import re

    match = re.search(rf'rel="{rel}" href="([^"]*)"', response.content.decode())
    assert match, f"no {rel} link"
    return match.group(1).replace("&amp;", "&")


def test_it_pages_with_a_keyset_and_no_full_count(
    client, acme, alice, django_assert_max_num_queries
):
    base = time.time_ns() - 3_600_000_000_000
    for n in range(1, 56):
        _agent_trace(acme, alice, n, base_ns=base + n * 1_000_000_000)
    client.force_login(alice)
    with django_assert_max_num_queries(20) as captured:
        first = _list(client)
    trace_queries = [
        q["sql"].upper() for q in captured.captured_queries if "TRACES_" in q["sql"].upper()
    ]
    # A count is the planner's estimate, or capped (counted up to 1,000 where PostgreSQL
    # expects fewer, 10,000 on SQLite): never a read of all the rows.
    counts = [q for q in trace_queries if "COUNT(" in q]
    assert trace_queries and all(re.search(r"LIMIT 10?001\b", q) for q in counts)
    assert not any("OFFSET" in q for q in trace_queries)
    first_names = [t.name for t in first.context["page"].rows]
    assert first_names[0] == "run-55" and first_names[-1] == "run-6" and len(first_names) == 50
    next_url = first.context["next_url"]
    assert next_url
    second = client.get("/t/acme/traces/" + next_url)
    assert [t.name for t in second.context["page"].rows] == [f"run-{n}" for n in range(5, 0, -1)]
    assert not second.context["next_url"]
    # The links the page shows: newer (previous) from the oldest page is the newest one.
    newer = client.get("/t/acme/traces/" + _link(second, "prev"))
    assert [t.name for t in newer.context["page"].rows] == first_names
    oldest = client.get("/t/acme/traces/" + _link(first, "last"))
    assert [t.name for t in oldest.context["page"].rows][-1] == "run-1"
    # Links written before keyset pages had previous links (page=<cursor>) still work.
    legacy = client.get("/t/acme/traces/", {"page": first.context["page"].next_cursor})
    assert [t.name for t in legacy.context["page"].rows][0] == "run-5"


def test_it_keeps_the_filters_across_pages_and_serves_the_fragment(client, acme, alice):
    base = time.time_ns() - 3_600_000_000_000
    for n in range(1, 111):
        _agent_trace(
            acme, alice, n, model="gpt-a" if n % 2 else "gpt-b", base_ns=base + n * 1_000_000_000
        )
    client.force_login(alice)
    first = _list(client, model="gpt-a")
    odd = [f"run-{n}" for n in range(109, 0, -2)]
    assert [t.name for t in first.context["page"].rows] == odd[:50]
    assert "model=gpt-a" in _link(first, "next") and "after=" in _link(first, "next")
    middle = client.get(
        "/t/acme/traces/" + _link(first, "next"),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="trace-results",
    )
    assert b"<html" not in middle.content and b'id="trace-results"' in middle.content
    assert [t.name for t in middle.context["page"].rows] == odd[50:55]
    assert "model=gpt-a" in _link(middle, "prev") and "model=gpt-a" in _link(middle, "first")


def test_it_hides_traces_from_outsiders(client, acme, alice, globex, dave):
    trace_id = _agent_trace(acme, alice, 1)
    client.force_login(dave)
    assert client.get("/t/acme/traces/").status_code == 404
    assert client.get(f"/t/globex/traces/{trace_id}/").status_code == 404
    assert not client.get("/t/globex/traces/").context["page"].rows


def test_it_shows_the_span_tree_with_escaped_io_and_the_prompt_link(client, acme, alice):
    from apps.prompts import services as prompt_services

    with team_scope(acme):
        prompt = prompt_services.prompt_create(team=acme, actor=alice, name="support")
        version = prompt_services.version_create(
            team=acme, actor=alice, prompt=prompt, kind="text", template="x", commit_message="1"
        )
    trace_id = _agent_trace(
        acme, alice, 7, prompt=("support", version.number), text="<script>alert(1)</script>"
    )
    client.force_login(alice)
    response = client.get(f"/t/acme/traces/{trace_id}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'class="span-bar' in html and "width:" in html
    assert f"/t/acme/prompts/support/v/{version.number}/" in html
    assert "<details" in html  # the root has a child: expandable


def test_it_serves_a_span_detail_fragment_and_a_page_link(client, acme, alice):
    trace_id = _agent_trace(acme, alice, 3)
    span_id = hex_id(32, 8)
    client.force_login(alice)
    fragment = client.get(f"/t/acme/traces/{trace_id}/spans/{span_id}/", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    assert 'id="span-detail"' in fragment.content.decode()
    assert "<html" not in fragment.content.decode()
    page = client.get(f"/t/acme/traces/{trace_id}/spans/{span_id}/")
    assert page.status_code == 302 and page["Location"].endswith(f"?span={span_id}")
    assert client.get(f"/t/acme/traces/{trace_id}/spans/{'f' * 16}/").status_code == 404


def test_it_renders_a_10000_span_trace_in_a_bounded_number_of_queries(
    client, acme, alice, django_assert_max_num_queries
):
    trace_id = hex_id(99, 16)
    root = hex_id(1, 8)
    spans = [raw_span(trace_id, root, name="root", duration_ms=20_000)]
    for i in range(2, 10_001):
        parent = root if i <= 101 else hex_id(2 + (i % 100), 8)
        spans.append(
            raw_span(trace_id, hex_id(i, 8), parent=parent, name=f"s{i}", start_ms=i, duration_ms=3)
        )
    ingest(acme, alice, spans)
    client.force_login(alice)
    # Session, user, membership, permissions and the layout's counters, then a fixed few
    # for the trace: never one per span.
    with django_assert_max_num_queries(22):
        response = client.get(f"/t/acme/traces/{trace_id}/")
    assert response.status_code == 200
    assert response.content.decode().count('class="span-row') == 10_000


def test_it_adds_the_root_input_and_output_to_a_dataset(client, acme, alice):
    from apps.datasets import services as dataset_services
    from apps.datasets.models import Example

    with team_scope(acme):
        dataset = dataset_services.dataset_create(team=acme, actor=alice, name="from-traces")
    trace_id = _agent_trace(acme, alice, 4, text=json.dumps({"question": "hi"}))
    client.force_login(alice)
    response = client.post(f"/t/acme/traces/{trace_id}/add-to-dataset/", {"dataset_id": dataset.pk})
    assert response.status_code == 302
    with team_scope(acme):
        example = Example.objects.get(dataset=dataset)
    assert example.source == "trace"
    assert example.source_ref.startswith(trace_id)
    assert example.input == {"question": "hi"}
    assert example.expected == "answer 4"


def test_it_adds_a_trace_to_a_dataset_once(client, acme, alice):
    from apps.datasets import services as dataset_services
    from apps.datasets.models import Example

    with team_scope(acme):
        dataset = dataset_services.dataset_create(team=acme, actor=alice, name="no-repeats")
    trace_id = _agent_trace(acme, alice, 9, text=json.dumps({"question": "hi"}))
    client.force_login(alice)
    url = f"/t/acme/traces/{trace_id}/add-to-dataset/"
    first = client.post(url, {"dataset_id": dataset.pk}, follow=True).content.decode()
    assert "Added to dataset no-repeats as a new example." in first
    again = client.post(url, {"dataset_id": dataset.pk}, follow=True).content.decode()
    assert "no-repeats has this input and output already: not added again." in again
    with team_scope(acme):
        assert Example.objects.filter(dataset=dataset).count() == 1
        dataset.refresh_from_db()
        assert dataset.current_revision == 1  # no empty revision for the skipped one


def test_it_refuses_a_viewer_adding_to_a_dataset(client, acme, alice, carol):
    from apps.datasets import services as dataset_services
    from apps.datasets.models import Example

    with team_scope(acme):
        dataset = dataset_services.dataset_create(team=acme, actor=alice, name="d")
    trace_id = _agent_trace(acme, alice, 5)
    client.force_login(carol)
    client.post(f"/t/acme/traces/{trace_id}/add-to-dataset/", {"dataset_id": dataset.pk})
    with team_scope(acme):
        assert not Example.objects.exists()


def test_it_sends_model_calls_to_an_annotation_queue(client, acme, alice):
    pytest.importorskip("apps.annotations.services")
    from apps.annotations import services as annotation_services
    from apps.annotations.models import QueueItem

    with team_scope(acme):
        queue = annotation_services.queue_create(team=acme, actor=alice, name="review traces")
    trace_id = _agent_trace(acme, alice, 6)
    client.force_login(alice)
    page = client.get(f"/t/acme/traces/{trace_id}/").content.decode()
    assert "Send to annotation queue" in page
    chat = hex_id(62, 8)
    response = client.post(
        f"/t/acme/traces/{trace_id}/send-to-queue/", {"queue_id": queue.pk, "span_id": chat}
    )
    assert response.status_code == 302
    with team_scope(acme):
        item = QueueItem.objects.get(queue=queue)
    assert item.span.span_id == chat


def test_it_groups_traces_by_function_version(client, acme, alice):
    _agent_trace(acme, alice, 1)
    client.force_login(alice)
    html = client.get("/t/acme/traces/functions/").content.decode()
    assert "bot.answer" in html and "abc123" in html


def test_it_purges_traces_past_the_team_retention(acme, alice):
    from django.core.management import call_command

    day_ns = 86_400 * 1_000_000_000
    old = _agent_trace(acme, alice, 1, base_ns=time.time_ns() - 40 * day_ns)
    recent = _agent_trace(acme, alice, 2)
    call_command("purge_traces")
    with team_scope(acme):
        assert list(Trace.objects.values_list("trace_id", flat=True)) == [recent]
        assert old not in set(Trace.objects.values_list("trace_id", flat=True))
    from apps.traces.models import Span

    assert Span.objects.unscoped().filter(team=acme).count() == 2


def test_it_keeps_traces_forever_with_zero_retention(acme, alice):
    from apps.traces.services import traces_purge_expired

    acme.trace_retention_days = 0
    acme.save()
    _agent_trace(acme, alice, 1, base_ns=time.time_ns() - 400 * 86_400 * 1_000_000_000)
    assert traces_purge_expired() == {}


def test_it_enqueues_the_purge_task(acme):
    from apps.traces.tasks import traces_purge_expired

    result = traces_purge_expired.enqueue()
    assert result.id


def test_it_seeds_demo_traces_idempotently(acme, alice, bob, carol, erin):
    from apps.llm import demo as llm_demo
    from apps.prompts import demo as prompts_demo
    from apps.traces.demo import CALLS, seed

    users = {"alice": alice, "bob": bob, "carol": carol, "erin": erin}
    with team_scope(acme):  # the traces demo traces the prompts demo's versions
        llm_demo.seed(acme, users)
        prompts_demo.seed(acme, users)
    seed(acme, users)
    seed(acme, users)
    with team_scope(acme):
        assert Trace.objects.count() == len(CALLS)
        assert Trace.objects.filter(status="error").count() == sum(1 for c in CALLS if c[4])


@pytest.mark.parametrize(
    "field,action", [("queue_id", "send-to-queue"), ("dataset_id", "add-to-dataset")]
)
def test_it_answers_a_tampered_target_id_with_a_message(client, acme, alice, field, action):
    trace_id = _agent_trace(acme, alice, 7)
    client.force_login(alice)
    response = client.post(f"/t/acme/traces/{trace_id}/{action}/", {field: "abc"}, follow=True)
    assert response.status_code == 200
    assert b"Choose a" in response.content


@pytest.mark.parametrize("path", ["/t/acme/traces/", "/t/acme/traces/functions/"])
def test_it_ignores_an_impossible_date_in_the_filters(client, acme, alice, path):
    _agent_trace(acme, alice, 8)
    client.force_login(alice)
    response = client.get(path, {"start": "2026-13-45T99:99", "end": "garbage"})
    assert response.status_code == 200
    assert b"run-8" in response.content or b"bot.answer" in response.content


def test_it_shows_times_to_the_second_and_durations_in_ms_everywhere(client, acme, alice):
    import re
    from datetime import datetime

    from django.utils import dateformat
    from django.utils.timezone import localtime

    started = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    trace_id = _agent_trace(acme, alice, 5, base_ns=int(started.timestamp()) * 10**9 + 123456789)
    with team_scope(acme):
        trace = Trace.objects.get(trace_id=trace_id)
    shown = dateformat.format(localtime(trace.start_time), "Y-m-d H:i:s")
    client.force_login(alice)
    pages = {
        "list": client.get("/t/acme/traces/").content.decode(),
        "detail": client.get(f"/t/acme/traces/{trace_id}/").content.decode(),
        "span": client.get(
            f"/t/acme/traces/{trace_id}/spans/{hex_id(52, 8)}/", HTTP_HX_REQUEST="true"
        ).content.decode(),
        "functions": client.get("/t/acme/traces/functions/").content.decode(),
    }
    for name, html in pages.items():
        text = re.sub(r"<[^>]*>", " ", html)  # what people read (datetime="" stays precise)
        if name != "span":
            assert shown in text, name
        assert not re.search(r"\d\d:\d\d:\d\d\.\d", text), name  # no fractions of a second
        assert not re.search(r"\d\.\d\d ms", text), name  # durations: one decimal, in ms
    assert "100.0 ms" in pages["detail"] and "50.0 ms" in pages["span"]
