"""In a real browser: sign up (verifying the address through the mailed link), create a
team, invite a teammate by email, who signs up through the link with the invited address,
verifies it and joins; another account holding the link is refused. Then change the
teammate's role."""

import re

from django.core import mail

from apps.accounts.models import User
from apps.teams.models import Membership

PASSPHRASE = "a-long-passphrase-for-tests"


def _sign_up(page, email, name):
    if email is not None:
        page.fill("input[name=email]", email)
    page.fill("input[name=name]", name)
    page.fill("input[name=password1]", PASSPHRASE)
    page.fill("input[name=password2]", PASSPHRASE)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Check your inbox"


def _open_mailed_link(page, to: str):
    """Follow the link in the latest message to `to` (the locmem outbox of the live server)."""
    message = [m for m in mail.outbox if m.to == [to]][-1]
    path = re.search(r"https?://[^/\s]+(/\S+)", message.body).group(1)
    page.goto(path)
    page.wait_for_load_state("networkidle")


def _log_in_here(page):
    """On the login page the verification link led to, the address filled in already."""
    assert "/accounts/login/" in page.url
    page.fill("input[name=password]", PASSPHRASE)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_it_invites_a_teammate_who_signs_up_through_the_link(new_page, make_user):
    owner = new_page()
    owner.goto("/accounts/signup/")
    _sign_up(owner, "olga@rocket.test", "Olga")
    _open_mailed_link(owner, "olga@rocket.test")
    assert owner.locator("input[name=username]").input_value() == "olga@rocket.test"
    _log_in_here(owner)
    assert owner.url.endswith("/teams/new/")  # no team yet: create one
    assert owner.locator("#verify-banner").count() == 0

    owner.fill("input[name=name]", "Rocket")
    owner.fill("input[name=slug]", "rocket")
    owner.click("main form button[type=submit]")
    owner.wait_for_url("**/t/rocket/settings/members/")
    assert owner.locator(".msg-success").inner_text().startswith("Team Rocket created")

    owner.click("text=Invite someone")
    owner.wait_for_url("**/t/rocket/settings/invites/")
    owner.fill("input[name=email]", "tom@rocket.test")
    owner.select_option("select[name=role]", "editor")
    owner.click("text=Create invite link")
    link = owner.locator("#invite-link").input_value()  # htmx swapped it in
    assert "/teams/invite/" in link
    assert "for tom@rocket.test" in owner.locator("#invite-link-box").inner_text()
    assert owner.locator("#invites-body table").inner_text().count("Editor") == 1

    # Someone else who got hold of the link is told it is not theirs, and cannot join.
    mallory = make_user("mallory@example.test", "Mallory")
    intruder = new_page(mallory)
    intruder.goto(link)
    assert "This invite is for tom@rocket.test" in intruder.locator("#invite-refusal").inner_text()
    assert intruder.locator("button:has-text('Join Rocket')").count() == 0

    # Tom, in his own browser, follows the link and signs up with the invited address.
    teammate = new_page()
    teammate.goto(link)
    assert "Join Rocket" in teammate.locator("h1").inner_text()
    teammate.click("text=Sign up and join")
    assert teammate.locator("input[name=email]").input_value() == "tom@rocket.test"
    _sign_up(teammate, None, "Tom")
    _open_mailed_link(teammate, "tom@rocket.test")  # verified; the link brings him back
    _log_in_here(teammate)
    assert "/teams/invite/" in teammate.url
    teammate.click("button:has-text('Join Rocket')")
    teammate.wait_for_url("**/t/rocket/**")
    tom = User.objects.get(email="tom@rocket.test")
    assert Membership.objects.unscoped().get(user=tom).role == "editor"
    assert not Membership.objects.unscoped().filter(user=mallory).exists()

    # The link worked once.
    third = new_page()
    third.goto(link)
    assert "expired or was already used" in third.locator(".form-errors").inner_text()

    # The owner sees Tom and makes him an admin.
    owner.goto("/t/rocket/settings/members/")
    row = owner.locator("tr[data-email='tom@rocket.test']")
    assert row.locator("select[name=role]").input_value() == "editor"
    row.locator("select[name=role]").select_option("admin")
    row.locator("button:has-text('Change role')").click()
    owner.locator(".msg-success", has_text="tom@rocket.test is now Admin").wait_for()
    assert Membership.objects.unscoped().get(user=tom).role == "admin"
    row = owner.locator("tr[data-email='tom@rocket.test']")
    assert row.locator("select[name=role]").input_value() == "admin"

    # Demoting the last owner is refused, with the reason next to her row.
    mine = owner.locator("tr[data-email='olga@rocket.test']")
    mine.locator("select[name=role]").select_option("viewer")
    mine.locator("button:has-text('Change role')").click()
    error = owner.locator("tr[data-email='olga@rocket.test'] .field-error")
    assert "last owner cannot be demoted" in error.inner_text()
    olga = User.objects.get(email="olga@rocket.test")
    assert Membership.objects.unscoped().get(user=olga).role == "owner"
