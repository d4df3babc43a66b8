"""In a real browser: run a prompt version on a dataset with an evaluator, watch the progress
bar finish, open the results."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from apps.experiments.models import Experiment
from apps.experiments.runner import execute
from tests.experiments.conftest import make_lab


def test_it_runs_a_version_on_a_dataset_and_shows_live_progress_and_results(
    new_page, acme, alice, demo_echo_server
):
    server = demo_echo_server(latency_ms=150)
    lab = make_lab(acme, alice, server.base_url)
    lab.evaluator(name="exact answer")
    page = new_page(alice)

    page.goto("/t/acme/prompts/qa/v/1/")
    page.get_by_role("link", name="Run on dataset").click()
    expect(page).to_have_url(re.compile(rf"/t/acme/experiments/new/\?version={lab.version.pk}$"))
    expect(page.get_by_role("heading", name="Run on dataset")).to_be_visible()
    expect(page.locator("#estimate-calls")).to_have_text("6 model calls")
    page.get_by_label("exact answer").check()
    page.get_by_label("Repetitions").fill("2")
    page.get_by_label("Concurrency").fill("1")
    # The estimate follows the form.
    expect(page.locator("#estimate-calls")).to_have_text("12 model calls")
    expect(page.locator("#estimate")).to_contain_text("This is an estimate")
    page.get_by_role("button", name="Start experiment").click()

    expect(page).to_have_url(re.compile(r"/t/acme/experiments/\d+/$"))
    expect(page.locator("#experiment-status")).to_have_text("Queued")
    experiment = Experiment.objects.unscoped().get()

    # The worker's job, run here; the page polls while it runs.
    execute(experiment.pk)

    expect(page.locator("#experiment-status")).to_have_text("Completed", timeout=15_000)
    expect(page.locator("#progress-counts")).to_contain_text("12 of 12")
    expect(page.locator("#experiment-progress")).to_have_attribute("value", "12")
    rows = page.locator("#results-table tbody tr")
    expect(rows).to_have_count(12)
    expect(rows.first).to_contain_text("echo: Q: question 0")
    expect(rows.first).to_contain_text("exact answer: pass")
    expect(page.locator("#summary")).to_contain_text("100.0 %")

    # The list shows the headline pass rate.
    page.get_by_role("link", name="Experiments").first.click()
    expect(page.locator("#experiments")).to_contain_text("100.0 %")
