"""The first hour of a new team, in a real browser, on PostgreSQL: every step of the cycle
without a workaround, asserting what the person sees at each one.

Olga signs up (verifying her address) and creates a team (its slug filled from the name),
invites Tom by email (a second browser; his address is filled in at sign-up), starts on
demo-echo in one click, writes a prompt without a model, uploads a
CSV, runs the prompt in the playground and saves a second version, runs both on the
dataset with an explicit baseline, compares them, annotates with reasoning, adds the
failures to the dataset without duplicates, makes an API key and fetches the prompt with
the SDK, then promotes v2 to production through a tag policy: the gating experiment
unblocks it, and Tom, once granted approval, approves it.

Run on PostgreSQL: ./scripts/with_postgres.sh $PY/pytest tests/teams/test_browser_first_hour.py
(it runs on SQLite too, skipped unless PROMPTYARD_FIRST_HOUR_ON_SQLITE is set).
"""

from __future__ import annotations

import os
import re
import threading
import time

import pytest
from django.core import mail
from django.db import connection
from playwright.sync_api import expect

PASSPHRASE = "a-long-passphrase-for-the-first-hour"
CSV = (
    "question,expected\n"
    "Where is my order?,It ships within 2 days.\n"
    "Can I get a refund?,Refunds within 30 days.\n"
    "Do you ship abroad?,We ship to the EU.\n"
    "How do I reset my password?,Use the reset link.\n"
)


@pytest.fixture
def first_hour_settings(settings, demo_echo):
    if connection.vendor != "postgresql" and not os.environ.get("PROMPTYARD_FIRST_HOUR_ON_SQLITE"):
        pytest.skip("the first hour runs on PostgreSQL: ./scripts/with_postgres.sh")
    settings.PROMPTYARD_DEMO_ECHO_URL = demo_echo
    # Experiments run in the request that starts them (the worker's job, inline).
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    return settings


def _sign_up(page, email, name):
    """Sign up (the address already filled in when `email` is None), follow the mailed
    verification link and log in on the page it leads to."""
    if email is not None:
        page.fill("input[name=email]", email)
    email = page.locator("input[name=email]").input_value()
    page.fill("input[name=name]", name)
    page.fill("input[name=password1]", PASSPHRASE)
    page.fill("input[name=password2]", PASSPHRASE)
    page.click("main form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Check your inbox")
    message = [m for m in mail.outbox if m.to == [email]][-1]
    page.goto(re.search(r"https?://[^/\s]+(/\S+)", message.body).group(1))
    expect(page.locator("input[name=username]")).to_have_value(email)
    page.fill("input[name=password]", PASSPHRASE)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("networkidle")


def _messages(page):
    return page.locator(".messages")


@pytest.mark.django_db(transaction=True)
def test_the_first_hour_of_a_new_team(new_page, live_server, first_hour_settings):
    from apps.teams.models import Team

    # --- sign up and create a team ------------------------------------------------------
    olga = new_page()
    olga.goto("/accounts/signup/")
    _sign_up(olga, "olga@lighthouse.test", "Olga")
    expect(olga).to_have_url(re.compile(r"/teams/new/$"))
    olga.fill("input[name=name]", "Lighthouse Support")
    expect(olga.locator("input[name=slug]")).to_have_value("lighthouse-support")
    olga.click("main form button[type=submit]")
    expect(olga).to_have_url(re.compile(r"/t/lighthouse-support/settings/members/$"))
    expect(_messages(olga)).to_contain_text("Team Lighthouse Support created")
    base = "/t/lighthouse-support"

    # --- invite a teammate, who joins from a second browser ------------------------------
    olga.goto(f"{base}/settings/invites/")
    olga.fill("input[name=email]", "tom@lighthouse.test")
    olga.select_option("select[name=role]", "editor")
    olga.click("text=Create invite link")
    link = olga.locator("#invite-link").input_value()
    tom = new_page()
    tom.goto(link)
    expect(tom.locator("h1")).to_contain_text("Join Lighthouse Support")
    tom.click("text=Sign up and join")
    expect(tom.locator("input[name=email]")).to_have_value("tom@lighthouse.test")
    _sign_up(tom, None, "Tom")
    expect(tom).to_have_url(re.compile(r"/teams/invite/"))
    tom.click("button:has-text('Join Lighthouse Support')")
    expect(tom).to_have_url(re.compile(r"/t/lighthouse-support/"))
    expect(_messages(tom)).to_contain_text("You joined as Editor")

    # --- no provider yet: demo-echo in one click, as the team's default model ------------
    olga.goto(f"{base}/playground/")
    offer = olga.locator("#setup-offer")
    expect(offer).to_contain_text("This team has no model provider yet")
    offer.get_by_role("button", name=re.compile("Use demo-echo")).click()
    expect(olga).to_have_url(re.compile(r"/playground/$"))
    expect(_messages(olga)).to_contain_text("and the team's default model")
    expect(olga.locator("#setup-offer")).to_have_count(0)
    team = Team.objects.get(slug="lighthouse-support")
    assert team.default_model == "demo-echo"

    # --- a prompt saved without a model; no error before anything is typed ---------------
    olga.goto(f"{base}/prompts/new/")
    olga.fill("#id_name", "support-reply")
    olga.fill("#id_template", "Answer the customer politely: {{ question }}")
    expect(olga.locator("#preview-text")).to_have_text("Answer the customer politely: [question]")
    expect(olga.locator("#template-error")).to_have_count(0)
    expect(olga.locator("#preview-hint")).to_contain_text("Type sample values for question")
    expect(olga.locator("#id_provider_id")).to_have_value("")  # None (choose when running)
    olga.fill("#id_commit_message", "First answer")
    olga.click("#editor button[type=submit]")
    expect(olga).to_have_url(re.compile(r"/prompts/support-reply/$"))
    expect(_messages(olga)).to_contain_text("Prompt support-reply created with v1.")

    # --- a dataset from a CSV -----------------------------------------------------------
    olga.goto(f"{base}/datasets/")
    olga.fill("input[name=name]", "golden")
    olga.get_by_role("button", name="Create dataset").click()
    olga.get_by_role("link", name=re.compile("Import")).first.click()
    olga.set_input_files(
        "input[name=file]",
        files=[{"name": "golden.csv", "mimeType": "text/csv", "buffer": CSV.encode()}],
    )
    olga.get_by_role("button", name="Upload and preview").click()
    olga.get_by_label("Target of column expected").select_option("expected")
    expect(olga.locator("#preview-table tbody tr")).to_have_count(4)
    olga.get_by_role("button", name="Import all rows").click()
    expect(_messages(olga)).to_contain_text("Imported 4 rows")

    # --- the playground runs v1 on the team default, and saves v2 ------------------------
    olga.goto(f"{base}/prompts/support-reply/v/1/")
    olga.get_by_role("link", name="Open in playground").click()
    variant = olga.locator("[data-variant]").first
    expect(variant.locator("[data-field=provider_model] option:checked")).to_have_text("demo-echo")
    olga.fill("#var-question", "Where is my order?")
    olga.get_by_role("button", name="Run all variants").click()
    expect(variant.locator("[data-output]")).to_contain_text("Where is my order?")
    expect(variant.locator("[data-stats]")).to_contain_text("tokens")
    variant.locator("textarea[data-field=template]").fill(
        "You are a support agent. Thank the customer, then answer: {{ question }}"
    )
    variant.get_by_role("button", name="Save as new version…").click()
    variant.locator("[data-save-field=commit_message]").fill("Thank the customer first")
    variant.get_by_role("button", name="Save new version").click()
    expect(variant.locator("[data-save-result]")).to_contain_text("Saved as support-reply v2")

    # --- an experiment on both versions, v1 the baseline by choice -----------------------
    olga.goto(f"{base}/experiments/evaluators/")
    olga.fill("#id_name", "not rambling")
    olga.select_option("#id_kind", "length")
    expect(olga.locator("#params-length")).to_be_visible()
    expect(olga.locator("#params-regex")).to_be_hidden()
    olga.fill("#id_length__max_length", "400")
    olga.get_by_role("button", name="Create evaluator").click()
    expect(olga.locator("#evaluators")).to_contain_text('"max_length": 400')

    olga.goto(f"{base}/experiments/new/")
    olga.fill("#id_name", "v1 vs v2")
    versions = olga.locator("#version-choices label")
    versions.filter(has_text="support-reply v2 [demo-echo]").locator("input").check()
    versions.filter(has_text="support-reply v1 [no model]").locator("input").check()
    default_model = olga.locator("#model-choices label", has_text="(team default)")
    expect(default_model).to_contain_text("demo-echo · demo-echo")
    expect(default_model.locator("input")).to_be_checked()
    plan = olga.locator("#variant-plan")
    expect(plan.locator("tbody tr")).to_have_count(2)
    expect(olga.locator("#baseline-hint")).to_contain_text("Pick the baseline")
    plan.get_by_label("support-reply v1", exact=True).check()
    olga.get_by_label("not rambling").check()
    expect(olga.locator("#estimate-calls")).to_have_text("8 model calls")
    olga.get_by_role("button", name="Start experiment").click()
    expect(olga).to_have_url(re.compile(r"/experiments/\d+/$"))
    expect(olga.locator("#experiment-status")).to_have_text("Completed", timeout=20_000)
    variants = olga.locator("dt:has-text('Variants') + dd")
    expect(variants).to_contain_text("support-reply v1 baseline")
    experiment_url = olga.url

    # --- the comparison -------------------------------------------------------------------
    olga.goto(experiment_url + "compare/")
    expect(olga.locator("main")).to_contain_text("baseline: support-reply v1")
    expect(olga.locator("main")).to_contain_text("support-reply v2")

    # --- annotation, with reasoning for every Fail ----------------------------------------
    olga.goto(f"{base}/annotations/")
    olga.get_by_role("link", name="New queue").click()
    olga.fill("input[name=name]", "First look")
    expect(olga.locator("input[name=fail_needs_reasoning]")).to_be_checked()
    olga.get_by_role("button", name="Create queue").click()
    experiment_id = experiment_url.rstrip("/").split("/")[-1]
    olga.select_option("#fill-experiment", experiment_id)
    olga.get_by_role("button", name="Add items").click()
    expect(_messages(olga)).to_contain_text("Added 8 items")
    olga.locator("#assign").get_by_label(re.compile("olga@lighthouse.test")).check()
    olga.locator("#assign").get_by_role("button", name="Assign").click()
    olga.click("#start-annotating")
    expect(olga).to_have_url(re.compile(r"/annotations/items/\d+/$"))
    fail = "#annotate-panel input[name=passed][value=fail]"
    save = "#annotate-panel form.verdict button[type=submit]"
    # A Fail with no reasoning is refused, and says why.
    olga.check(fail)
    olga.click(save)
    expect(olga.locator("#verdict-error")).to_contain_text("Say why it fails")
    # Fail, with reasoning, no correction: the row is the dataset's own example again.
    olga.check(fail)
    olga.fill("#reasoning", "Does not thank the customer.")
    first = olga.locator("#annotate-panel").get_attribute("data-item")
    olga.click(save)
    olga.wait_for_function(
        "prev => document.getElementById('annotate-panel').dataset.item !== prev", arg=first
    )
    # Fail with a corrected answer: a new example.
    olga.check(fail)
    olga.fill("#reasoning", "Too curt.")
    olga.locator("#annotate-panel details summary").click()
    olga.fill("#corrected-expected", "Thank you for asking! It ships within 2 days.")
    second = olga.locator("#annotate-panel").get_attribute("data-item")
    olga.click(save)
    olga.wait_for_function(
        "prev => document.getElementById('annotate-panel').dataset.item !== prev", arg=second
    )

    # --- failures to the dataset, without duplicates ---------------------------------------
    olga.goto(f"{base}/annotations/")
    olga.get_by_role("link", name="First look").click()
    olga.select_option("#bulk-dataset", label="golden")
    olga.get_by_role("button", name="Add all failed items").click()
    expect(_messages(olga)).to_contain_text(
        "Added 1 example to golden as revision 2; skipped 1 exact duplicate."
    )

    # --- an API key, and the SDK fetching over HTTP ------------------------------------------
    olga.goto(f"{base}/settings/api-keys/")
    olga.fill("input[name=name]", "support bot")
    olga.get_by_role("button", name="Create key").click()
    raw_key = olga.locator("#api-key-secret").input_value()
    assert raw_key.startswith("pyd_")

    from promptyard import Promptyard

    yard = Promptyard(api_key=raw_key, base_url=live_server.url)
    fetched = yard.get_prompt("support-reply", version=2, cache_ttl=0)
    assert fetched.render(question="Hi?").startswith("You are a support agent.")

    # --- production, first move: Tom may review only once granted ------------------------
    olga.goto(f"{base}/prompts/support-reply/v/1/")
    olga.click("text=Request promotion to production")
    olga.click("#promotion-form button[type=submit]")
    step = olga.locator("#next-step")
    expect(step).to_contain_text("Nobody but the requester may review this request")
    expect(step).to_contain_text("Editors (Tom) cannot review promotions of this prompt")
    first_request = olga.url
    olga.goto(f"{base}/prompts/support-reply/settings/")
    olga.select_option("#grant-user", label="tom@lighthouse.test (Editor)")
    olga.get_by_role("button", name="Grant approval").click()
    tom.goto(first_request)
    tom.fill("#id_comment", "First production version.")
    tom.get_by_role("button", name="Approve and move production").click()
    expect(tom.locator("#promotion-status")).to_have_text("Approved")

    # --- a tag policy, then v2 gated: the gating experiment unblocks it ---------------------
    olga.goto(f"{base}/prompts/support-reply/settings/")
    policy = olga.locator("#policy-form")
    policy.locator("#policy-dataset").select_option(label="golden")
    policy.get_by_label("not rambling").check()
    policy.locator("#policy-rule").select_option("no_detectable_regression")
    policy.locator("#policy-tolerance").fill("0")
    policy.get_by_role("button", name="Save policy").click()
    expect(_messages(olga)).to_contain_text("Policy of 'production' saved.")

    olga.goto(f"{base}/prompts/support-reply/v/2/")
    olga.click("text=Request promotion to production")
    olga.click("#promotion-form button[type=submit]")
    expect(olga.locator("#policy-blockers")).to_contain_text("Approval is blocked")
    step = olga.locator("#next-step")
    expect(step).to_contain_text("Run the gating experiment")
    expect(step).to_contain_text("Olga")
    olga.click("#run-gate")
    expect(_messages(olga)).to_contain_text("Gating experiment")
    expect(olga.locator("#evidence")).to_contain_text("meets the policy")
    expect(olga.locator("#policy-blockers")).to_have_count(0)
    step = olga.locator("#next-step")
    expect(step).to_contain_text("Approve or reject it.")
    expect(step).to_contain_text("Tom")
    olga.select_option("#ask-reviewer-select", label="Tom (tom@lighthouse.test)")
    olga.locator("#ask-reviewer").get_by_role("button", name="Ask to review").click()
    expect(_messages(olga)).to_contain_text("Asked Tom to review")

    # --- Tom approves from his inbox --------------------------------------------------------
    tom.goto(f"{base}/prompts/reviews/")
    row = tom.locator("#inbox tbody tr", has_text="support-reply")
    expect(row).to_contain_text("asked you")
    row.get_by_role("link").first.click()
    tom.get_by_role("button", name="Approve and move production").click()
    expect(tom.locator("#promotion-status")).to_have_text("Approved")

    # The application picks up production without a deploy.
    assert yard.get_prompt("support-reply", cache_ttl=0).version == 2
    yard.close()
    _hang_up(olga, tom)


def _hang_up(*pages):
    """Close the browsers' connections now: each (like the SDK's) keeps a server thread, and
    its database connection, open until the client hangs up, and PostgreSQL refuses to
    drop the test database while one is open."""
    for page in pages:
        page.context.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
        thread.name.endswith("(process_request_thread)") for thread in threading.enumerate()
    ):
        time.sleep(0.05)
