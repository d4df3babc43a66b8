"""Rollouts on a tag: reviewed on protected tags, stepped, aborted, completed, recorded;
sticky assignment shared with the SDK; served with the tagged fetch under its ETag."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from django.test import TestCase
from django.urls import reverse
from promptyard.rollouts import ARM_CANDIDATE, BUCKETS, arm_for, bucket

from apps.core.errors import Conflict, PermissionRefused, ValidationFailed
from apps.prompts import selectors, services, serving
from apps.prompts.models import RolloutStatus, TagEvent
from apps.teams.models import AuditEvent
from tests.conftest import bearer

VECTORS = json.loads((Path(__file__).parents[1] / "sdk" / "rollout_vectors.json").read_text())


def page(name, **kwargs):
    return reverse(f"prompts:{name}", kwargs={"team_slug": "acme", **kwargs})


def api(name, **kwargs):
    return reverse(f"api:{name}", kwargs=kwargs)


@pytest.fixture
def live(hub, alice, bob):
    """production (protected) at v1 through a reviewed request; v2 the candidate."""
    request = services.promotion_request_create(
        team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name="production",
        candidate=hub["v1"],
    )  # fmt: skip
    services.promotion_approve(team=hub["team"], actor=alice, promotion=request)
    return hub


def start_reviewed(hub, requester, reviewer, percent=10):
    with TestCase.captureOnCommitCallbacks(execute=True):
        request = services.promotion_request_create(
            team=hub["team"],
            actor=requester,
            prompt=hub["prompt"],
            tag_name="production",
            candidate=hub["v2"],
            description="canary",
            rollout_percent=percent,
        )
        services.promotion_approve(team=hub["team"], actor=reviewer, promotion=request)
    return selectors.rollouts_active(prompt=hub["prompt"])[0]


def test_it_starts_a_rollout_on_a_protected_tag_only_through_review(live, alice, bob):
    with pytest.raises(PermissionRefused, match="protected"):
        services.rollout_start(
            team=live["team"], actor=alice, prompt=live["prompt"], tag_name="production",
            candidate=live["v2"], percent=10,
        )  # fmt: skip
    request = services.promotion_request_create(
        team=live["team"], actor=bob, prompt=live["prompt"], tag_name="production",
        candidate=live["v2"], rollout_percent=10,
    )  # fmt: skip
    with pytest.raises(PermissionRefused, match="teammate"):
        services.promotion_approve(team=live["team"], actor=bob, promotion=request)
    assert selectors.rollouts_active(prompt=live["prompt"]) == []

    services.promotion_approve(team=live["team"], actor=alice, promotion=request)
    (rollout,) = selectors.rollouts_active(prompt=live["prompt"])
    assert (rollout.base, rollout.candidate, rollout.percent) == (live["v1"], live["v2"], 10)
    assert rollout.promotion == request
    # The tag itself has not moved: only a share of its traffic.
    assert selectors.version_at_tag(live["prompt"], "production") == live["v1"]
    start = TagEvent.objects.get(rollout=rollout)
    assert (start.rollout_percent, start.approver, start.to_version) == (10, alice, live["v2"])


def test_it_refuses_rollout_requests_that_cannot_start(live, bob):
    def ask(**kwargs):
        return services.promotion_request_create(
            team=live["team"], actor=bob, prompt=live["prompt"], candidate=live["v2"], **kwargs
        )

    for percent in (0, 100, 150, True):
        with pytest.raises(ValidationFailed) as caught:
            ask(tag_name="production", rollout_percent=percent)
        assert caught.value.field == "rollout_percent"
    with pytest.raises(ValidationFailed, match="points at nothing"):
        ask(tag_name="canary", rollout_percent=10)


def test_it_steps_up_records_each_step_and_completes_the_move_at_100(live, alice, bob):
    rollout = start_reviewed(live, bob, alice)
    with pytest.raises(PermissionRefused):  # an editor without approval rights
        services.rollout_step(team=live["team"], actor=bob, rollout=rollout, percent=50)
    services.rollout_step(team=live["team"], actor=alice, rollout=rollout, percent=50)
    with pytest.raises(ValidationFailed, match="abort"):
        services.rollout_step(team=live["team"], actor=alice, rollout=rollout, percent=25)
    services.rollout_step(team=live["team"], actor=alice, rollout=rollout, percent=100)

    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.COMPLETED
    assert selectors.version_at_tag(live["prompt"], "production") == live["v2"]
    steps = list(
        TagEvent.objects.filter(rollout=rollout).order_by("id").values_list("rollout_percent")
    )
    assert steps == [(10,), (50,), (100,)]
    verbs = set(AuditEvent.objects.filter(target_id=str(rollout.pk)).values_list("verb", flat=True))
    assert {"prompt.rollout_start", "prompt.rollout_step", "prompt.rollout_complete"} <= verbs
    # Rollout steps are no positions to roll back to; the completed move is.
    assert selectors.rollback_targets(live["prompt"], "production") == [live["v1"]]


def test_an_owner_or_an_approver_aborts_at_once(live, alice, bob, carol):
    from apps.prompts.services import approver_grant

    rollout = start_reviewed(live, bob, alice, percent=25)
    with pytest.raises(PermissionRefused):
        services.rollout_abort(team=live["team"], actor=carol, rollout=rollout)
    approver_grant(team=live["team"], actor=alice, prompt=live["prompt"], user=bob)
    services.rollout_abort(team=live["team"], actor=bob, rollout=rollout, reason="complaints")
    rollout.refresh_from_db()
    assert (rollout.status, rollout.percent) == (RolloutStatus.ABORTED, 0)
    abort = TagEvent.objects.filter(rollout=rollout).first()
    assert (abort.rollout_percent, abort.to_version, abort.reason) == (0, live["v1"], "complaints")
    assert AuditEvent.objects.filter(verb="prompt.rollout_abort").exists()
    with pytest.raises(Conflict):
        services.rollout_step(team=live["team"], actor=alice, rollout=rollout, percent=50)


def test_a_move_of_the_tag_ends_the_rollout(live, alice, bob):
    services.version_create(
        team=live["team"], actor=bob, prompt=live["prompt"], kind="text",
        template="v3 {{ name }}", commit_message="third",
    )  # fmt: skip
    rollout = start_reviewed(live, bob, alice)
    v3 = selectors.version_get(live["prompt"], 3)
    request = services.promotion_request_create(
        team=live["team"], actor=bob, prompt=live["prompt"], tag_name="production", candidate=v3
    )
    services.promotion_approve(team=live["team"], actor=alice, promotion=request)
    rollout.refresh_from_db()
    assert (rollout.status, rollout.percent) == (RolloutStatus.SUPERSEDED, 0)


def test_it_starts_on_an_unprotected_tag_directly(hub, bob, carol):
    services.tag_move(
        team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name="beta", version=hub["v1"]
    )
    with pytest.raises(PermissionRefused):
        services.rollout_start(
            team=hub["team"], actor=carol, prompt=hub["prompt"], tag_name="beta",
            candidate=hub["v2"], percent=10,
        )  # fmt: skip
    rollout = services.rollout_start(
        team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name="beta",
        candidate=hub["v2"], percent=10,
    )  # fmt: skip
    with pytest.raises(Conflict, match="already has rollout"):
        services.rollout_start(
            team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name="beta",
            candidate=hub["v2"], percent=20,
        )  # fmt: skip
    services.rollout_step(team=hub["team"], actor=bob, rollout=rollout, percent=30)


# --- assignment ------------------------------------------------------------------------


def test_assignment_is_uniform_over_100000_keys():
    from scipy.stats import chisquare

    counts = [0] * 100
    candidate = 0
    for i in range(100_000):
        b = bucket("greeting", 7, f"user-{i}")
        counts[b * 100 // BUCKETS] += 1
        candidate += b < 10 * BUCKETS // 100
    # 100 equal bins: no evidence against uniformity at the 0.1 % level.
    assert chisquare(counts).pvalue > 0.001
    # 10 % of keys within four standard deviations (sd = 95 keys).
    assert abs(candidate - 10_000) < 4 * (100_000 * 0.1 * 0.9) ** 0.5


def test_assignment_matches_the_shared_vectors_from_the_spec():
    for case in VECTORS["cases"]:
        data = f"{case['prompt']}\x1f{case['rollout_id']}\x1f{case['key']}".encode()
        spec = int.from_bytes(hashlib.sha256(data).digest()[:8], "big") % 10_000
        assert bucket(case["prompt"], case["rollout_id"], case["key"]) == spec == case["bucket"]
        for percent, arm in case["arms"].items():
            assert arm_for(case["prompt"], case["rollout_id"], int(percent), case["key"]) == arm


def test_a_step_up_keeps_every_candidate_key_on_the_candidate():
    keys = [f"k{i}" for i in range(5000)]
    at_10 = {k for k in keys if arm_for("p", 3, 10, k) == ARM_CANDIDATE}
    at_50 = {k for k in keys if arm_for("p", 3, 50, k) == ARM_CANDIDATE}
    assert at_10 < at_50


# --- serving ---------------------------------------------------------------------------


@pytest.fixture
def reader(acme, alice, api_key_for):
    return api_key_for(acme, alice, scopes=["prompts:read"], name="app")


def test_the_tagged_fetch_carries_the_rollout_and_a_key_gets_its_arm(
    api_client, live, alice, bob, reader
):
    serving.reset_local_state()
    url = api("prompt-serve", prompt_name="greeter")
    rollout = start_reviewed(live, bob, alice, percent=50)
    body = api_client.get(url, {"tag": "production"}, **bearer(reader)).json()
    assert body["version"] == 1
    assert body["rollout"]["id"] == rollout.pk
    assert body["rollout"]["percent"] == 50
    assert body["rollout"]["candidate"]["version"] == 2
    assert body["rollout"]["candidate"]["template"] == "Hello {{ name }}!"
    # The server picks the same arm as the shared vectors (and so as the SDK).
    for i in range(40):
        key = f"user-{i}"
        answer = api_client.get(url, {"tag": "production", "key": key}, **bearer(reader))
        expected = 2 if arm_for("greeter", rollout.pk, 50, key) == ARM_CANDIDATE else 1
        assert answer.json()["version"] == expected, key
        assert answer.json()["rollout"]["arm"] == ("candidate" if expected == 2 else "current")


def test_the_server_assigns_the_shared_vectors(live):
    # The server's own path: a tagged answer's arms picked for each vector's key.
    from apps.prompts.serving import Arms, Served

    current = Served(body=b"current", etag='"c"', served=())
    candidate = Served(body=b"candidate", etag='"d"', served=())
    for case in VECTORS["cases"]:
        for percent, arm in case["arms"].items():
            arms = Arms(
                prompt_name=case["prompt"],
                rollout_id=case["rollout_id"],
                percent=int(percent),
                current=current,
                candidate=candidate,
            )
            assert arms.pick(case["key"]).body.decode() == arm


def test_an_abort_reaches_callers_with_the_next_etag_refresh(api_client, live, alice, bob, reader):
    serving.reset_local_state()
    url = api("prompt-serve", prompt_name="greeter")
    rollout = start_reviewed(live, bob, alice, percent=50)
    first = api_client.get(url, {"tag": "production"}, **bearer(reader))
    etag = first["ETag"]
    assert api_client.get(url, {"tag": "production"}, HTTP_IF_NONE_MATCH=etag,
                          **bearer(reader)).status_code == 304  # fmt: skip
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.rollout_abort(team=live["team"], actor=alice, rollout=rollout)
    refreshed = api_client.get(
        url, {"tag": "production"}, HTTP_IF_NONE_MATCH=etag, **bearer(reader)
    )
    assert refreshed.status_code == 200
    assert refreshed["ETag"] != etag
    assert "rollout" not in refreshed.json()
    keyed = [
        api_client.get(url, {"tag": "production", "key": f"u{i}"}, **bearer(reader)).json()
        for i in range(20)
    ]
    assert {k["version"] for k in keyed} == {1}


def test_the_snapshot_carries_rollouts(api_client, live, alice, bob, reader):
    serving.reset_local_state()
    rollout = start_reviewed(live, bob, alice, percent=10)
    body = api_client.get(api("prompt-snapshot"), {"tag": "production"}, **bearer(reader)).json()
    (item,) = body["prompts"]
    assert item["rollout"]["id"] == rollout.pk
    assert item["etag"].endswith(f'.r{rollout.pk}-10"')


# --- API -------------------------------------------------------------------------------


@pytest.fixture
def writer(acme, alice, api_key_for):
    return api_key_for(acme, alice, scopes=["prompts:read", "prompts:write"], name="ci")


def test_the_api_refuses_a_direct_rollout_of_a_protected_tag(api_client, live, writer):
    response = api_client.post(
        api("prompt-tag-rollout", prompt_name="greeter", tag_name="production"),
        {"candidate": 2, "percent": 10},
        format="json",
        **bearer(writer),
    )
    assert response.status_code == 403
    assert "request a promotion with a rollout" in response.json()["detail"]


def test_the_api_requests_steps_and_aborts(api_client, live, alice, bob, writer, api_key_for):
    bob_key = api_key_for(live["team"], alice, scopes=["prompts:read", "prompts:write"])
    created = api_client.post(
        api("promotions"),
        {"prompt": "greeter", "tag_name": "production", "candidate": 2, "rollout_percent": 10},
        format="json",
        **bearer(bob_key),
    )
    assert created.status_code == 201, created.content
    assert created.json()["rollout_percent"] == 10
    promotion = selectors.promotion_get(created.json()["id"])
    # Four eyes: the key is alice's, so alice cannot approve; bob may once granted approval.
    from apps.prompts.services import approver_grant

    approver_grant(team=live["team"], actor=alice, prompt=live["prompt"], user=bob)
    services.promotion_approve(team=live["team"], actor=bob, promotion=promotion)
    listed = api_client.get(api("rollouts"), {"status": "active"}, **bearer(writer)).json()
    (rollout,) = listed["results"]
    assert (rollout["current_version"], rollout["candidate"], rollout["percent"]) == (1, 2, 10)
    refused = api_client.post(
        api("rollout-step", rollout_id=rollout["id"]), {"percent": 50}, format="json",
        **bearer(writer),
    )  # fmt: skip
    assert refused.status_code == 403  # a protected tag's rollout: keys need the admin scope
    admin = api_key_for(live["team"], alice, scopes=["prompts:read", "prompts:write", "admin"])
    stepped = api_client.post(
        api("rollout-step", rollout_id=rollout["id"]), {"percent": 50}, format="json",
        **bearer(admin),
    )  # fmt: skip
    assert stepped.status_code == 200, stepped.content
    assert (stepped.json()["percent"], stepped.json()["current_percent"]) == (50, 50)
    bad = api_client.post(
        api("rollout-step", rollout_id=rollout["id"]), {"percent": 20}, format="json",
        **bearer(admin),
    )  # fmt: skip
    assert bad.status_code == 400 and "percent" in bad.json()["errors"]
    aborted = api_client.post(
        api("rollout-abort", rollout_id=rollout["id"]), {"reason": "errors"}, format="json",
        **bearer(admin),
    )  # fmt: skip
    assert aborted.status_code == 200
    assert (aborted.json()["status"], aborted.json()["percent"]) == ("aborted", 0)
    history = api_client.get(
        api("prompt-tag-history", prompt_name="greeter", tag_name="production"), **bearer(writer)
    ).json()["results"]
    assert [e["rollout_percent"] for e in history[:3]] == [0, 50, 10]


# --- pages -----------------------------------------------------------------------------


def test_the_pages_show_the_split(client, live, alice, bob):
    rollout = start_reviewed(live, bob, alice, percent=10)
    client.force_login(alice)
    for url in (
        page("detail", prompt_name="greeter"),
        page("environments"),
        page("tag", prompt_name="greeter", tag_name="production"),
        page("rollout", rollout_id=rollout.pk),
    ):
        html = client.get(url).content.decode()
        assert 'class="split-candidate">10 %' in html or 'id="split-candidate">10 %' in html, url
        assert "90 %" in html, url
    fragment = client.get(page("rollout", rollout_id=rollout.pk), HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and b"10 %" in fragment.content
    env = client.get(page("environments"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="rollouts-live")
    assert b"<html" not in env.content and b"rollout #" in env.content


def test_the_rollout_page_steps_and_aborts(client, live, alice, bob):
    rollout = start_reviewed(live, bob, alice, percent=10)
    client.force_login(bob)
    html = client.get(page("rollout", rollout_id=rollout.pk)).content.decode()
    assert 'id="step-form"' not in html  # bob may not steer a protected tag's rollout
    client.force_login(alice)
    response = client.post(page("rollout_step", rollout_id=rollout.pk), {"percent": "50"},
                           follow=True)  # fmt: skip
    assert "now serves 50 %" in response.content.decode()
    response = client.post(page("rollout_abort", rollout_id=rollout.pk), {"reason": "x"},
                           follow=True)  # fmt: skip
    assert "all traffic is back on v1" in response.content.decode()
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.ABORTED


def test_a_promotion_form_asks_for_a_rollout(client, live, alice, bob):
    client.force_login(bob)
    response = client.post(
        page("promotion_create", prompt_name="greeter", version_number=2),
        {"tag_name": "production", "description": "canary", "rollout_percent": "10"},
        follow=True,
    )
    html = response.content.decode()
    assert "a rollout: v2 serves 10 % of traffic" in html
    promotion = selectors.promotions(prompt=live["prompt"], status="open").first()
    client.force_login(alice)
    response = client.post(page("promotion_approve", promotion_id=promotion.pk), follow=True)
    assert "serves 10 % of" in response.content.decode()
    assert selectors.rollouts_active(prompt=live["prompt"])[0].percent == 10
