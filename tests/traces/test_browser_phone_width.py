"""At phone width the explorer, the annotation and evaluator pages fit the screen."""

from tests.conftest import PASSWORD
from tests.phone_width import seed_demo_users, sideways


def test_it_fits_trace_pages_on_a_phone(new_page, transactional_db):
    from apps.annotations.models import AnnotationQueue
    from apps.core.tenancy import team_scope
    from apps.teams.models import Team
    from apps.traces.models import Trace

    users = seed_demo_users(PASSWORD)
    with team_scope(Team.objects.get(slug="acme")):
        trace = Trace.objects.order_by("pk").first()
        queue = AnnotationQueue.objects.get()
    page = new_page(users["alice"])
    paths = [
        "/t/acme/traces/",
        "/t/acme/traces/functions/",
        f"/t/acme/traces/{trace.trace_id}/",
        "/t/acme/experiments/evaluators/",
        f"/t/acme/annotations/queues/{queue.pk}/",
        "/t/acme/annotations/inbox/",
    ]
    for path in paths:
        assert page.goto(path).status == 200, path
    assert sideways(page, paths) == {}
