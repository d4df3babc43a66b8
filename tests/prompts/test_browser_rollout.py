"""In a real browser: bob asks for a 10 % rollout of v2 on production; alice approves it
and sees the split; the Environments page bob keeps open follows the split live; alice
steps to 50 %, then aborts: all traffic back on v1."""

import pytest

from apps.core.tenancy import team_scope


@pytest.fixture
def greeter(acme, alice, bob):
    from apps.prompts import services

    with team_scope(acme):
        prompt = services.prompt_create(team=acme, actor=alice, name="greeter")
        v1, _ = (
            services.version_create(
                team=acme,
                actor=alice,
                prompt=prompt,
                kind="text",
                template=template,
                commit_message=message,
            )  # fmt: skip
            for template, message in (("Hi {{ name }}.", "first"), ("Hello {{ name }}!", "warmer"))
        )
        request = services.promotion_request_create(
            team=acme, actor=bob, prompt=prompt, tag_name="production", candidate=v1
        )
        services.promotion_approve(team=acme, actor=alice, promotion=request)
    return prompt


@pytest.mark.django_db(transaction=True)
def test_it_rolls_out_through_review_steps_and_aborts(new_page, greeter, alice, bob):
    bob_page = new_page(bob)
    bob_page.goto("/t/acme/prompts/greeter/v/2/promote/?tag=production")
    bob_page.fill("#id_description", "Canary the warmer greeting")
    bob_page.fill("#id_rollout_percent", "10")
    bob_page.click("#promotion-form button[type=submit]")
    bob_page.wait_for_url("**/prompts/requests/*/")
    assert "serves 10 % of traffic" in bob_page.locator("#promotion-rollout").inner_text()

    alice_page = new_page(alice)
    alice_page.goto(bob_page.url)
    alice_page.fill("#id_comment", "Start small")
    alice_page.click("text=Approve and start the rollout at 10 %")
    alice_page.wait_for_url("**/prompts/rollouts/*/")
    assert alice_page.locator("#split-current").inner_text() == "90 %"
    assert alice_page.locator("#split-candidate").inner_text() == "10 %"

    # The Environments page shows the split and follows it live (it polls its fragment).
    bob_page.goto("/t/acme/prompts/environments/")
    live = bob_page.locator("#rollouts-live .split-candidate")
    assert live.inner_text() == "10 %"

    alice_page.select_option("#step-percent", "50")
    alice_page.click("#step-button")
    alice_page.wait_for_selector(".msg-success:has-text('now serves 50 %')")
    assert alice_page.locator("#split-candidate").inner_text() == "50 %"
    bob_page.wait_for_selector("#rollouts-live .split-candidate:has-text('50 %')", timeout=25_000)

    alice_page.goto("/t/acme/prompts/greeter/")
    assert "50 %" in alice_page.locator("#prompt-tags .split-candidate").inner_text()
    alice_page.click("#prompt-tags a:has-text('rollout #')")
    alice_page.once("dialog", lambda dialog: dialog.accept())
    alice_page.fill("#abort-form input[name=reason]", "Complaints about tone")
    alice_page.click("#abort-button")
    alice_page.wait_for_selector(".msg-success:has-text('all traffic is back on v1')")
    assert alice_page.locator("#rollout-status").inner_text() == "Aborted"
    assert alice_page.locator("#split-current").inner_text() == "100 %"
    steps = alice_page.locator("#rollout-steps tbody tr").all_inner_texts()
    assert [s.split("\t")[1] for s in steps] == ["0 %", "50 %", "10 %"]
    assert "Complaints about tone" in steps[0]
    bob_page.wait_for_selector("#rollouts-live:has-text('No rollout under way')", timeout=25_000)
