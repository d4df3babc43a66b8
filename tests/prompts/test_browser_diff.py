"""In a real browser: the diff's mode buttons show which mode is on, and picking other
versions after switching mode with htmx keeps that mode."""

import pytest
from playwright.sync_api import expect


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_chosen_diff_mode_when_picking_versions(new_page, acme, alice):
    from apps.core.tenancy import team_scope
    from apps.prompts.services import prompt_create, version_create

    with team_scope(acme):
        prompt = prompt_create(team=acme, actor=alice, name="greeter")
        for n, text in enumerate(["Hi", "Hello", "Hey there"], start=1):
            version_create(
                team=acme,
                actor=alice,
                prompt=prompt,
                kind="text",
                template=f"{text} {{{{ name }}}}",
                commit_message=f"v{n}",
            )
    page = new_page(alice)
    page.goto("/t/acme/prompts/greeter/diff/1/2/")
    side = page.get_by_role("link", name="Side by side")
    unified = page.get_by_role("link", name="Unified")
    expect(side).to_have_class("btn btn-small btn-primary")
    unified.click()
    expect(page.locator("pre.diff.unified")).to_be_visible()
    expect(page.get_by_role("link", name="Unified")).to_have_class("btn btn-small btn-primary")
    page.select_option("#diff-to", "3")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**/diff/1/3/?mode=unified")
    expect(page.locator("pre.diff.unified")).to_be_visible()
