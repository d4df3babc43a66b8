"""DRF authentication by `Authorization: Bearer pyd_…` API keys."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from apps.teams.keys import api_key_authenticate, api_key_mark_used
from apps.teams.models import ApiKey
from apps.teams.throttles import bad_key_record, bad_key_refusal


def api_key_refusal(key: ApiKey) -> str | None:
    """Why a known key may not act now (None: it may). A key acts for its person, and
    only while that person is a member of the key's team."""
    if not key.is_active:
        reason = f": {key.revoked_reason}" if key.revoked_reason else ""
        return f"This API key was revoked{reason}."
    if key.created_by_id is None:
        return "This API key has no person behind it; create a new key."
    if key.person_role is None:
        return "The person this API key acts for is no longer a member of its team."
    return None


class ApiKeyPrincipal:
    """request.user for API-key requests: authenticated, no personal permissions (services
    receive the key itself as the actor and judge it by its scopes and its person's role)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, key: ApiKey):
        self.api_key = key
        self.email = str(key)

    def has_perm(self, perm, obj=None):
        return False

    def __str__(self):
        return str(self.api_key)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"
    # Whether a lookup may be remembered for a few seconds per process (apps.teams.keys).
    remember_keys = False

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        parts = header.split()
        if not parts or parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: use 'Bearer <api key>'."
            )
        # An address that sent too many failed keys lately gets 429, and no lookup.
        throttled = bad_key_refusal(request)
        if throttled is not None:
            raise throttled
        key = api_key_authenticate(parts[1], remember=self.remember_keys)
        if key is None:
            bad_key_record(request)
            raise exceptions.AuthenticationFailed("Invalid API key.")
        refusal = api_key_refusal(key)
        if refusal is not None:
            bad_key_record(request)  # revoked, or its person gone: a failed key too
            raise exceptions.AuthenticationFailed(refusal)
        api_key_mark_used(key)
        return ApiKeyPrincipal(key), key

    def authenticate_header(self, request):
        return self.keyword


class RememberedApiKeyAuthentication(ApiKeyAuthentication):
    """For read paths that must not pay a query per request (serving prompts): a revoked
    key is refused at once in the revoking process, within API_KEY_CACHE_SECONDS elsewhere."""

    remember_keys = True
