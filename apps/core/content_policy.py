"""The Content-Security-Policy header, built once per process instead of once per response.

django-csp rebuilds the policy string from settings on every response (copying each
directive, deduplicating, joining): about a seventh of the Python a refused trace export
or a served prompt costs. Most responses carry the settings' policy unchanged, so that
string is kept; a response with its own policy (csp_update and friends) or a request
that drew a nonce goes through django-csp as before.
"""

from __future__ import annotations

import functools
import http.client

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

PER_RESPONSE = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)
SETTINGS = {
    HEADER: "CONTENT_SECURITY_POLICY",
    HEADER_REPORT_ONLY: "CONTENT_SECURITY_POLICY_REPORT_ONLY",
}
EXEMPT = {HEADER: "_csp_exempt", HEADER_REPORT_ONLY: "_csp_exempt_ro"}


@functools.cache
def settings_policy(header: str) -> tuple[str, tuple[str, ...]]:
    """The header's value from settings alone, and the path prefixes it skips."""
    policy = build_policy(report_only=header == HEADER_REPORT_ONLY)
    excluded = (getattr(settings, SETTINGS[header], None) or {}).get("EXCLUDE_URL_PREFIXES")
    return policy, tuple(excluded or ())


@receiver(setting_changed)
def _forget(*, setting, **kwargs):
    if setting in SETTINGS.values():
        settings_policy.cache_clear()


class CSPMiddleware(BaseCSPMiddleware):
    def process_response(self, request, response):
        if getattr(request, "_csp_nonce", None) is not None or any(
            getattr(response, name, None) is not None for name in PER_RESPONSE
        ):
            return super().process_response(request, response)
        debug_page = response.status_code in (
            http.client.INTERNAL_SERVER_ERROR,
            http.client.NOT_FOUND,
        )
        if debug_page and settings.DEBUG:
            return response
        for header in (HEADER, HEADER_REPORT_ONLY):
            policy, excluded = settings_policy(header)
            if (
                policy
                and header not in response
                and not getattr(response, EXEMPT[header], False)
                and not request.path_info.startswith(excluded)
            ):
                response[header] = policy
        # As django-csp: a nonce drawn after the header is written would not be in it.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
