"""In a real browser: start an optimisation from a prompt version, watch its progress and
score curve, and request promotion of the version it found with the run pre-filled as its
evidence; production's policy takes the run's held-out comparison, and a second person
sees it on the request and approves."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from apps.core.tenancy import team_scope
from apps.experiments.services import policy_set
from apps.optimisation.engine import execute
from apps.optimisation.models import OptimisationRun
from apps.prompts.selectors import version_at_tag


def test_it_starts_watches_and_promotes_an_optimisation(new_page, demo_world, bob):
    world = demo_world
    with team_scope(world.team):
        # production demands evidence: not worse by more than 10 points on the golden set.
        policy_set(
            team=world.team,
            actor=world.alice,
            prompt=world.version.prompt,
            tag_name="production",
            dataset=world.dataset,
            evaluators=[e.pk for e in world.evaluators],
            tolerance=0.10,
        )
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
    expect(page.locator("#proposals")).to_contain_text("accepted")
    page.get_by_role("link", name="Request promotion of v4").click()
    expect(page.locator("#evidence")).to_have_value(f"optimisation:{run.pk}")
    expect(page.locator("#description")).to_contain_text("held-out examples of support-golden")
    page.get_by_role("button", name="Request promotion").click()
    expect(page).to_have_url(re.compile(r"/t/acme/prompts/requests/\d+/$"))
    expect(page.locator("body")).to_contain_text("held-out examples of support-golden")
    evidence = page.locator(f'[data-optimisation="{run.pk}"]')
    expect(evidence).to_contain_text("meets the policy")
    request_url = page.url

    # The reviewer sees the run's comparison before approving, and can open the run.
    reviewer = new_page(bob)
    reviewer.goto(request_url)
    evidence = reviewer.locator(f'[data-optimisation="{run.pk}"]')
    expect(evidence).to_contain_text("Held-out validation")
    expect(evidence.locator(".evidence-summary")).to_contain_text("states-order-status")
    expect(reviewer.locator("#approve-button")).to_be_enabled()
    reviewer.fill("#id_comment", "The run shows it on held-out rows.")
    reviewer.get_by_role("button", name="Approve and move production").click()
    expect(reviewer.locator("#promotion-status")).to_contain_text("Approved")
    with team_scope(world.team):
        assert version_at_tag(world.version.prompt, "production").number == 4
    reviewer.goto(request_url)
    reviewer.locator(f'[data-optimisation="{run.pk}"] h3 a').click()
    expect(reviewer).to_have_url(re.compile(rf"/t/acme/optimisation/{run.pk}/$"))
