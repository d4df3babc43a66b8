"""In a real browser: an owner sets the team's own rate limit in place (htmx), the field
refuses what the server would (its bounds), and a viewer sees the limits without the form."""

from apps.teams.models import Team


def test_an_owner_sets_a_limit_in_place(new_page, acme, alice, carol):
    page = new_page(alice)
    page.goto("/t/acme/settings/")
    field = page.locator("#limits input[name=limit_serving_per_second]")
    ceiling = int(field.get_attribute("max"))
    for refused in ("0", str(ceiling + 1)):
        field.fill(refused)
        assert field.evaluate("input => input.checkValidity()") is False

    page.locator("#limits input[name=limit_serving_per_second]").fill("7")
    page.locator("#limits button:has-text('Save rate limits')").click()
    page.locator("#limits td:has-text('7 fetches per second')").wait_for()
    assert "/t/acme/settings/" in page.url  # swapped in place, no navigation
    assert Team.objects.get(slug="acme").limit_serving_per_second == 7

    viewer = new_page(carol)
    viewer.goto("/t/acme/settings/")
    assert viewer.locator("#limits td:has-text('7 fetches per second')").count() == 1
    assert viewer.locator("#limits form").count() == 0
