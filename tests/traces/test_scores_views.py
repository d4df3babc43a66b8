"""Scores where traces are read: the trace page, the explorer's column and filter, the
CSV export."""

from __future__ import annotations

import csv
import io

import pytest

from apps.core.tenancy import team_scope
from apps.traces.scores.fields import scores_parse
from apps.traces.scores.services import scores_record
from tests.traces.helpers import hex_id, ingest, raw_span

pytestmark = pytest.mark.django_db


def _trace(team, actor, n, **attrs):
    trace_id = hex_id(n, 16)
    ingest(
        team, actor, [raw_span(trace_id, hex_id(n, 8), name=f"run-{n}", start_ms=n, attrs=attrs)]
    )
    return trace_id


def _score(team, actor, body):
    items, _ = scores_parse(body)
    with team_scope(team):
        return scores_record(team=team, actor=actor, items=items)


@pytest.fixture
def traces(acme, alice):
    ids = [_trace(acme, alice, n, **{"promptyard.prompt.name": "reply"}) for n in (1, 2, 3)]
    _score(
        acme,
        alice,
        [
            {"trace_id": ids[0], "name": "thumbs", "value": True, "comment": "<b>great</b>"},
            {"trace_id": ids[1], "name": "thumbs", "value": False, "author": "user-9"},
            {"trace_id": ids[1], "name": "rating", "value": 2},
            {"trace_id": ids[2], "name": "rating", "value": 5},
            {"trace_id": ids[2], "name": "tone", "value": "rude"},
        ],
    )
    return ids


def test_the_trace_page_shows_its_scores_escaped(client, alice, traces):
    client.force_login(alice)
    page = client.get(f"/t/acme/traces/{traces[0]}/").content.decode()
    assert 'id="trace-scores"' in page and "thumbs: true" in page
    assert "&lt;b&gt;great&lt;/b&gt;" in page and "<b>great</b>" not in page


def test_the_explorer_lists_scores_and_filters_by_them(client, alice, traces):
    client.force_login(alice)

    def names(score):
        page = client.get("/t/acme/traces/", {"score": score}).content.decode()
        return sorted(set(re_names(page)))

    import re

    def re_names(page):
        return re.findall(r">(run-\d)</a>", page)

    assert names("") == ["run-1", "run-2", "run-3"]
    assert names("thumbs") == ["run-1", "run-2"]
    assert names("thumbs=false") == ["run-2"]
    assert names("thumbs:true") == ["run-1"]
    assert names("rating>=3") == ["run-3"]
    assert names("rating<3") == ["run-2"]
    assert names("tone=rude") == ["run-3"]
    assert names("thumbs!=true") == ["run-2"]
    page = client.get("/t/acme/traces/").content.decode()
    assert "rating: 5" in page and "tone: rude" in page
    bad = client.get("/t/acme/traces/", {"score": "rating>=lots"})
    assert bad.status_code == 200 and "is not a number" in bad.content.decode()


def test_the_explorer_reads_scores_in_one_query_for_the_page(
    client, alice, traces, django_assert_max_num_queries
):
    client.force_login(alice)
    client.get("/t/acme/traces/")
    with django_assert_max_num_queries(20) as captured:
        client.get("/t/acme/traces/")
    score_reads = [q for q in captured.captured_queries if "traces_tracescore" in q["sql"]]
    assert len(score_reads) == 2  # the page's scores, and the names for suggestions


def test_the_export_has_the_filtered_traces_scores(client, alice, traces):
    client.force_login(alice)
    response = client.get("/t/acme/traces/export/scores.csv", {"score": "thumbs=false"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted((r["name"], r["value"]) for r in rows) == [("rating", "2.0"), ("thumbs", "False")]
    assert {r["trace_id"] for r in rows} == {traces[1]}
    assert rows[0]["prompt_name"] == "reply"


def test_an_outsider_gets_no_export(client, dave, traces):
    client.force_login(dave)
    assert client.get("/t/acme/traces/export/scores.csv").status_code == 404
