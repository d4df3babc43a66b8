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


def test_it_folds_the_trace_filters_behind_a_button_on_a_phone(new_page, transactional_db):
    from playwright.sync_api import expect

    users = seed_demo_users(PASSWORD)
    page = new_page(users["alice"])
    # Wide: the filters are simply there, no "Filters" button.
    page.goto("/t/acme/traces/")
    expect(page.locator("#f-name")).to_be_visible()
    expect(page.locator("#trace-filters-box > summary")).to_be_hidden()
    # A phone: the results come first; "Filters" opens the form.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/t/acme/traces/")
    expect(page.locator("#f-name")).to_be_hidden()
    expect(page.locator("#trace-count")).to_be_in_viewport()
    page.get_by_text("Filters", exact=True).click()
    expect(page.locator("#f-name")).to_be_visible()
    page.fill("#f-name", "no-such-trace")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#trace-results")).to_contain_text("No trace matches")
