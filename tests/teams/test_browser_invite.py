"""In a real browser: sign up, create a team, invite a teammate, who signs up through the
link in a second browser, then change the teammate's role."""

from apps.accounts.models import User
from apps.teams.models import Membership

PASSPHRASE = "a-long-passphrase-for-tests"


def _sign_up(page, email, name):
    page.fill("input[name=email]", email)
    page.fill("input[name=name]", name)
    page.fill("input[name=password1]", PASSPHRASE)
    page.fill("input[name=password2]", PASSPHRASE)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_it_invites_a_teammate_who_signs_up_through_the_link(new_page):
    owner = new_page()
    owner.goto("/accounts/signup/")
    _sign_up(owner, "olga@rocket.test", "Olga")
    assert owner.url.endswith("/teams/new/")  # no team yet: create one

    owner.fill("input[name=name]", "Rocket")
    owner.fill("input[name=slug]", "rocket")
    owner.click("main form button[type=submit]")
    owner.wait_for_url("**/t/rocket/settings/members/")
    assert owner.locator(".msg-success").inner_text().startswith("Team Rocket created")

    owner.click("text=Invite someone")
    owner.wait_for_url("**/t/rocket/settings/invites/")
    owner.select_option("select[name=role]", "editor")
    owner.click("text=Create invite link")
    link = owner.locator("#invite-link").input_value()  # htmx swapped it in
    assert "/teams/invite/" in link
    assert owner.locator("#invites-body table").inner_text().count("Editor") == 1

    # A second person, in their own browser context, follows the link and signs up.
    teammate = new_page()
    teammate.goto(link)
    assert "Join Rocket" in teammate.locator("h1").inner_text()
    teammate.click("text=Sign up and join")
    _sign_up(teammate, "tom@rocket.test", "Tom")
    assert "/teams/invite/" in teammate.url  # back on the invite after signing up
    teammate.click("button:has-text('Join Rocket')")
    teammate.wait_for_url("**/t/rocket/**")
    tom = User.objects.get(email="tom@rocket.test")
    assert Membership.objects.unscoped().get(user=tom).role == "editor"

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
