"""In a real browser: alice builds a two-step chain in the prompt editor (the second step
fed the first one's output; no model settings shown; Enter in a field saves), opens it in
the playground, fills its input from a dataset row, runs it against demo-echo and sees both
steps' outputs and the final one, then evaluates it over the dataset and sees the scores
of the final output and of each step, per row."""

import pytest
from playwright.sync_api import expect

from apps.core.tenancy import team_scope
from tests.playground.conftest import chain_text_prompt


@pytest.mark.django_db(transaction=True)
def test_it_builds_a_chain_in_the_editor_and_runs_it_in_the_playground(
    new_page, acme, alice, demo_echo_server
):
    from apps.datasets.services import dataset_create, examples_bulk_create
    from apps.experiments.models import Experiment
    from apps.experiments.runner import execute
    from apps.experiments.services import evaluator_create
    from apps.llm.services import provider_create
    from apps.prompts.models import PromptVersion

    server = demo_echo_server()
    with team_scope(acme):
        provider = provider_create(
            team=acme,
            actor=alice,
            name="demo-echo",
            base_url=server.base_url,
            models=["demo-echo"],
            is_demo=True,
        )
        chain_text_prompt(acme, alice, provider, "summarise", "Summarise: {{ q }}")
        chain_text_prompt(acme, alice, provider, "answer", "Answer from {{ summary }}")
        dataset = dataset_create(team=acme, actor=alice, name="questions")
        examples_bulk_create(
            team=acme,
            actor=alice,
            dataset=dataset,
            rows=[{"input": {"q": q}} for q in ["why is the sky <b>blue</b>?", "how far?"]],
        )
        evaluator_create(
            team=acme,
            actor=alice,
            name="says-answer",
            kind="contains",
            params={"values": ["Answer"]},
        )

    page = new_page(alice)
    page.goto("/t/acme/prompts/new/")
    page.fill("#id_name", "qa-chain")
    page.check("input[name=kind][value=chain]")
    assert not page.locator("#id_template").is_visible()
    expect(page.locator("#model-settings")).to_be_hidden()  # a chain has none of its own

    def refreshed(action):
        """A step field changed: htmx redraws the steps (with the prompt's variables)."""
        with page.expect_response(
            lambda r: r.request.method == "POST" and "/prompts/new/" in r.url
        ):
            action()

    page.fill("#id_steps-0-name", "summarise")
    refreshed(lambda: page.select_option("#id_steps-0-prompt", "summarise"))
    refreshed(lambda: (page.fill("#id_steps-0-pin", "1"), page.press("#id_steps-0-pin", "Tab")))
    expect(page.locator("#id_steps-0-in-q")).to_be_visible()

    # Adding a step redraws the page (a plain submit): the chain so far is kept.
    page.click("#add-step")
    expect(page.locator("#step-1")).to_be_visible()
    expect(page.locator("#id_steps-0-name")).to_have_value("summarise")
    page.fill("#id_steps-1-name", "answer")
    refreshed(lambda: page.select_option("#id_steps-1-prompt", "answer"))
    refreshed(lambda: (page.fill("#id_steps-1-pin", "1"), page.press("#id_steps-1-pin", "Tab")))
    page.fill("#id_steps-1-in-summary", "{{ steps.summarise.output }}")
    page.fill("#id_commit_message", "Summarise, then answer")
    # Enter in a step's field saves (the form's default button), not "Show variables".
    page.press("#id_steps-1-in-summary", "Enter")
    page.wait_for_url("**/prompts/qa-chain/")

    with team_scope(acme):
        chain = PromptVersion.objects.get(prompt__name="qa-chain")
    assert chain.kind == "chain" and [s["name"] for s in chain.steps] == ["summarise", "answer"]

    page.goto("/t/acme/prompts/qa-chain/v/1/")
    expect(page.locator(".chain-steps")).to_contain_text("answer v1")
    page.get_by_role("link", name="Open in playground").click()
    page.wait_for_load_state("load")  # htmx binds the pickers once the page has loaded
    # The input filled from a dataset row.
    page.get_by_label("Dataset to fill the inputs from").select_option(label="questions")
    # Once htmx has settled the swapped fields (it binds the new picker then).
    picker = page.locator("#chain-inputs:not(.htmx-added) #chain-example")
    expect(picker).to_be_visible()
    picker.select_option(index=1)
    expect(page.locator("#chain-var-q")).to_have_value("why is the sky <b>blue</b>?")
    page.click("#chain-run")
    steps = page.locator("#chain-result .chain-run-step")
    expect(steps).to_have_count(2)
    expect(steps.nth(0).locator("[data-step-output]")).to_have_text(
        "echo: Summarise: why is the sky <b>blue</b>?"
    )
    expect(steps.nth(1).locator("[data-step-output]")).to_have_text(
        "echo: Answer from echo: Summarise: why is the sky <b>blue</b>?"
    )
    expect(page.locator("#chain-final")).to_have_text(
        "echo: Answer from echo: Summarise: why is the sky <b>blue</b>?"
    )
    # Untrusted text stays text: no element was made from it.
    assert page.locator("#chain-result b").count() == 0

    # Evaluated over the dataset: the final output and each step scored, per row.
    page.select_option("#chain-eval-dataset", label="questions")
    page.get_by_label("says-answer").check()
    expect(page.locator("#chain-eval-steps")).to_be_checked()
    page.click("#chain-evaluate")
    panel = page.locator("#evaluation")
    expect(panel.locator("[data-status]")).to_have_text("Queued")
    with team_scope(acme):
        experiment = Experiment.objects.get()
    execute(experiment.pk)
    expect(panel.locator("[data-status]")).to_have_text("Completed")
    summary = panel.locator("[data-variant-summary='chain · v1']")
    expect(summary.locator("[data-score='says-answer']")).to_contain_text("100 % pass")
    expect(summary.locator("[data-score='says-answer · summarise']")).to_contain_text("0 % pass")
    expect(summary.locator("[data-score='says-answer · answer']")).to_contain_text("100 % pass")
    first_row = panel.locator(".result-steps").first
    first_row.locator("summary").click()
    expect(first_row.locator("[data-step='summarise']")).to_contain_text(
        "says-answer · summarise: fail"
    )
    expect(first_row.locator("[data-step='answer']")).to_contain_text("says-answer · answer: pass")
    assert page.locator("#evaluation b").count() == 0
    panel.get_by_role("link", name=f"Experiment #{experiment.pk}").click()
    page.wait_for_url(f"**/experiments/{experiment.pk}/")
