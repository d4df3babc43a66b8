"""In a real browser: alice builds a two-step chain in the prompt editor (the second step
fed the first one's output), opens it in the playground, runs it against demo-echo and
sees both steps' outputs and the final one."""

import pytest
from playwright.sync_api import expect

from apps.core.tenancy import team_scope


@pytest.mark.django_db(transaction=True)
def test_it_builds_a_chain_in_the_editor_and_runs_it_in_the_playground(
    new_page, acme, alice, demo_echo_server
):
    from apps.llm.services import provider_create
    from apps.prompts.models import PromptVersion
    from apps.prompts.services import prompt_create, version_create

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
        for name, template in [
            ("summarise", "Summarise: {{ q }}"),
            ("answer", "Answer from {{ summary }}"),
        ]:
            prompt = prompt_create(team=acme, actor=alice, name=name)
            version_create(
                team=acme,
                actor=alice,
                prompt=prompt,
                kind="text",
                template=template,
                model_settings={"provider_id": provider.pk, "model": "demo-echo"},
                commit_message="first",
            )

    page = new_page(alice)
    page.goto("/t/acme/prompts/new/")
    page.fill("#id_name", "qa-chain")
    page.check("input[name=kind][value=chain]")
    assert not page.locator("#id_template").is_visible()

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
    page.click("#editor button[type=submit]")
    page.wait_for_url("**/prompts/qa-chain/")

    with team_scope(acme):
        chain = PromptVersion.objects.get(prompt__name="qa-chain")
    assert chain.kind == "chain" and [s["name"] for s in chain.steps] == ["summarise", "answer"]

    page.goto("/t/acme/prompts/qa-chain/v/1/")
    expect(page.locator(".chain-steps")).to_contain_text("answer v1")
    page.get_by_role("link", name="Open in playground").click()
    page.fill("#chain-var-q", "why is the sky <b>blue</b>?")
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
