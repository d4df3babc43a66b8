"""Every write to accounts: sign-up, email verification, the end of a password reset.

Sign-up never tells whether an address already has an account: both ways answer the same
and mail the address (a verification link for a new account, a notice for an existing
one), so only the mailbox's owner learns which it was.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from apps.accounts import throttle
from apps.accounts.models import User
from apps.accounts.tokens import VERIFY_MAX_AGE, verification_token_make, verification_token_read

# Forms anyone can submit mail an address at most this often, so they cannot flood it.
EMAIL_INTERVAL = timedelta(minutes=1)
LINK_NOT_VALID = "This verification link is not valid or has expired. Sign in to get a new one."


class VerificationLinkInvalid(Exception):
    """A verification link that is forged, too old, or made for another address. (accounts
    sits beside core in the lowest layer, so it has its own error rather than core's.)"""

    message = LINK_NOT_VALID


def _mail(*, to: str, template: str, context: dict[str, object]) -> None:
    subject, _, body = render_to_string(template, context).strip().partition("\n")
    transaction.on_commit(
        lambda: send_mail(subject.strip(), body.strip() + "\n", settings.DEFAULT_FROM_EMAIL, [to])
    )


def _mail_slot_claimed(user: User) -> bool:
    """True (and the slot taken) when this address was not mailed in the last interval."""
    now = timezone.now()
    taken = (
        User.objects.filter(pk=user.pk)
        .exclude(email_sent_at__gt=now - EMAIL_INTERVAL)
        .update(email_sent_at=now)
    )
    return taken == 1


def _verification_mail(*, user: User, absolute_url: Callable[[str], str], next_url: str) -> None:
    token = verification_token_make(user=user, next_url=next_url)
    _mail(
        to=user.email,
        template="accounts/email/verify.txt",
        context={
            "user": user,
            "link": absolute_url(reverse("accounts:verify", args=[token])),
            "days": VERIFY_MAX_AGE.days,
        },
    )


@transaction.atomic
def account_create(
    *,
    email: str,
    password: str,
    name: str = "",
    absolute_url: Callable[[str], str],
    next_url: str = "",
) -> User | None:
    """A new, unverified account mailed a verification link; or, when the address already
    has an account, None and a notice mailed to its owner. The caller answers the same."""
    email = User.objects.normalize_email(email).strip().lower()
    if not email:
        raise ValueError("An email address is required")  # the sign-up form requires one
    existing = User.objects.filter(email=email).first()
    if existing is None:
        try:
            with transaction.atomic():
                user = User.objects.create_user(email=email, password=password, name=name.strip())
        except IntegrityError:  # signed up twice at once: the other request made it
            existing = User.objects.get(email=email)
        else:
            User.objects.filter(pk=user.pk).update(email_sent_at=timezone.now())
            _verification_mail(user=user, absolute_url=absolute_url, next_url=next_url)
            return user
    # The same work as making an account (hashing the password), so the time taken does
    # not tell either.
    make_password(password)
    if _mail_slot_claimed(existing):
        _mail(
            to=existing.email,
            template="accounts/email/already_registered.txt",
            context={
                "user": existing,
                "login_link": absolute_url(reverse("accounts:login")),
                "reset_link": absolute_url(reverse("accounts:password_reset")),
            },
        )
    return None


@transaction.atomic
def verification_link_create(
    *, user: User, absolute_url: Callable[[str], str], next_url: str = ""
) -> bool:
    """Mail the account a fresh verification link; False when one went out under a minute
    ago (the earlier link still works) or the address is verified already."""
    if user.email_verified or not _mail_slot_claimed(user):
        return False
    _verification_mail(user=user, absolute_url=absolute_url, next_url=next_url)
    return True


@transaction.atomic
def email_verification_accept(*, token: str) -> tuple[User, str]:
    """Mark the address of the link's account verified: (the account, where to go next)."""
    claim = verification_token_read(token)
    if claim is None:
        raise VerificationLinkInvalid()
    user = User.objects.select_for_update().filter(pk=claim.user_id).first()
    if user is None or user.email != claim.email:
        raise VerificationLinkInvalid()
    if user.email_verified_at is None:
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
    return user, claim.next_url


@transaction.atomic
def password_reset_accept(*, user: User) -> None:
    """A password was just set through a reset link mailed to the account's address: that
    proves the mailbox too, and lifts the lock someone else's wrong guesses put on it."""
    if user.email_verified_at is None:
        User.objects.filter(pk=user.pk).update(email_verified_at=timezone.now())
        user.email_verified_at = timezone.now()
    throttle.account_lockout_remove(email=user.email)
