"""alice fills a queue with an experiment's failed rows and assigns them to erin; erin
annotates three items with the keyboard only; alice sees the human verdicts beside the
automatic ones."""

import re

from playwright.sync_api import expect

from apps.core.tenancy import team_scope
from apps.experiments.models import Score
from tests.annotations.factories import make_experiment

CELLS = [
    {"variant": "v1", "example": 1, "scores": {"judge": False}, "output": "Refunds <never>"},
    {"variant": "v1", "example": 2, "scores": {"judge": True}, "output": "Fine answer"},
    {"variant": "v1", "example": 3, "scores": {"judge": False}, "output": "Wrong city"},
    {"variant": "v1", "example": 4, "scores": {"judge": False}, "output": "Rude reply"},
]


def _panel_item(page):
    return page.locator("#annotate-panel").get_attribute("data-item")


def _wait_for_new_item(page, previous):
    page.wait_for_function(
        "prev => { const p = document.getElementById('annotate-panel');"
        " return p && p.dataset.item !== prev; }",
        arg=previous,
    )
    return _panel_item(page)


def test_it_runs_a_queue_end_to_end_with_the_keyboard(new_page, acme, alice, erin):
    experiment, _, _ = make_experiment(
        acme, alice, name="Support v1", variants=("v1",), cells=CELLS
    )

    # --- alice: create, fill with the failed rows, assign to erin ---------------------
    page = new_page(alice)
    page.goto("/t/acme/annotations/")
    page.get_by_role("link", name="New queue").click()
    page.fill("input[name=name]", "Support review")
    page.fill("textarea[name=instructions]", "Fail anything that **invents** a policy.")
    page.get_by_role("button", name="Create queue").click()
    expect(page.locator("h1")).to_have_text("Support review")
    page.select_option("#fill-experiment", str(experiment.pk))
    page.check("input[name=mode][value=failed]")
    page.get_by_role("button", name="Add items").click()
    expect(page.locator(".messages")).to_contain_text("Added 3 items")
    page.locator("#assign").get_by_label(re.compile("erin@acme.test")).check()
    page.locator("#assign").get_by_role("button", name="Assign").click()
    expect(page.locator(".messages")).to_contain_text("Made 3 assignments to erin@acme.test")

    # --- erin: the nav count, then keyboard only --------------------------------------
    erin_page = new_page(erin)
    erin_page.goto("/t/acme/annotations/inbox/")
    expect(erin_page.locator("nav.mainnav .badge")).to_have_text("3")
    erin_page.goto(f"/t/acme/annotations/queues/{page.url.rstrip('/').split('/')[-1]}/start/")
    expect(erin_page.locator("#my-progress")).to_contain_text("0 of 3")
    erin_page.evaluate("window.__noReload = true")
    first = _panel_item(erin_page)
    expect(erin_page.locator("#item-output")).to_have_text("Refunds <never>")  # escaped text

    erin_page.keyboard.press("f")
    erin_page.keyboard.press("r")
    erin_page.keyboard.type("Invents a no-refund policy")
    erin_page.keyboard.press("Enter")
    second = _wait_for_new_item(erin_page, first)
    expect(erin_page.locator("#my-progress")).to_contain_text("1 of 3")

    erin_page.keyboard.press("s")  # skip: comes back after the others
    third = _wait_for_new_item(erin_page, second)
    erin_page.keyboard.press("p")
    erin_page.keyboard.press("Enter")
    back = _wait_for_new_item(erin_page, third)
    assert back == second

    erin_page.keyboard.press("k")  # previous: the first item, with erin's verdict
    assert _wait_for_new_item(erin_page, second) == first
    expect(erin_page.locator("input[name=passed][value=fail]")).to_be_checked()
    expect(erin_page.locator("#reasoning")).to_have_value("Invents a no-refund policy")
    erin_page.keyboard.press("j")
    assert _wait_for_new_item(erin_page, first) == second

    erin_page.keyboard.press("f")
    erin_page.keyboard.press("r")
    erin_page.keyboard.type("Wrong city")
    erin_page.keyboard.press("Escape")
    erin_page.keyboard.press("Enter")
    expect(erin_page.locator("#queue-finished")).to_be_visible()
    assert erin_page.evaluate("window.__noReload") is True  # HTMX swaps, no reloads

    with team_scope(acme):
        human = Score.objects.filter(source="human").order_by("result__position")
        assert [(s.passed, s.author_id) for s in human] == [
            (False, erin.pk),  # example 1: fail, by keyboard
            (False, erin.pk),  # example 3: skipped, then fail
            (True, erin.pk),  # example 4: pass
        ]

    # --- alice sees human verdicts beside the judge's ---------------------------------
    page.reload()
    rows = page.locator("#queue-items tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0).locator(".auto-verdicts")).to_contain_text("judge: fail")
    expect(rows.nth(0).locator(".human-verdicts")).to_contain_text("erin@acme.test: fail")
    expect(rows.nth(1).locator(".human-verdicts")).to_contain_text("erin@acme.test: fail")
    expect(rows.nth(2).locator(".human-verdicts")).to_contain_text("erin@acme.test: pass")
    expect(page.locator("#agreement")).to_contain_text("judge")

    # ... and on the experiment's results page, the human score beside the judge's.
    page.goto(f"/t/acme/experiments/{experiment.pk}/")
    row = page.locator("#results-table tbody tr").filter(has_text="Refunds <never>")
    expect(row).to_contain_text("judge: fail")
    expect(row).to_contain_text("Human: fail")
    expect(page.locator("#results-table tbody tr").filter(has_text="Rude reply")).to_contain_text(
        "Human: pass"
    )
