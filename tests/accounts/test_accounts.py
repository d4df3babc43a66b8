"""Sign-up (verified by a mailed link, silent about existing accounts), sign-in, password
change."""

import re

from apps.accounts.models import User
from tests.conftest import PASSWORD

SIGNUP = "/accounts/signup/"


def _signup(client, email, *, next_url="", name="Newt", password=PASSWORD):
    url = f"{SIGNUP}?next={next_url}" if next_url else SIGNUP
    data = {"email": email, "name": name, "password1": password, "password2": password}
    return client.post(url, data)


def _link_in(message) -> str:
    return re.search(r"http://testserver(/\S+)", message.body).group(1)


def test_it_signs_up_unverified_and_mails_a_verification_link(
    client, db, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _signup(client, "New@Example.test")
    assert response.status_code == 200
    assert b"Check your inbox" in response.content
    user = User.objects.get()
    assert user.email == "new@example.test" and user.name == "Newt"
    assert not user.email_verified
    # Not signed in by signing up: the answer must look the same for an existing address.
    assert not response.wsgi_request.user.is_authenticated
    assert [m.to for m in mailoutbox] == [["new@example.test"]]
    link = _link_in(mailoutbox[0])
    assert link.startswith("/accounts/verify/")

    verified = client.get(link)
    assert verified.status_code == 302
    assert verified.url.startswith("/accounts/login/?")
    user.refresh_from_db()
    assert user.email_verified
    # The new account signs in; with no team yet, home sends it to create one.
    client.post("/accounts/login/", {"username": "new@example.test", "password": PASSWORD})
    assert client.get("/").url == "/teams/new/"


def test_it_answers_sign_up_the_same_for_an_existing_address(
    client, alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        new = _signup(client, "someone-new@example.test")
    with django_capture_on_commit_callbacks(execute=True):
        taken = _signup(client, "Alice@acme.test", name="Mallory", password="another-pass-1234")

    def page(response):
        text = response.content.decode()
        text = re.sub(r'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]+"', "", text)
        return text.replace("someone-new@example.test", "EMAIL").replace("alice@acme.test", "EMAIL")

    assert new.status_code == taken.status_code == 200
    assert page(new) == page(taken)
    assert b"already exists" not in taken.content
    assert User.objects.filter(email="alice@acme.test").count() == 1
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD) and alice.name == "Alice"  # untouched
    # The address's owner hears of it, by mail, instead of the visitor.
    notice = mailoutbox[-1]
    assert notice.to == ["alice@acme.test"]
    assert "already has an account" in notice.body
    assert "/accounts/password/reset/" in notice.body


def test_it_mails_an_existing_address_at_most_once_a_minute(
    client, alice, mailoutbox, django_capture_on_commit_callbacks
):
    for _ in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            assert _signup(client, "alice@acme.test").status_code == 200
    assert len(mailoutbox) == 1


def test_it_fills_in_the_invited_address(client, db):
    response = client.get(f"{SIGNUP}?email=zoe@example.test&next=/teams/invite/abc/")
    html = response.content.decode()
    assert 'value="zoe@example.test"' in html
    assert 'name="next" value="/teams/invite/abc/"' in html


def test_it_carries_next_through_verification_but_only_on_this_site(
    client, db, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _signup(client, "a@example.test", next_url="/teams/invite/abc/")
        _signup(client, "b@example.test", next_url="https://evil.test/")
    to_a, to_b = (client.get(_link_in(m)) for m in mailoutbox)
    assert to_a.url == "/accounts/login/?next=%2Fteams%2Finvite%2Fabc%2F&email=a%40example.test"
    assert to_b.url == "/accounts/login/?email=b%40example.test"


def test_it_refuses_a_tampered_or_foreign_verification_link(
    client, db, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _signup(client, "a@example.test")
    link = _link_in(mailoutbox[0])
    token = link.rstrip("/").rsplit("/", 1)[1]
    forged = client.get(f"/accounts/verify/{token[:-2]}xx/")
    assert forged.status_code == 404
    assert b"not valid" in forged.content
    # A link made for the address the account had before does not verify the new one.
    User.objects.filter(email="a@example.test").update(email="changed@example.test")
    assert client.get(link).status_code == 404
    assert not User.objects.get().email_verified


def test_it_expires_verification_links(client, db, mailoutbox, django_capture_on_commit_callbacks):
    from unittest import mock

    from apps.accounts import tokens

    with django_capture_on_commit_callbacks(execute=True):
        _signup(client, "a@example.test")
    link = _link_in(mailoutbox[0])
    later = tokens.VERIFY_MAX_AGE.total_seconds() + 60
    import time as real_time

    with mock.patch("django.core.signing.time.time", return_value=real_time.time() + later):
        assert client.get(link).status_code == 404
    assert not User.objects.get().email_verified


def test_it_shows_unverified_accounts_a_banner_and_resends_the_link(
    client, make_user, mailoutbox, django_capture_on_commit_callbacks
):
    zoe = make_user("zoe@example.test", verified=False)
    client.force_login(zoe)
    page = client.get("/teams/new/")
    assert b'id="verify-banner"' in page.content
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/accounts/verify/resend/", {"next": "/teams/new/"}, follow=True)
    assert b"We sent a new link to zoe@example.test" in first.content
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post("/accounts/verify/resend/", {"next": "/teams/new/"}, follow=True)
    assert b"less than a minute ago" in again.content
    assert len(mailoutbox) == 1
    assert client.get(_link_in(mailoutbox[0])).url == "/teams/new/"  # back where it was
    assert b'id="verify-banner"' not in client.get("/teams/new/").content


def test_it_shows_no_banner_to_verified_accounts(client, alice):
    client.force_login(alice)
    assert b'id="verify-banner"' not in client.get("/teams/new/").content


def test_it_shows_signup_errors_next_to_fields(client, db):
    response = client.post(SIGNUP, {"email": "x@example.test", "password1": "x", "password2": "y"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "didn&#x27;t match" in content
    assert 'class="field-error"' in content
    assert not User.objects.exists()


def test_it_logs_in_and_out(client, acme, alice):
    response = client.post(
        "/accounts/login/", {"username": "alice@acme.test", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/").url == "/t/acme/"
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302
    assert "/accounts/login/" in client.get("/").url


def test_it_refuses_a_wrong_password(client, alice):
    response = client.post("/accounts/login/", {"username": "alice@acme.test", "password": "no"})
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated


def test_it_changes_the_password(client, alice):
    client.force_login(alice)
    new = "another-long-passphrase-42"
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(new)


def test_it_sends_anonymous_visitors_of_team_pages_to_log_in(client, acme):
    response = client.get("/t/acme/settings/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=/t/acme/settings/")
