"""The web layer every HTML view shares: team URLs, page-or-partial rendering, role checks,
and service errors shown on a form. Views stay thin: parse, call a service or selector, render.

Service errors that escape a view (not found, refused, invalid) are mapped to responses in
one place, `ServiceErrorMiddleware`, as `api_exception_handler` does for the API.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from apps.core.errors import NotFound, PermissionRefused, ServiceError, ValidationFailed
from apps.core.tenancy import TenancyError


def team_url(request: HttpRequest, name: str, **kwargs: Any) -> str:
    """`reverse()` of a team page: `team_url(request, "datasets:detail", dataset_id=3)`."""
    return reverse(name, kwargs={"team_slug": request.team.slug, **kwargs})  # type: ignore[attr-defined]


def render_page(
    request: HttpRequest,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    partial: str | None = None,
    status: int | None = None,
) -> HttpResponse:
    """One view serves the page and its fragment: htmx requests get `template#partial`,
    except htmx's history restore (back button after a cache miss), which needs the page."""
    htmx = getattr(request, "htmx", None)
    fragment = partial and htmx and not htmx.history_restore_request
    name = f"{template}#{partial}" if fragment else template
    return render(request, name, context, status=status)


def role_allows(request: HttpRequest, perm: str) -> bool:
    """Whether the signed-in member's role grants `perm` on the URL's team.

    Read from the membership the team middleware loaded: no permission query per page.
    """
    membership = getattr(request, "membership", None)
    return membership is not None and membership.allows(perm)


def require_role(request: HttpRequest, perm: str) -> None:
    if not role_allows(request, perm):
        raise PermissionDenied("Your role in this team does not allow this.")


def raise_for(exc: ServiceError) -> None:
    """Re-raise a service error as the HTTP error Django renders (404, 403), else as is."""
    if isinstance(exc, NotFound):
        raise Http404(exc.message) from exc
    if isinstance(exc, PermissionRefused):
        raise PermissionDenied(exc.message) from exc
    raise exc


def add_service_error(form, exc: ServiceError, *, fields: Mapping[str, str] | None = None) -> None:
    """Show a service's refusal on the form, next to its field (renamed through `fields`
    where the form calls it something else); not found and forbidden still raise."""
    if isinstance(exc, NotFound | PermissionRefused):
        raise_for(exc)
    field = (fields or {}).get(exc.field or "", exc.field)
    form.add_error(field if field in form.fields else None, exc.message)


@contextmanager
def errors_on(form, *, fields: Mapping[str, str] | None = None) -> Iterator[None]:
    """`with errors_on(form): service(...)`: a refusal lands on the form. A `return` after
    the call inside the block runs only when the call succeeded."""
    try:
        yield
    except ServiceError as exc:
        add_service_error(form, exc, fields=fields)


@dataclass
class WriteOutcome:
    refused: bool = False


@contextmanager
def refusal_as_message(request: HttpRequest) -> Iterator[WriteOutcome]:
    """`with refusal_as_message(request): service(...); messages.success(...)`: a service's
    refusal becomes the page's error message (`outcome.refused` tells the view); being
    forbidden still raises, for ServiceErrorMiddleware's 403."""
    outcome = WriteOutcome()
    try:
        yield outcome
    except PermissionRefused:
        raise
    except ServiceError as exc:
        outcome.refused = True
        messages.error(request, exc.message)


class ServiceErrorMiddleware:
    """Service errors that escape an HTML view: 404 for not found (and crossing tenants),
    403 for refused, and the message with its status for the rest.

    It also refuses, before any view, a query parameter holding a NUL character: no filter
    can use one and PostgreSQL refuses it in any text (a 500 in every list that searched)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = _nul_query_parameter(request)
        if name is not None:
            return self._render_error(
                request, ValidationFailed(f"{name} contains a NUL character.", field=name)
            )
        return self.get_response(request)

    def _render_error(self, request, exception: ServiceError) -> HttpResponse:
        if request.path.startswith("/api/"):  # the API's error body (api_exception_handler)
            return JsonResponse(exception.as_dict(), status=exception.http_status)
        return render(
            request,
            "errors/service_error.html",
            {"message": exception.message, "status": exception.http_status},
            status=exception.http_status,
        )

    def process_exception(self, request, exception):
        if isinstance(exception, TenancyError):
            raise Http404("Not found.") from exception
        if not isinstance(exception, ServiceError):
            return None
        if isinstance(exception, NotFound | PermissionRefused):
            raise_for(exception)
        return self._render_error(request, exception)


def _nul_query_parameter(request: HttpRequest) -> str | None:
    """The first query parameter whose name or a value holds a NUL character, if any."""
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return name.replace("\x00", "\\x00")
    return None
