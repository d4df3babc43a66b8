"""Sign-up, sign-in, email verification and password reset pages. Thin: writes go through
apps.accounts.services; the sign-in and reset doors are throttled by django-axes
(apps.accounts.throttle)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts import services, throttle
from apps.accounts.forms import SignupForm


def _safe_next(request, candidate: str) -> str:
    """`candidate` when it points into this site, else ""."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _login_url(*, next_url: str = "", email: str = "") -> str:
    params = {k: v for k, v in (("next", next_url), ("email", email)) if v}
    url = reverse("accounts:login")
    return f"{url}?{urlencode(params)}" if params else url


@require_http_methods(["GET", "POST"])
def signup(request):
    next_url = _safe_next(request, request.GET.get("next") or request.POST.get("next") or "")
    # Arriving from an invite: the invited address is filled in.
    form = SignupForm(request.POST or None, initial={"email": request.GET.get("email", "")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        services.account_create(
            email=data["email"],
            password=data["password1"],
            name=data["name"],
            absolute_url=request.build_absolute_uri,
            next_url=next_url,
        )
        # The same answer whether or not the address had an account already.
        context = {"email": data["email"], "login_url": _login_url(next_url=next_url)}
        return render(request, "accounts/signup_sent.html", context)
    return render(request, "accounts/signup.html", {"form": form, "next": next_url})


class LoginView(auth_views.LoginView):
    """Django's sign-in; axes refuses it while the account or the client is locked out."""

    template_name = "accounts/login.html"

    def get_initial(self):
        return {"username": self.request.GET.get("email", "")}


@require_GET
def verify(request, token: str):
    try:
        user, next_url = services.email_verification_accept(token=token)
    except services.VerificationLinkInvalid as exc:
        return render(request, "accounts/verify_failed.html", {"error": exc.message}, status=404)
    next_url = _safe_next(request, next_url)
    if request.user.is_authenticated and request.user.pk == user.pk:
        messages.success(request, f"Thank you: {user.email} is verified.")
        return redirect(next_url or "home")
    messages.success(request, f"Thank you: {user.email} is verified. Log in to continue.")
    if request.user.is_authenticated:  # someone else's browser session: leave it alone
        return redirect("home")
    return redirect(_login_url(next_url=next_url, email=user.email))


@login_required
@require_POST
def verify_resend(request):
    next_url = _safe_next(request, request.POST.get("next", ""))
    if request.user.email_verified:
        messages.info(request, f"{request.user.email} is verified already.")
    elif services.verification_link_create(
        user=request.user, absolute_url=request.build_absolute_uri, next_url=next_url
    ):
        messages.success(request, f"We sent a new link to {request.user.email}.")
    else:
        messages.info(
            request,
            f"A link went to {request.user.email} less than a minute ago: check your inbox "
            "(and spam folder) for it.",
        )
    return redirect(next_url or "home")


class PasswordResetView(auth_views.PasswordResetView):
    """Ask for a reset link. Each request counts against the address and the client."""

    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def post(self, request, *args, **kwargs):
        email = request.POST.get("email", "")
        closed = not throttle.password_reset_allowed(request, email)
        if closed or throttle.password_reset_attempt_record(request, email):
            return throttle.lockout_response(request, None, throttle.reset_credentials(email))
        return super().post(request, *args, **kwargs)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Set a new password from a mailed link. Invalid links count against the client (and
    the account they name); a password set this way verifies the address and lifts the
    account's sign-in lock."""

    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        if not self.validlink:
            email = self.user.email if self.user is not None else ""
            closed = not throttle.password_reset_allowed(request, email)
            if closed or throttle.password_reset_attempt_record(request, email):
                return throttle.lockout_response(request, None, throttle.reset_credentials(email))
        return response

    def form_valid(self, form):
        response = super().form_valid(form)
        services.password_reset_accept(user=form.user)
        return response
