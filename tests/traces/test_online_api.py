"""Online rules and the dashboard through the API: define, read, pause and resume a rule
(scopes: traces:read reads, experiments:write defines; an ingest key cannot), and the
dashboard's numbers as JSON equal to what its page charts."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.traces.dashboard.services import buckets_flush
from apps.traces.models import OnlineRule, Trace
from apps.traces.online.services import online_rules_run
from tests.conftest import bearer
from tests.traces.test_dashboard import _generate
from tests.traces.test_online_rules import _evaluator, _later, _traces

pytestmark = pytest.mark.django_db


def _create(api_client, key, **body):
    return api_client.post(reverse("api:online-rules"), body, format="json", **bearer(key))


def test_it_defines_reads_pauses_and_resumes_a_rule(api_client, acme, alice, api_key_for):
    evaluator = _evaluator(acme, alice)
    writer = api_key_for(acme, alice, scopes=["experiments:write", "traces:read"])
    created = _create(
        api_client, writer, name="json", evaluator=evaluator.pk, prompt_name="reply",
        sample_rate=1.0, daily_calls=50,
    )  # fmt: skip
    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule["evaluator"]["name"] == "json ok" and rule["paused"] is False
    assert rule["today"] == {"calls": 0, "cost": 0.0}

    _traces(acme, alice, 6)
    online_rules_run(now=_later())
    reader = api_key_for(acme, alice, scopes=["traces:read"])
    url = reverse("api:online-rule", kwargs={"rule_id": rule["id"]})
    read = api_client.get(url, **bearer(reader)).json()
    assert (read["matched"], read["scored"], read["today"]["calls"]) == (6, 6, 6)
    listed = api_client.get(reverse("api:online-rules"), **bearer(reader)).json()
    assert [r["name"] for r in listed] == ["json"]

    pause = reverse("api:online-rule-pause", kwargs={"rule_id": rule["id"]})
    answer = api_client.post(pause, {"paused": True}, format="json", **bearer(writer))
    assert answer.status_code == 200 and answer.json()["paused"] is True
    _traces(acme, alice, 4, start=20)
    online_rules_run(now=_later())
    assert api_client.get(url, **bearer(reader)).json()["matched"] == 6  # stopped at once
    answer = api_client.post(pause, {"paused": False}, format="json", **bearer(writer))
    assert answer.json()["paused"] is False


def test_it_names_what_is_wrong_with_a_rule(api_client, acme, alice, api_key_for):
    evaluator = _evaluator(acme, alice)
    key = api_key_for(acme, alice, scopes=["experiments:write"])
    bad = _create(api_client, key, name="r", evaluator=evaluator.pk, sample_rate=0)
    assert bad.status_code == 400 and "sample_rate" in bad.content.decode()
    bad = _create(api_client, key, name="r", evaluator=999999)
    assert bad.status_code == 400 and "evaluator" in bad.content.decode()
    bad = _create(api_client, key, name="r", evaluator=evaluator.pk, attributes={"a": [1]})
    assert bad.status_code == 400 and "attributes" in bad.content.decode()
    with team_scope(acme):
        assert not OnlineRule.objects.exists()


def test_an_ingest_key_or_another_team_cannot_touch_rules(
    api_client, acme, alice, dave, globex, api_key_for
):
    evaluator = _evaluator(acme, alice)
    ingest_key = api_key_for(acme, alice, scopes=["traces:write"])
    refused = _create(api_client, ingest_key, name="r", evaluator=evaluator.pk)
    assert refused.status_code == 403
    writer = api_key_for(acme, alice, scopes=["experiments:write"])
    rule = _create(api_client, writer, name="r", evaluator=evaluator.pk).json()
    outsider = api_key_for(globex, dave, scopes=["experiments:write", "traces:read"])
    url = reverse("api:online-rule", kwargs={"rule_id": rule["id"]})
    assert api_client.get(url, **bearer(outsider)).status_code == 404
    pause = reverse("api:online-rule-pause", kwargs={"rule_id": rule["id"]})
    assert (
        api_client.post(pause, {"paused": True}, format="json", **bearer(outsider)).status_code
        == 404
    )
    # Their evaluator is not ours either.
    theirs = _create(api_client, outsider, name="x", evaluator=evaluator.pk)
    assert theirs.status_code == 400


def test_the_dashboard_api_answers_the_charts_numbers(api_client, acme, alice, api_key_for):
    _generate(acme, alice, traces=60, seed=5)
    buckets_flush()
    key = api_key_for(acme, alice, scopes=["traces:read"])
    team = api_client.get(reverse("api:dashboard"), {"range": "7d"}, **bearer(key)).json()
    with team_scope(acme):
        assert team["totals"]["traces"] == Trace.objects.count() == 60
    assert {s["prompt_name"] for s in team["series"]} == {"reply"}
    assert set(team["score_names"]) == {"thumbs", "rating"}

    prompt = api_client.get(
        reverse("api:dashboard"), {"prompt": "reply", "range": "7d"}, **bearer(key)
    ).json()
    assert [s["name"] for s in prompt["series"]] == ["v1", "v2"]
    assert sum(s["totals"]["traces"] for s in prompt["series"]) == 60
    assert sum(p["traces"] for s in prompt["series"] for p in s["points"]) == 60
    assert [c["label"] for c in prompt["version_changes"]] == ["v2"]
    v1 = prompt["series"][0]["totals"]
    assert 0 <= v1["scores"]["thumbs"] <= 1 and v1["latency_p50_ms"] > 0

    missing = api_client.get(reverse("api:dashboard"), {"prompt": "nope"}, **bearer(key))
    assert missing.status_code == 404
    both = api_client.get(
        reverse("api:dashboard"), {"prompt": "reply", "function": "f"}, **bearer(key)
    )
    assert both.status_code == 400 and "function" in both.content.decode()
    bad_range = api_client.get(reverse("api:dashboard"), {"range": "1y"}, **bearer(key))
    assert bad_range.status_code == 400 and "range" in bad_range.content.decode()


def test_retention_takes_the_dashboard_sums_of_what_it_removed(acme, alice):
    from datetime import timedelta

    from django.utils import timezone

    from apps.traces.models import ScoreBucket, TraceBucket
    from apps.traces.services import traces_purge_team

    _generate(acme, alice, traces=40, seed=9, hours=30)
    buckets_flush()
    acme.trace_retention_days = 1
    acme.save(update_fields=["trace_retention_days"])
    later = timezone.now() + timedelta(days=20)
    assert traces_purge_team(team=acme, now=later) == 40
    with team_scope(acme):
        assert not TraceBucket.objects.exists() and not ScoreBucket.objects.exists()
