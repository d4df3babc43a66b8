"""Every page's <title> reads "<page> · <team> · Promptyard" (no team outside a team)."""

import re
from html import unescape

import pytest


def title_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return unescape(re.search(r"<title>(.*?)</title>", response.content.decode(), re.S).group(1))


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/t/acme/settings/members/", "Members · Acme · Promptyard"),
        ("/t/acme/settings/", "Settings · Acme · Promptyard"),
        ("/t/acme/prompts/", "Prompts · Acme · Promptyard"),
        ("/t/acme/datasets/", "Datasets · Acme · Promptyard"),
        ("/t/acme/experiments/", "Experiments · Acme · Promptyard"),
        ("/t/acme/experiments/evaluators/", "Evaluators · Acme · Promptyard"),
        ("/t/acme/traces/", "Traces · Acme · Promptyard"),
        ("/t/acme/llm/", "Model providers · Acme · Promptyard"),
    ],
)
def test_it_titles_team_pages_with_the_page_then_the_team(client, acme, alice, path, title):
    client.force_login(alice)
    assert title_of(client.get(path)) == title


def test_it_titles_pages_outside_a_team_without_one(client, acme):
    assert title_of(client.get("/accounts/login/")) == "Log in · Promptyard"
