"""In a real browser: log in, land in your team, switch teams, and come back to the last one."""

from tests.conftest import add_member


def test_it_logs_in_and_switches_teams(new_page, acme, globex, alice):
    add_member(globex, alice, "viewer")
    page = new_page(alice)
    assert "/accounts/login/" not in page.url
    page.goto("/")
    page.wait_for_url("**/t/acme/**")
    page.click(".team-switcher summary")
    page.click(".team-switcher a:has-text('Globex')")
    page.wait_for_url("**/t/globex/**")
    assert page.locator(".team-switcher summary").inner_text() == "Globex"

    page.click("nav.mainnav a:has-text('Settings')")
    page.wait_for_url("**/t/globex/settings/")
    assert page.locator("h1").inner_text() == "Globex settings"
    # A viewer sees settings but cannot change them, and has no admin sections.
    assert page.locator("text=Only owners and admins can change this.").count() == 2
    assert page.locator(".subnav a:has-text('API keys')").count() == 0

    page.goto("/")  # the last team worked in
    page.wait_for_url("**/t/globex/**")
    # An outsider's URL is a plain 404.
    response = page.goto("/t/no-such-team/settings/")
    assert response.status == 404


def test_it_works_at_phone_width(new_page, acme, alice):
    page = new_page(alice)
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto("/t/acme/settings/members/")
    nav = page.locator("nav.mainnav")
    assert not nav.is_visible()  # collapsed behind the menu button
    page.click("label.nav-toggle-label")
    assert nav.is_visible()
    # Nothing forces the page wider than the screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
