"""A Fail says why (unless the queue opts out), and failures go to a dataset once: the API
and the page say how many were skipped as exact duplicates."""

from __future__ import annotations

import pytest

from apps.annotations import services
from apps.core.errors import ValidationFailed
from apps.core.tenancy import team_scope
from apps.datasets.selectors import examples_at_revision
from apps.datasets.services import dataset_create, example_create
from tests.annotations.factories import make_experiment
from tests.conftest import bearer

CELLS = [{"variant": "v1", "example": n, "scores": {"exact": False}} for n in (1, 2)]


@pytest.fixture
def queue_items(acme, alice, erin):
    with team_scope(acme):
        experiment, _, _ = make_experiment(acme, alice, variants=("v1",), cells=CELLS)
        queue = services.queue_create(team=acme, actor=alice, name="Fails")
        services.queue_fill_from_experiment(
            team=acme, actor=alice, queue=queue, experiment=experiment, mode="failed"
        )
        services.items_assign(team=acme, actor=alice, queue=queue, users=[erin])
        return queue, list(queue.items.order_by("position"))


def test_a_fail_without_reasoning_is_refused(acme, erin, queue_items):
    queue, items = queue_items
    with team_scope(acme):
        with pytest.raises(ValidationFailed) as refused:
            services.annotation_save(team=acme, actor=erin, item=items[0], passed=False)
        assert refused.value.field == "reasoning"
        assert "reasoning with every Fail" in refused.value.message
        # A pass needs none.
        services.annotation_save(team=acme, actor=erin, item=items[1], passed=True)


def test_a_queue_may_accept_a_fail_without_reasoning(acme, alice, erin, queue_items):
    queue, items = queue_items
    with team_scope(acme):
        services.queue_update(team=acme, actor=alice, queue=queue, fail_needs_reasoning=False)
        annotation = services.annotation_save(team=acme, actor=erin, item=items[0], passed=False)
    assert annotation.passed is False and annotation.reasoning == ""


def test_the_page_and_the_api_refuse_a_bare_fail_with_the_reason(
    client, api_client, acme, erin, queue_items
):
    queue, items = queue_items
    client.force_login(erin)
    page = client.get(f"/t/acme/annotations/items/{items[0].pk}/").content.decode()
    assert "(required for Fail)" in page
    response = client.post(f"/t/acme/annotations/items/{items[0].pk}/", {"passed": "fail"})
    assert response.status_code == 200
    assert "Say why it fails" in response.content.decode()
    api_client.force_login(erin)
    refused = api_client.post(
        f"/api/v1/t/acme/annotation-items/{items[0].pk}/annotations/",
        {"passed": False},
        format="json",
    )
    assert refused.status_code == 400 and "reasoning" in refused.json()["errors"]


def test_the_queue_form_offers_the_setting(client, acme, alice):
    client.force_login(alice)
    page = client.get("/t/acme/annotations/new/").content.decode()
    assert 'name="fail_needs_reasoning"' in page and "A Fail needs reasoning" in page
    response = client.post(
        "/t/acme/annotations/new/",
        {"name": "Loose", "annotators_per_item": 1, "fail_needs_reasoning": ""},
    )
    assert response.status_code == 302
    with team_scope(acme):
        from apps.annotations.models import AnnotationQueue

        assert AnnotationQueue.objects.get(name="Loose").fail_needs_reasoning is False


def test_the_api_says_how_many_failures_were_skipped(
    api_client, acme, alice, erin, queue_items, api_key_for
):
    queue, items = queue_items
    with team_scope(acme):
        for item in items:
            services.annotation_save(team=acme, actor=erin, item=item, passed=False, reasoning="no")
        dataset = dataset_create(team=acme, actor=alice, name="Golden")
        first = items[0].snapshot
        example_create(
            team=acme,
            actor=alice,
            dataset=dataset,
            input=first["input"],
            expected=first.get("expected"),
        )
    headers = bearer(api_key_for(acme, alice, scopes=["annotations:write", "datasets:write"]))
    response = api_client.post(
        f"/api/v1/annotation-queues/{queue.pk}/add-failures-to-dataset/",
        {"dataset_id": dataset.pk},
        format="json",
        **headers,
    )
    assert response.status_code == 201, response.json()
    assert response.json() == {"dataset_id": dataset.pk, "revision": 2, "added": 1, "skipped": 1}
    with team_scope(acme):
        annotation = items[0].annotations.get()
        dataset.refresh_from_db()
        assert examples_at_revision(dataset).count() == 2
    # The same failure again, alone: nothing added, the existing example named.
    again = api_client.post(
        f"/api/v1/annotations/{annotation.pk}/add-to-dataset/",
        {"dataset_id": dataset.pk},
        format="json",
        **headers,
    )
    assert again.status_code == 200, again.json()
    body = again.json()
    assert (body["added"], body["skipped"], body["revision"]) == (0, 1, None)
    assert body["example_id"]
