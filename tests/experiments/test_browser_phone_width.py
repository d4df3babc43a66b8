"""At phone width an experiment's results stay readable: the table scrolls sideways
instead of squeezing inputs and outputs to a few letters a line."""

from tests.conftest import PASSWORD
from tests.phone_width import seed_demo_users


def test_it_keeps_result_cells_readable_on_a_phone(new_page, transactional_db, settings, demo_echo):
    from apps.experiments.models import Experiment
    from apps.experiments.runner import execute

    settings.PROMPTYARD_DEMO_ECHO_URL = demo_echo
    users = seed_demo_users(PASSWORD)
    experiment = Experiment.objects.unscoped().get(
        name="support-reply v1 · v2 · v3 on support-golden"
    )
    execute(experiment.pk)

    page = new_page(users["alice"])
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/t/acme/experiments/{experiment.pk}/")
    widths = page.eval_on_selector_all(
        "#results-table pre", "els => els.map(e => e.getBoundingClientRect().width)"
    )
    assert len(widths) >= 30
    assert min(widths) >= 150, min(widths)
    # The page itself does not scroll sideways; the table's own box does.
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
