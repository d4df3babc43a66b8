"""Webhooks: endpoints checked like providers, events delivered signed per the Standard
Webhooks spec (verified with the library's verifier), retried with backoff on failures
through the task queue, a delivery log and a test event."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from apps.core.errors import PermissionRefused, ValidationFailed
from apps.prompts import selectors, services
from apps.prompts.models import DeliveryStatus, WebhookDelivery
from tests.conftest import bearer


class Receiver:
    """A local HTTP endpoint answering the statuses it is given, in turn (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"body": body, "headers": dict(self.headers)})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def immediate(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def endpoint_for(hub, actor, url, events=("tag.moved",)):
    return services.webhook_endpoint_create(
        team=hub["team"], actor=actor, url=url, events=list(events), description="ci"
    )


def test_a_tag_move_is_delivered_signed_and_verifies(hub, alice, bob, receiver, immediate):
    endpoint, secret = endpoint_for(hub, alice, receiver.url)
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.tag_move(
            team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name="beta", version=hub["v1"]
        )
    (request,) = receiver.requests
    payload = Webhook(secret).verify(request["body"], request["headers"])
    assert payload["type"] == "tag.moved"
    assert payload["data"] == {"prompt": "greeter", "tag": "beta", "version": 1}
    with pytest.raises(WebhookVerificationError):  # another secret does not verify
        Webhook("whsec_" + "A" * 32).verify(request["body"], request["headers"])
    (delivery,) = selectors.webhook_deliveries(endpoint)
    assert (delivery.status, delivery.response_code, delivery.attempts) == ("succeeded", 200, 1)
    assert request["headers"]["webhook-id"] == delivery.msg_id


def test_it_retries_a_500_until_delivered(hub, alice, bob, immediate):
    receiver = Receiver(statuses=[500, 500])
    try:
        endpoint, secret = endpoint_for(hub, alice, receiver.url)
        with TestCase.captureOnCommitCallbacks(execute=True):
            services.webhook_test_event_create(team=hub["team"], actor=alice, endpoint=endpoint)
        assert len(receiver.requests) == 3
        # One message, three attempts: the same id (receivers dedupe), each signed afresh.
        assert {r["headers"]["webhook-id"] for r in receiver.requests} == {
            receiver.requests[0]["headers"]["webhook-id"]
        }
        for request in receiver.requests:
            assert Webhook(secret).verify(request["body"], request["headers"])["type"] == (
                "webhook.test"
            )
        (delivery,) = selectors.webhook_deliveries(endpoint)
        assert (delivery.status, delivery.attempts, delivery.response_code) == (
            DeliveryStatus.SUCCEEDED,
            3,
            200,
        )
    finally:
        receiver.stop()


def test_a_failed_attempt_is_requeued_with_backoff(hub, alice, settings):
    from django_tasks_db.models import DBTaskResult

    from apps.prompts.tasks import webhook_deliver

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    receiver = Receiver(statuses=[500] * 10)
    try:
        endpoint, _ = endpoint_for(hub, alice, receiver.url)
        with TestCase.captureOnCommitCallbacks(execute=True):
            delivery = services.webhook_test_event_create(
                team=hub["team"], actor=alice, endpoint=endpoint
            )
        assert len(receiver.requests) == 0  # queued for a worker, not sent inline
        before = timezone.now()
        webhook_deliver.call(delivery.pk)  # what the worker runs
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.response_code) == ("retrying", 1, 500)
        assert delivery.last_error == "answered 500"
        retry = DBTaskResult.objects.order_by("-enqueued_at").first()
        assert retry.run_after >= before + timedelta(seconds=5)
        webhook_deliver.call(delivery.pk)
        delivery.refresh_from_db()
        second = delivery.next_attempt_at - timezone.now()
        assert second > timedelta(seconds=20)  # the backoff grows: 5 s, then 30 s
        for _ in range(10):
            webhook_deliver.call(delivery.pk)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("failed", 6)
        assert len(receiver.requests) == 6
    finally:
        receiver.stop()


def test_every_prompt_event_makes_a_delivery(hub, alice, bob):
    endpoint, _ = endpoint_for(
        hub,
        alice,
        "https://hooks.example.com/x",
        events=[
            "version.created",
            "promotion.requested",
            "promotion.approved",
            "promotion.rejected",
            "rollout.step",
            "rollout.aborted",
        ],
    )
    team, prompt = hub["team"], hub["prompt"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.version_create(team=team, actor=bob, prompt=prompt, kind="text",
                                template="v3 {{ name }}", commit_message="three")  # fmt: skip
        first = services.promotion_request_create(
            team=team, actor=bob, prompt=prompt, tag_name="production", candidate=hub["v1"]
        )
        services.promotion_approve(team=team, actor=alice, promotion=first)
        second = services.promotion_request_create(
            team=team, actor=bob, prompt=prompt, tag_name="production", candidate=hub["v2"],
            rollout_percent=10,
        )  # fmt: skip
        services.promotion_approve(team=team, actor=alice, promotion=second)
        (rollout,) = selectors.rollouts_active(prompt=prompt)
        services.rollout_step(team=team, actor=alice, rollout=rollout, percent=50)
        services.rollout_abort(team=team, actor=alice, rollout=rollout)
        third = services.promotion_request_create(
            team=team, actor=bob, prompt=prompt, tag_name="production", candidate=hub["v2"]
        )
        services.promotion_reject(team=team, actor=alice, promotion=third, comment="no")
    events = list(
        WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id").values_list("event_type")
    )
    assert [e for (e,) in events] == [
        "version.created",
        "promotion.requested",
        "promotion.approved",
        "promotion.requested",
        "rollout.step",
        "promotion.approved",
        "rollout.step",
        "rollout.aborted",
        "promotion.requested",
        "promotion.rejected",
    ]
    step = WebhookDelivery.objects.filter(event_type="rollout.step").order_by("id").last().payload
    assert step["data"]["percent"] == 50 and step["data"]["prompt"] == "greeter"


def test_endpoint_urls_pass_the_provider_address_rules(hub, alice, bob, settings):
    settings.PROMPTYARD_PROVIDER_URL_ALLOWLIST = []
    for url in ("http://127.0.0.1:9/x", "http://169.254.169.254/latest", "ftp://example.com"):
        with pytest.raises(ValidationFailed) as caught:
            endpoint_for(hub, alice, url)
        assert caught.value.field == "url"
    with pytest.raises(PermissionRefused):
        endpoint_for(hub, bob, "https://hooks.example.com/x")


def test_the_api_registers_lists_and_tests(
    api_client, hub, alice, api_key_for, receiver, immediate
):
    admin = api_key_for(hub["team"], alice, scopes=["prompts:read", "prompts:write", "admin"])
    writer = api_key_for(hub["team"], alice, scopes=["prompts:read", "prompts:write"])
    refused = api_client.post(reverse("api:webhooks"), {"url": receiver.url,
                              "events": ["tag.moved"]}, format="json", **bearer(writer))  # fmt: skip
    assert refused.status_code == 403
    bad = api_client.post(reverse("api:webhooks"), {"url": "http://169.254.169.254/",
                          "events": ["tag.moved"]}, format="json", **bearer(admin))  # fmt: skip
    assert bad.status_code == 400 and "url" in bad.json()["errors"]
    created = api_client.post(reverse("api:webhooks"), {"url": receiver.url,
                              "events": ["tag.moved"]}, format="json", **bearer(admin))  # fmt: skip
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    listed = api_client.get(reverse("api:webhooks"), **bearer(admin)).json()
    assert "secret" not in listed[0]
    endpoint_id = created.json()["id"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        tested = api_client.post(
            reverse("api:webhook-test", kwargs={"endpoint_id": endpoint_id}), **bearer(admin)
        )
    assert tested.status_code == 202
    log = api_client.get(
        reverse("api:webhook-deliveries", kwargs={"endpoint_id": endpoint_id}), **bearer(admin)
    ).json()["results"]
    assert [(d["event_type"], d["status"], d["response_code"]) for d in log] == [
        ("webhook.test", "succeeded", 200)
    ]
    payload = Webhook(created.json()["secret"]).verify(
        receiver.requests[0]["body"], receiver.requests[0]["headers"]
    )
    assert payload["type"] == "webhook.test"


def test_the_pages_add_an_endpoint_show_the_secret_once_and_send_a_test(
    client, hub, alice, receiver, immediate
):
    client.force_login(alice)
    url = reverse("prompts:webhooks", kwargs={"team_slug": "acme"})
    refused = client.post(url, {"url": "http://169.254.169.254/", "events": ["tag.moved"]})
    assert refused.status_code == 200 and b"metadata" in refused.content
    response = client.post(url, {"url": receiver.url, "events": ["tag.moved", "rollout.aborted"]},
                           follow=True)  # fmt: skip
    html = response.content.decode()
    assert 'id="webhook-secret"' in html and "whsec_" in html
    detail_url = response.redirect_chain[-1][0]
    assert "whsec_" not in client.get(detail_url).content.decode()  # shown once
    endpoint = selectors.webhook_endpoints()[0]
    test_url = reverse(
        "prompts:webhook_test", kwargs={"team_slug": "acme", "endpoint_id": endpoint.pk}
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(test_url)
    html = client.get(detail_url).content.decode()
    assert "Test event queued" in html
    assert 'data-status="succeeded"' in html and "webhook.test" in html
    assert json.loads(receiver.requests[0]["body"])["type"] == "webhook.test"
