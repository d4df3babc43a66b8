"""bob asks the refine assistant beside the prompt editor to change the template, reads the
proposal as a diff, applies it to the editor, and saves it as a version; then in the
playground he applies a proposal to variant A. demo-echo's refine rule answers."""

from playwright.sync_api import expect

from apps.core.tenancy import team_scope


def test_it_applies_and_saves_the_assistants_proposal(new_page, acme, bob, greeting):
    from apps.playground.models import RefineConversation
    from apps.prompts.models import PromptVersion

    page = new_page(bob)
    page.goto("/t/acme/prompts/greeting/v/1/new/")
    panel = page.locator("#refine-panel")
    expect(panel.get_by_role("heading", name="Refine assistant")).to_be_visible()
    panel.get_by_label("Ask the assistant").fill("keep it short <b>now</b>")
    panel.get_by_role("button", name="Ask").click()
    diff = panel.locator("[data-proposal-diff]")
    expect(diff.locator("ins").last).to_have_text("Keep it short <b>now</b>.")
    assert diff.locator("b").count() == 0  # model output is text, never markup

    panel.get_by_role("button", name="Apply").click()
    expect(page.locator("#id_template")).to_have_value(
        "Say hello to {{ name }} in {{ tone }} words\n\nKeep it short <b>now</b>."
    )
    expect(panel.locator("[data-apply-status]")).to_contain_text("Applied")

    panel.get_by_label("Commit message").fill("shorter, by the assistant")
    panel.get_by_role("button", name="Save as greeting version").click()
    expect(panel.locator("[data-refine-saved]")).to_contain_text("greeting v2")
    with team_scope(acme):
        version = PromptVersion.objects.get(prompt=greeting.prompt, number=2)
        conversation = RefineConversation.objects.get()
    assert version.template.endswith("Keep it short <b>now</b>.")
    assert version.commit_message == "shorter, by the assistant"
    assert conversation.produced_version_id == version.pk


def test_it_applies_a_proposal_to_the_playgrounds_variant(new_page, acme, bob, greeting):
    page = new_page(bob)
    page.goto(f"/t/acme/playground/?version={greeting.pk}")
    panel = page.locator("#refine-panel")
    template = page.locator("[data-variant] textarea[data-field=template]").first
    template.fill("Hello {{ name }}, {{ tone }}")
    panel.get_by_label("Ask the assistant").fill("use a warmer tone")
    panel.get_by_role("button", name="Ask").click()
    # The assistant saw the template as edited on the page, not the saved version.
    expect(panel.locator("[data-proposal-diff] ins").last).to_have_text("Use a warmer tone.")
    with page.expect_response(lambda r: "/playground/variables/" in r.url):
        panel.get_by_role("button", name="Apply").click()
    expect(template).to_have_value("Hello {{ name }}, {{ tone }}\n\nUse a warmer tone.")
