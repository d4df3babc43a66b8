from apps.accounts.models import User
from tests.conftest import PASSWORD


def test_it_signs_up_and_logs_in(client, db):
    response = client.post(
        "/accounts/signup/",
        {
            "email": "New@Example.test",
            "name": "Newt",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302
    user = User.objects.get()
    assert user.email == "new@example.test" and user.name == "Newt"
    # No team yet: home sends a new user to create one.
    assert client.get("/").url == "/teams/new/"


def test_it_returns_to_next_after_signup_but_only_on_this_site(client, db):
    data = {"email": "a@example.test", "password1": PASSWORD, "password2": PASSWORD}
    response = client.post("/accounts/signup/?next=/teams/invite/abc/", data)
    assert response.url == "/teams/invite/abc/"
    client.logout()
    data["email"] = "b@example.test"
    response = client.post("/accounts/signup/?next=https://evil.test/", data)
    assert response.url == "/"


def test_it_shows_signup_errors_next_to_fields(client, alice):
    response = client.post(
        "/accounts/signup/",
        {"email": "alice@acme.test", "password1": "x", "password2": "y"},
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "An account with this email already exists" in content
    assert 'class="field-error"' in content


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
