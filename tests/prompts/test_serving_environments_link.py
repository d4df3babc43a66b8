"""The Environments page is reachable from the prompt list and its name can't be taken."""

import pytest
from django.urls import reverse

from apps.core.errors import ValidationFailed
from apps.prompts import services


def test_it_links_the_environments_page_from_the_prompt_list(client, acme, alice):
    client.force_login(alice)
    html = client.get(reverse("prompts:list", kwargs={"team_slug": "acme"})).content.decode()
    assert reverse("prompts:environments", kwargs={"team_slug": "acme"}) in html


def test_it_refuses_a_prompt_named_like_the_environments_page(acme_scope, alice):
    with pytest.raises(ValidationFailed):
        services.prompt_create(team=acme_scope, actor=alice, name="environments")
