"""The signed link that proves a person reads the mailbox of their account's address.

Signed with Django's `signing` (HMAC over SECRET_KEY, salted for this one use) and
timestamped, so a link works for VERIFY_MAX_AGE and only for the address it was made for:
an account whose email changed cannot be verified by a link sent to the old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.core import signing

VERIFY_SALT = "promptyard.accounts.verify-email"
VERIFY_MAX_AGE = timedelta(days=3)


@dataclass(frozen=True)
class VerificationClaim:
    user_id: int
    email: str
    next_url: str


def verification_token_make(*, user, next_url: str = "") -> str:
    payload = {"u": user.pk, "e": user.email, "n": next_url}
    return signing.dumps(payload, salt=VERIFY_SALT, compress=True)


def verification_token_read(token: str) -> VerificationClaim | None:
    """The claim a link makes, or None when it is forged, tampered with or too old."""
    try:
        payload = signing.loads(token, salt=VERIFY_SALT, max_age=VERIFY_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is a BadSignature too
        return None
    try:
        return VerificationClaim(
            user_id=int(payload["u"]), email=str(payload["e"]), next_url=str(payload.get("n", ""))
        )
    except (KeyError, TypeError, ValueError):
        return None
