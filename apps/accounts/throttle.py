"""The doors into an account, throttled by django-axes: sign-in and password reset.

Axes counts failures by account and by client (settings.AXES_LOCKOUT_PARAMETERS) and refuses
both for AXES_COOLOFF_TIME once either reaches AXES_FAILURE_LIMIT. Sign-in failures come to
it through Django's `user_login_failed` signal; the reset door records its attempts here,
under the account name `reset:<email>`, so a flood of reset requests locks resets of that
address (and, through the shared per-client count, the client) without locking its owner
out of signing in with the password they know.
"""

from __future__ import annotations

from axes.attempts import get_cool_off_threshold
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.db.models import Sum
from django.shortcuts import render

LOGIN = "sign-in"
PASSWORD_RESET = "password reset"
RESET_PREFIX = "reset:"
RELEASED = "released:"  # failures no longer held against the account they named


def attempt_username(request, credentials=None) -> str | None:
    """AXES_USERNAME_CALLABLE: the account an attempt names, as stored (lowercase), so
    Alice@… and alice@… count together."""
    raw = (credentials or {}).get("username")
    if raw is None and request is not None:
        raw = request.POST.get("username")
    raw = (raw or "").strip().lower()
    return raw or None


def door_of(username: str | None) -> tuple[str, str]:
    """(door, email) of an axes account name."""
    username = username or ""
    if username.startswith(RESET_PREFIX):
        return PASSWORD_RESET, username[len(RESET_PREFIX) :]
    return LOGIN, username


def cool_off_minutes(request=None) -> int:
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds() // 60) if cool_off else 0


def lockout_message(request=None) -> str:
    minutes = cool_off_minutes(request)
    wait = f"for {minutes} minutes" if minutes else "until an administrator lifts it"
    return (
        "Too many failed attempts: signing in to this account, or from your network, is "
        f"paused {wait}. If you forgot your password, reset it by email."
    )


def reset_credentials(email: str) -> dict:
    return {"username": f"{RESET_PREFIX}{(email or '').strip().lower()}"}


def password_reset_allowed(request, email: str) -> bool:
    return AxesProxyHandler.is_allowed(request, reset_credentials(email))


def password_reset_attempt_record(request, email: str) -> bool:
    """Count one reset request (or one invalid reset link) against the address and the
    client; True when that reached the limit and the door is now closed."""
    AxesProxyHandler.user_login_failed(
        sender=__name__, credentials=reset_credentials(email), request=request
    )
    return bool(getattr(request, "axes_locked_out", False))


def account_lockout_remove(*, email: str) -> None:
    """Forget the failures counted against an account (its owner proved their mailbox),
    but not against the clients that made them: the rows are renamed, not deleted, so an
    attacker's address stays as locked as it was."""
    email = (email or "").strip().lower()
    for username in (email, f"{RESET_PREFIX}{email}"):
        AccessAttempt.objects.filter(username=username).update(username=f"{RELEASED}{username}")


def lockout_begins(request, credentials=None) -> bool:
    """True on the one failure that closed the door (not on the refused ones after it)."""
    failures = getattr(request, "axes_failures_since_start", None)
    return failures is not None and failures == get_failure_limit(request, credentials)


def lockout_scope(request, credentials=None) -> list[str]:
    """What the failures closed: "account", "client" or both (AXES_LOCKOUT_PARAMETERS)."""
    limit = get_failure_limit(request, credentials)
    attempts = AccessAttempt.objects.all()
    if get_cool_off(request):
        attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))

    def failures(**match) -> int:
        return attempts.filter(**match).aggregate(n=Sum("failures_since_start"))["n"] or 0

    scope = []
    username = attempt_username(request, credentials)
    if username and failures(username=username) >= limit:
        scope.append("account")
    ip_address = getattr(request, "axes_ip_address", None)
    if ip_address and failures(ip_address=ip_address) >= limit:
        scope.append("client")
    return scope


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: the page of the door that was closed, with the reason, as 429."""
    door, email = door_of(attempt_username(request, credentials))
    context = {"lockout": lockout_message(request)}
    if door == PASSWORD_RESET:
        context["form"] = PasswordResetForm(initial={"email": email})
        template = "accounts/password_reset_form.html"
    else:
        context["form"] = AuthenticationForm(request, initial={"username": email})
        context["next"] = request.POST.get("next", "") or request.GET.get("next", "")
        template = "accounts/login.html"
    return render(request, template, context, status=429)
