"""In a real browser: bob writes v2 and asks to promote it to production; alice finds it
in her inbox, reviews the diff and approves; the history shows the move; alice then rolls
production back with a reason."""

import pytest

from apps.core.tenancy import team_scope


@pytest.fixture
def greeter(acme, alice, bob):
    from apps.prompts import services

    with team_scope(acme):
        prompt = services.prompt_create(team=acme, actor=alice, name="greeter")
        v1 = services.version_create(
            team=acme,
            actor=alice,
            prompt=prompt,
            kind="text",
            template="Hi {{ name }}.",
            commit_message="first",
        )
        request = services.promotion_request_create(
            team=acme, actor=bob, prompt=prompt, tag_name="production", candidate=v1
        )
        services.promotion_approve(team=acme, actor=alice, promotion=request)
    return prompt


@pytest.mark.django_db(transaction=True)
def test_it_reviews_approves_and_rolls_back_a_promotion(new_page, greeter, alice, bob):
    bob_page = new_page(bob)
    bob_page.goto("/t/acme/prompts/greeter/v/1/")
    bob_page.click("text=New version from this one")
    bob_page.wait_for_url("**/v/1/new/")
    bob_page.fill("#id_template", "Hello {{ name }}, welcome to {{ place }}!")
    # Live feedback: the new variable shows up and the preview names what is missing.
    bob_page.wait_for_selector("#preview-output code.variable:has-text('place')")
    bob_page.fill("#sample-name", "Ann")
    bob_page.fill("#sample-place", "<b>Acme</b>")
    bob_page.wait_for_selector("#preview-text:has-text('welcome to <b>Acme</b>')")
    bob_page.fill("#id_commit_message", "Warmer greeting with the place")
    bob_page.click("#editor button[type=submit]")
    bob_page.wait_for_url("**/prompts/greeter/v/2/")
    bob_page.click("text=Request promotion to production")
    bob_page.fill("#id_description", "Friendlier; tried it on staging.")
    bob_page.click("#promotion-form button[type=submit]")
    bob_page.wait_for_url("**/prompts/requests/*/")
    assert "a teammate must review it" in bob_page.locator("#review").inner_text()

    alice_page = new_page(alice)
    alice_page.goto("/t/acme/prompts/")
    assert alice_page.locator(".mainnav .badge").inner_text() == "1"
    alice_page.click("main >> text=Needs your review")
    alice_page.click("#inbox a")
    # The diff against production's v1.
    assert (
        "Hello {{ name }}, welcome to {{ place }}!"
        in alice_page.locator(".diff-line-add").first.inner_text()
    )
    assert "Hi {{ name }}." in alice_page.locator(".diff-line-del").first.inner_text()
    alice_page.fill("#id_comment", "Looks good")
    alice_page.click("text=Approve and move production")
    alice_page.wait_for_selector("#promotion-status:has-text('Approved')")

    alice_page.goto("/t/acme/prompts/greeter/tags/production/")
    first_row = alice_page.locator("#tag-history tbody tr").first.inner_text()
    assert "v1" in first_row and "v2" in first_row and "alice@acme.test" in first_row
    assert "bob@acme.test" in first_row

    alice_page.once("dialog", lambda dialog: dialog.accept())
    alice_page.select_option("#rollback-version", "1")
    alice_page.fill("#rollback-reason", "v2 confuses the place name")
    alice_page.click("#rollback-form button[type=submit]")
    alice_page.wait_for_selector(".msg-success:has-text('Rolled')")
    first_row = alice_page.locator("#tag-history tbody tr").first
    assert "emergency rollback" in first_row.inner_text()
    assert "v2 confuses the place name" in first_row.inner_text()
    assert alice_page.locator(".mainnav .badge").count() == 0

    from apps.prompts.selectors import version_at_tag

    with team_scope(greeter.team):
        assert version_at_tag(greeter, "production").number == 1
