"""Sign-in and password reset lock out after repeated failures (django-axes), by account and
by client, with a clear message and an audit event on the account's teams. Every attempt is
a real request through the real views."""

import re
from datetime import timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.utils import timezone

from apps.accounts.models import User
from apps.teams.models import AuditEvent
from tests.conftest import PASSWORD, add_member

LOGIN = "/accounts/login/"
RESET = "/accounts/password/reset/"
ATTACKER = "203.0.113.7"
OWNER = "198.51.100.20"


def _login(client, email, password, ip=OWNER):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ip)


def _signed_in(response) -> bool:
    return response.wsgi_request.user.is_authenticated


def test_it_refuses_the_right_password_after_fifty_wrong_ones(client, acme, alice):
    for i in range(50):
        response = _login(client, "alice@acme.test", f"guess-{i}", ip=ATTACKER)
        assert not _signed_in(response)
    response = _login(client, "alice@acme.test", PASSWORD, ip=ATTACKER)
    assert response.status_code == 429
    assert not _signed_in(response)
    assert client.get("/t/acme/").status_code == 302  # still not in
    html = response.content.decode()
    assert 'id="lockout"' in html and "Too many failed attempts" in html
    assert "15 minutes" in html
    assert "<form" in html  # the login page itself, with the reason on it


def test_it_locks_after_the_limit_and_not_before(client, alice):
    limit = settings.AXES_FAILURE_LIMIT
    for i in range(limit - 1):
        assert _login(client, "alice@acme.test", f"guess-{i}").status_code == 200
    assert _signed_in(_login(client, "alice@acme.test", PASSWORD))  # below the limit: fine
    client.post("/accounts/logout/")
    assert _login(client, "alice@acme.test", "one-too-many").status_code == 429
    assert _login(client, "alice@acme.test", PASSWORD).status_code == 429


def test_it_locks_the_account_from_every_client(client, alice):
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "alice@acme.test", f"guess-{i}", ip=ATTACKER)
    # Another network, the right password: the account itself is locked.
    response = _login(client, "Alice@ACME.test", PASSWORD, ip=OWNER)
    assert response.status_code == 429 and not _signed_in(response)


def test_it_locks_a_client_that_tries_many_accounts(client, alice, bob):
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, f"user{i}@example.test", "guess", ip=ATTACKER)
    assert _login(client, "alice@acme.test", PASSWORD, ip=ATTACKER).status_code == 429
    # The accounts themselves are not locked: from elsewhere their owners sign in.
    assert _signed_in(_login(client, "alice@acme.test", PASSWORD, ip=OWNER))


def test_it_counts_an_address_however_it_is_written(client, alice):
    for i, spelling in enumerate(["alice@acme.test", "ALICE@acme.test", " Alice@Acme.Test "] * 2):
        _login(client, spelling, f"guess-{i}", ip=f"192.0.2.{i}")
    assert _login(client, "alice@acme.test", PASSWORD).status_code == 429


def test_it_opens_again_after_the_cool_off(client, alice):
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "alice@acme.test", f"guess-{i}", ip=ATTACKER)
    assert _login(client, "alice@acme.test", PASSWORD).status_code == 429
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert _signed_in(_login(client, "alice@acme.test", PASSWORD))


def test_it_audits_the_lockout_once_on_each_team_of_the_account(client, acme, globex, alice):
    add_member(globex, alice, "viewer")
    for i in range(30):
        _login(client, "alice@acme.test", f"guess-{i}", ip=ATTACKER)
    events = AuditEvent.objects.unscoped().filter(verb="account.lockout")
    assert sorted(e.team.slug for e in events) == ["acme", "globex"]  # once each, not 26 times
    event = events.get(team=acme)
    assert event.actor_label == "system"
    assert event.target_type == "accounts.user" and event.target_id == str(alice.pk)
    assert event.after == {
        "door": "sign-in",
        "email": "alice@acme.test",
        "ip_address": ATTACKER,
        "locked": "account and client",
        "locked_for_minutes": 15,
    }
    # Admins see it in the audit trail.
    client.force_login(alice)
    page = client.get("/t/acme/settings/audit/?verb=account.lockout")
    assert page.status_code == 200 and b"account.lockout" in page.content


def test_it_audits_nothing_for_an_address_without_an_account(client, acme):
    for i in range(settings.AXES_FAILURE_LIMIT + 2):
        _login(client, "nobody@example.test", f"guess-{i}", ip=ATTACKER)
    assert _login(client, "nobody@example.test", "x", ip=ATTACKER).status_code == 429
    assert not AuditEvent.objects.unscoped().filter(verb="account.lockout").exists()


def _reset(client, email, ip):
    return client.post(RESET, {"email": email}, REMOTE_ADDR=ip)


def test_it_throttles_password_reset_requests(
    client, alice, mailoutbox, django_capture_on_commit_callbacks
):
    statuses = []
    for _ in range(12):
        statuses.append(_reset(client, "alice@acme.test", ATTACKER).status_code)
    limit = settings.AXES_FAILURE_LIMIT
    assert statuses[: limit - 1] == [302] * (limit - 1)
    assert set(statuses[limit - 1 :]) == {429}
    assert len(mailoutbox) == limit - 1  # the flood stopped reaching alice's inbox
    refused = _reset(client, "alice@acme.test", OWNER)  # the address is locked for resets
    assert refused.status_code == 429 and b"Too many failed attempts" in refused.content
    # Reset requests do not lock alice out of signing in with the password she knows.
    assert _signed_in(_login(client, "alice@acme.test", PASSWORD, ip=OWNER))


def test_it_counts_invalid_reset_links_against_the_client(client, alice):
    for i in range(settings.AXES_FAILURE_LIMIT):
        page = client.get(f"/accounts/password/reset/MQ/bogus-{i}/", REMOTE_ADDR=ATTACKER)
        assert page.status_code in (200, 429)
    assert client.get("/accounts/password/reset/MQ/x/", REMOTE_ADDR=ATTACKER).status_code == 429
    assert _login(client, "alice@acme.test", PASSWORD, ip=ATTACKER).status_code == 429


def test_a_password_reset_lifts_the_account_lock_and_verifies_the_address(client, make_user):
    zoe = make_user("zoe@example.test", verified=False)
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "zoe@example.test", f"guess-{i}", ip=ATTACKER)
    assert _login(client, "zoe@example.test", PASSWORD, ip=OWNER).status_code == 429

    from django.core import mail

    assert _reset(client, "zoe@example.test", OWNER).status_code == 302
    link = re.search(r"http://testserver(/\S+)", mail.outbox[-1].body).group(1)
    form = client.get(link, REMOTE_ADDR=OWNER, follow=True)
    assert form.status_code == 200 and b"Set a new password" in form.content
    new = "a-brand-new-passphrase-7"
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": new, "new_password2": new},
        REMOTE_ADDR=OWNER,
    )
    assert done.status_code == 302
    zoe = User.objects.get(pk=zoe.pk)
    assert zoe.email_verified and zoe.check_password(new)
    assert _signed_in(_login(client, "zoe@example.test", new, ip=OWNER))
    # The attacker's client stays locked.
    client.post("/accounts/logout/")
    assert _login(client, "zoe@example.test", new, ip=ATTACKER).status_code == 429
