import pytest

from apps.annotations import services
from apps.annotations.models import ItemStatus, QueueItem
from apps.core.tenancy import team_scope
from apps.experiments.models import Score
from tests.annotations.factories import make_experiment

CELLS = [
    {"variant": "v1", "example": n, "scores": {"exact": n % 2 == 0}, "output": f"<b>out {n}</b>"}
    for n in range(1, 7)
]


@pytest.fixture
def filled(acme, alice, erin):
    experiment, _, _ = make_experiment(acme, alice, variants=("v1",), cells=CELLS)
    with team_scope(acme):
        queue = services.queue_create(
            team=acme, actor=alice, name="Review", instructions="# Rules\n<script>x</script>"
        )
        services.queue_fill_from_experiment(
            team=acme, actor=alice, queue=queue, experiment=experiment, mode="failed"
        )
        items = list(queue.items.order_by("position"))
        services.items_assign(team=acme, actor=alice, queue=queue, users=[erin], items=items[:2])
    return queue, items


def test_it_lists_and_shows_queues_to_managers(client, alice, filled):
    queue, items = filled
    client.force_login(alice)
    assert client.get("/t/acme/annotations/").status_code == 200
    response = client.get(f"/t/acme/annotations/queues/{queue.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Rules</h1>" in body and "<script>x</script>" not in body
    assert body.count("annotations/items/") >= 3


def test_it_shows_annotators_only_their_items(client, erin, filled):
    queue, items = filled
    client.force_login(erin)
    response = client.get(f"/t/acme/annotations/queues/{queue.pk}/")
    assert response.status_code == 200
    assert "Fill from an experiment" not in response.content.decode()
    assert client.get(f"/t/acme/annotations/items/{items[0].pk}/").status_code == 200
    assert client.get(f"/t/acme/annotations/items/{items[2].pk}/").status_code == 404
    assert (
        client.post(f"/t/acme/annotations/items/{items[2].pk}/", {"passed": "pass"}).status_code
        == 404
    )
    # Managing the queue is refused for the role, with the reason: 403, not "not found".
    refused = client.post(f"/t/acme/annotations/queues/{queue.pk}/fill/", {})
    assert refused.status_code == 403
    assert "As an annotator, you cannot manage annotation queues" in refused.content.decode()


def test_it_hides_queues_without_assignments_from_annotators(client, alice, erin, acme):
    with team_scope(acme):
        queue = services.queue_create(team=acme, actor=alice, name="Other")
    client.force_login(erin)
    assert client.get(f"/t/acme/annotations/queues/{queue.pk}/").status_code == 404


def test_it_saves_with_htmx_and_returns_the_next_item(client, erin, filled):
    queue, items = filled
    client.force_login(erin)
    page = client.get(f"/t/acme/annotations/items/{items[0].pk}/")
    body = page.content.decode()
    assert "&lt;b&gt;out 1&lt;/b&gt;" in body and "<b>out 1</b>" not in body
    assert "annotate.js" in body
    response = client.post(
        f"/t/acme/annotations/items/{items[0].pk}/",
        {"passed": "fail", "reasoning": "wrong"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response["HX-Push-Url"].endswith(f"/items/{items[1].pk}/")
    assert "<html" not in response.content.decode()
    with team_scope(items[0].team):
        assert Score.objects.get(source="human").passed is False
        assert QueueItem.objects.get(pk=items[0].pk).status == ItemStatus.DONE


def test_it_shows_a_missing_verdict_as_an_error(client, erin, filled):
    queue, items = filled
    client.force_login(erin)
    response = client.post(
        f"/t/acme/annotations/items/{items[0].pk}/", {"reasoning": "hm"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "Choose pass (P) or fail (F)." in response.content.decode()


def test_it_hides_auto_scores_when_the_queue_says_so(client, alice, erin, filled):
    queue, items = filled
    client.force_login(erin)
    assert (
        'id="auto-scores"'
        in client.get(f"/t/acme/annotations/items/{items[0].pk}/").content.decode()
    )
    with team_scope(queue.team):
        services.queue_update(team=queue.team, actor=alice, queue=queue, hide_auto_scores=True)
    body = client.get(f"/t/acme/annotations/items/{items[0].pk}/").content.decode()
    assert 'id="auto-scores"' not in body


def test_it_creates_a_queue_from_the_form(client, bob, acme):
    client.force_login(bob)
    response = client.post(
        "/t/acme/annotations/new/",
        {
            "name": "Tone",
            "annotators_per_item": 2,
            "fields_spec": "tone*: label(polite, rude)\nquality: number(1..5)\nnote: text",
        },
    )
    assert response.status_code == 302
    with team_scope(acme):
        from apps.annotations.models import AnnotationQueue

        queue = AnnotationQueue.objects.get(name="Tone")
    assert [f["kind"] for f in queue.form_fields] == ["label", "number", "text"]
    assert queue.form_fields[1]["max"] == 5


def test_it_fills_and_assigns_through_the_page(client, alice, erin, acme):
    experiment, _, _ = make_experiment(acme, alice, variants=("v1",), cells=CELLS)
    with team_scope(acme):
        queue = services.queue_create(team=acme, actor=alice, name="Page")
    client.force_login(alice)
    base = f"/t/acme/annotations/queues/{queue.pk}"
    assert (
        client.post(f"{base}/fill/", {"experiment": experiment.pk, "mode": "failed"}).status_code
        == 302
    )
    assert client.post(f"{base}/assign/", {"users": [erin.pk], "mode": "each"}).status_code == 302
    with team_scope(acme):
        assert QueueItem.objects.filter(queue=queue, assignments__user=erin).count() == 3
    client.force_login(erin)
    assert client.get("/t/acme/annotations/inbox/").status_code == 200
    nav = client.get("/t/acme/nav-counts/").content.decode()
    assert 'title="Assigned to you">3<' in nav


def test_it_keeps_page_queries_flat(client, alice, erin, acme, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    small, _, _ = make_experiment(acme, alice, name="small", variants=("v1",), cells=CELLS[:2])
    big, _, _ = make_experiment(acme, alice, name="big", variants=("v1",), cells=CELLS)
    with team_scope(acme):
        queue = services.queue_create(team=acme, actor=alice, name="Flat")
        services.queue_fill_from_experiment(
            team=acme, actor=alice, queue=queue, experiment=small, mode="all"
        )
        services.items_assign(team=acme, actor=alice, queue=queue, users=[erin])
    client.force_login(alice)
    url = f"/t/acme/annotations/queues/{queue.pk}/"
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    with team_scope(acme):
        services.queue_fill_from_experiment(
            team=acme, actor=alice, queue=queue, experiment=big, mode="all"
        )
        services.items_assign(team=acme, actor=alice, queue=queue, users=[erin])
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)
    client.force_login(erin)
    with team_scope(acme):
        first = QueueItem.objects.filter(queue=queue).order_by("position").first()
    with django_assert_max_num_queries(30):
        client.get(f"/t/acme/annotations/items/{first.pk}/", HTTP_HX_REQUEST="true")


def test_it_shows_the_range_of_a_number_field(client, alice, erin, filled):
    queue, items = filled
    with team_scope(queue.team):
        services.queue_update(
            team=queue.team,
            actor=alice,
            queue=queue,
            form_fields=[{"name": "helpfulness", "kind": "number", "min": 1, "max": 5}],
        )
    client.force_login(erin)
    body = client.get(f"/t/acme/annotations/items/{items[0].pk}/").content.decode()
    assert 'placeholder="1–5"' in body


def test_it_shows_which_item_filter_is_on(client, alice, filled):
    queue, _ = filled
    client.force_login(alice)
    body = client.get(f"/t/acme/annotations/queues/{queue.pk}/").content.decode()
    assert '<nav class="subnav" aria-label="Filter by status">' in body


def test_it_reports_an_experiment_that_names_nothing_on_the_page(client, alice, filled):
    queue, _ = filled
    client.force_login(alice)
    for value, message in (("", "Choose an experiment."), ("x", "No such experiment.")):
        response = client.post(
            f"/t/acme/annotations/queues/{queue.pk}/fill/", {"experiment": value}
        )
        assert response.status_code == 200
        assert message in response.content.decode()


def test_it_pages_items_keeping_the_status_filter(client, alice, filled):
    queue, _ = filled
    with team_scope(queue.team):
        QueueItem.objects.bulk_create(
            QueueItem(
                team=queue.team,
                queue=queue,
                position=100 + n,
                source_ref=f"t:{n}",
                snapshot={"input": "q", "output": "a", "error": "", "auto_scores": []},
            )
            for n in range(60)
        )
    client.force_login(alice)
    body = client.get(f"/t/acme/annotations/queues/{queue.pk}/?status=open").content.decode()
    assert '<nav class="pagination" aria-label="Pages">' in body
    assert 'href="?status=open&amp;page=2"' in body
    fragment = client.get(
        f"/t/acme/annotations/queues/{queue.pk}/?status=open&page=2", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "<html" not in fragment and 'id="queue-items"' in fragment
