"""The audit trail's side of sign-in throttling: django-axes signals a lockout, and the
teams of the locked account hear of it (apps.teams.services.account_lockout_record)."""

from __future__ import annotations

from apps.accounts import throttle
from apps.teams import services


def lockout_audit(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    """axes' `user_locked_out` receiver. Axes signals on the failure that closes the door
    and again on every refused attempt after it; only the first is an event."""
    if request is None:
        return
    credentials = getattr(request, "axes_credentials", None)
    if not throttle.lockout_begins(request, credentials):
        return
    door, email = throttle.door_of(username)
    services.account_lockout_record(
        email=email,
        door=door,
        ip_address=ip_address,
        scope=throttle.lockout_scope(request, credentials),
        minutes=throttle.cool_off_minutes(request),
    )
