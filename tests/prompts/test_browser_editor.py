"""In a real browser: bob creates a chat prompt with a history placeholder from "New
prompt", watching the live preview; a template error shows inline with its line."""

import pytest

from apps.core.tenancy import team_scope


@pytest.mark.django_db(transaction=True)
def test_it_creates_a_chat_prompt_with_live_preview(new_page, acme, bob):
    page = new_page(bob)
    page.goto("/t/acme/prompts/")
    page.click("text=New prompt")
    page.fill("#id_name", "helpdesk")
    page.check("input[name=kind][value=chat]")
    assert not page.locator("#id_template").is_visible()
    rows = page.locator(".message-row")
    rows.nth(0).locator("textarea").fill("You help {{ company }} customers.")
    rows.nth(1).locator("select").select_option("placeholder")
    rows.nth(1).locator("textarea").fill("history")
    page.click("text=Add message")
    # A function, not a bare expression: polling a bare expression evaluates a string, which
    # the page's CSP (no unsafe-eval) refuses whenever the condition is not met at once.
    page.wait_for_function("() => document.querySelectorAll('.message-row').length === 3")
    rows.nth(2).locator("textarea").fill("{{ question")
    page.wait_for_selector("#template-error:has-text('line 1')")
    assert "message 3" in page.locator("#template-error").inner_text()
    rows.nth(2).locator("textarea").fill("{{ question }}")
    page.wait_for_selector("#sample-question")
    page.fill("#sample-company", "Acme")
    page.fill("#sample-question", "Where is my order?")
    page.wait_for_selector("#preview-output:has-text('Where is my order?')")
    assert "You help Acme customers." in page.locator("#preview-output").inner_text()
    page.fill("#id_commit_message", "First helpdesk prompt")
    page.click("#editor button[type=submit]")
    page.wait_for_url("**/prompts/helpdesk/")

    from apps.prompts.models import PromptVersion

    with team_scope(acme):
        version = PromptVersion.objects.get(prompt__name="helpdesk")
    assert version.messages == [
        {"role": "system", "content": "You help {{ company }} customers."},
        {"role": "placeholder", "name": "history"},
        {"role": "user", "content": "{{ question }}"},
    ]
    assert version.variables == ["company", "question", "history"]
