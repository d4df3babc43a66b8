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


# Where each cell of a row starts, and what labels it (the ::before text), in page pixels.
CELLS = """(selector) => Array.from(document.querySelectorAll(selector + ' tbody tr')).map(
  row => Array.from(row.cells).map(cell => {
    const box = cell.getBoundingClientRect();
    return {x: box.x, y: box.y, right: box.right,
            label: getComputedStyle(cell, '::before').content};
  }))"""


def test_it_stacks_the_experiment_list_and_comparison_summary_on_a_phone(
    new_page, transactional_db, settings, demo_echo
):
    from apps.experiments.models import Experiment
    from apps.experiments.runner import execute

    settings.PROMPTYARD_DEMO_ECHO_URL = demo_echo
    users = seed_demo_users(PASSWORD)
    experiment = Experiment.objects.unscoped().get(
        name="support-reply v1 · v2 · v3 on support-golden"
    )
    execute(experiment.pk)

    page = new_page(users["alice"])
    for path, table, first_label in (
        ("/t/acme/experiments/", "#experiments", '"Name"'),
        (f"/t/acme/experiments/{experiment.pk}/compare/", "table.compare-summary", '"Evaluator"'),
    ):
        # Wide screen: a table, its cells side by side, no labels of their own.
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(path)
        rows = page.evaluate(CELLS, table)
        assert rows and rows[0][1]["x"] > rows[0][0]["x"], path
        assert rows[0][0]["label"] in ("none", "normal"), path
        # A phone: a card per row, its cells one under the other, each labelled.
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(path)
        rows = page.evaluate(CELLS, table)
        for cells in rows:
            assert [c["x"] for c in cells] == [cells[0]["x"]] * len(cells), path
            assert all(a["y"] < b["y"] for a, b in zip(cells, cells[1:], strict=False)), path
            assert max(c["right"] for c in cells) <= 390, path
        assert rows[0][0]["label"] == first_label, path
        assert page.locator(f"{table} thead").is_visible() is False or (
            page.locator(f"{table} thead").bounding_box()["height"] <= 1
        )
        assert page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ), path
