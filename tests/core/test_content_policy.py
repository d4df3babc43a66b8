"""The policy header is built once from settings, and is the one django-csp would build."""

from __future__ import annotations

from csp.utils import build_policy
from django.test import override_settings

from apps.core.content_policy import settings_policy

HEADER = "Content-Security-Policy"


def test_it_sends_the_policy_django_csp_builds(client, db):
    response = client.get("/accounts/login/")
    assert response[HEADER] == build_policy()
    assert "Content-Security-Policy-Report-Only" not in response


def test_it_keeps_a_views_own_additions(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    directives = dict(d.strip().split(" ", 1) for d in response[HEADER].split(";"))
    assert directives["style-src"] == "'self' 'unsafe-inline'"
    assert directives["img-src"] == "'self' data:"
    assert client.get("/accounts/login/")[HEADER] == build_policy()


def test_it_follows_a_change_of_settings(client, db):
    assert "upgrade-insecure-requests" not in client.get("/accounts/login/")[HEADER]
    changed = {"DIRECTIVES": {"default-src": ["'none'"], "upgrade-insecure-requests": True}}
    with override_settings(
        CONTENT_SECURITY_POLICY=changed,
        CONTENT_SECURITY_POLICY_REPORT_ONLY={
            "DIRECTIVES": {"default-src": ["'self'"]},
            "EXCLUDE_URL_PREFIXES": ["/accounts/"],
        },
    ):
        response = client.get("/accounts/login/")
        # django-csp orders directives as a set iterates: compare them, not the string.
        assert set(response[HEADER].split("; ")) == {
            "default-src 'none'",
            "upgrade-insecure-requests",
        }
        assert "Content-Security-Policy-Report-Only" not in response  # excluded prefix
        assert client.get("/api/v1/")["Content-Security-Policy-Report-Only"]
    assert client.get("/accounts/login/")[HEADER] == build_policy()
    assert settings_policy(HEADER)[0] == build_policy()
