"""In a real browser: start an optimisation from a prompt version, watch its progress and
score curve, and request promotion of the version it found with the evidence pre-filled."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from apps.optimisation.engine import execute
from apps.optimisation.models import OptimisationRun


def test_it_starts_watches_and_promotes_an_optimisation(new_page, demo_world):
    world = demo_world
    page = new_page(world.alice)
    page.goto("/t/acme/prompts/support-reply/v/1/")
    page.get_by_role("link", name="Optimise").click()
    expect(page).to_have_url(re.compile(rf"/t/acme/optimisation/new/\?version={world.version.pk}$"))
    page.get_by_label("Dataset").select_option(label="support-golden")
    page.get_by_label("states-order-status").check()
    page.get_by_label("thanks-customer").check()
    page.get_by_label("Max rounds").fill("3")
    page.get_by_role("button", name="Start optimisation").click()

    expect(page).to_have_url(re.compile(r"/t/acme/optimisation/\d+/$"))
    expect(page.locator("#run-status")).to_have_text("Queued")
    run = OptimisationRun.objects.unscoped().get()

    # The worker's job, run here; the page polls while it runs and reloads when it ends.
    execute(run.pk)

    expect(page.locator("#run-status")).to_have_text("Finished", timeout=15_000)
    expect(page.locator("#score-curve svg")).to_be_visible()
    expect(page.locator("#best-rate")).to_have_text("1.00")
    expect(page.locator("#candidates")).to_contain_text("include the order status")
    page.get_by_role("link", name="Request promotion of v4").click()
    expect(page.locator("#description")).to_contain_text("held-out examples of support-golden")
    page.get_by_role("button", name="Request promotion").click()
    expect(page).to_have_url(re.compile(r"/t/acme/prompts/requests/\d+/$"))
    expect(page.locator("body")).to_contain_text("held-out examples of support-golden")
