"""Navigation badges load in their own request, swapped out of band into the layout."""

from django.urls import reverse


def test_it_leaves_badge_counts_out_of_every_page_and_serves_them_separately(client, acme, alice):
    client.force_login(alice)
    page = client.get(reverse("datasets:list", kwargs={"team_slug": "acme"}))
    html = page.content.decode()
    assert 'id="nav-badge-reviews"' in html
    assert reverse("teams:nav_counts", kwargs={"team_slug": "acme"}) in html

    counts = client.get(reverse("teams:nav_counts", kwargs={"team_slug": "acme"}))
    assert counts.status_code == 200
    body = counts.content.decode()
    assert 'id="nav-badge-reviews" hx-swap-oob="true"' in body
    assert 'id="nav-badge-my_queue" hx-swap-oob="true"' in body


def test_it_counts_a_review_waiting_for_an_owner(client, acme, alice, bob):
    from apps.core.tenancy import team_scope
    from apps.prompts import services

    with team_scope(acme):
        prompt = services.prompt_create(team=acme, actor=bob, name="greet")
        v1 = services.version_create(
            team=acme, actor=bob, prompt=prompt, kind="text", template="Hi", commit_message="one"
        )
        services.promotion_request_create(
            team=acme, actor=bob, prompt=prompt, tag_name="production", candidate=v1
        )
    client.force_login(alice)
    body = client.get(reverse("teams:nav_counts", kwargs={"team_slug": "acme"})).content.decode()
    assert 'title="Needs your review">1</span>' in body
