"""At phone width the Hub pages fit the screen: wide tables scroll inside their box."""

from tests.conftest import PASSWORD
from tests.phone_width import seed_demo_users, sideways


def test_it_fits_prompt_pages_on_a_phone(new_page, transactional_db):
    users = seed_demo_users(PASSWORD)
    page = new_page(users["alice"])
    paths = [
        "/t/acme/prompts/",
        "/t/acme/prompts/support-reply/",
        "/t/acme/prompts/support-reply/history/",
        "/t/acme/prompts/support-reply/tags/production/",
        "/t/acme/prompts/support-reply/settings/",
        "/t/acme/prompts/reviews/",
    ]
    for path in paths:
        assert page.goto(path).status == 200, path
    assert sideways(page, paths) == {}
