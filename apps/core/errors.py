"""One error type for business rules, mapped to HTTP in one place."""

from __future__ import annotations

from django.http import Http404

from apps.core.tenancy import TenancyError


class ServiceError(Exception):
    """A business rule refused the request. `field` names the input at fault, if any."""

    http_status = 400
    code = "invalid"

    def __init__(
        self, message: str, *, field: str | None = None, errors: dict[str, list[str]] | None = None
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.errors = errors or ({field: [message]} if field else {})

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"detail": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


class ValidationFailed(ServiceError):
    pass


class PermissionRefused(ServiceError):
    http_status = 403
    code = "permission_denied"


class NotFound(ServiceError):
    http_status = 404
    code = "not_found"


class Conflict(ServiceError):
    http_status = 409
    code = "conflict"


def api_exception_handler(exc, context):
    """Every API error answers with one body (the `Error` component of the OpenAPI schema):
    `{"detail": str, "code": str, "errors"?: {field: [messages]}}`, plus what a particular
    error adds (a throttle's limit, a gate's blocked reasons)."""
    # Imported here: services import this module, and DRF's settings import the services.
    from rest_framework.exceptions import APIException, ValidationError
    from rest_framework.response import Response
    from rest_framework.views import exception_handler

    if isinstance(exc, ServiceError):
        return Response(exc.as_dict(), status=exc.http_status)
    if isinstance(exc, TenancyError):
        # Crossing tenants is indistinguishable from absence.
        return Response({"detail": "Not found.", "code": "not_found"}, status=404)
    if isinstance(exc, Http404):
        return Response({"detail": "Not found.", "code": "not_found"}, status=404)
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, APIException):
        return response
    if isinstance(exc, ValidationError):
        response.data = validation_body(exc.detail)
    elif isinstance(response.data, dict):
        response.data.setdefault("code", getattr(exc, "default_code", "error"))
    else:
        response.data = {"detail": str(response.data), "code": exc.default_code}
    return response


def validation_body(detail) -> dict:
    """A serializer's errors as the one error body: `errors` keeps them per field, `detail`
    names the first field at fault and says what is wrong with it."""
    if isinstance(detail, dict):
        errors = detail
    else:
        errors = {"non_field_errors": detail if isinstance(detail, list) else [detail]}
    field, message = _first_error(errors)
    text = message if field in (None, "non_field_errors") else f"{field}: {message}"
    return {"detail": text or "Invalid input.", "code": "invalid", "errors": errors}


def _first_error(errors, path: str | None = None) -> tuple[str | None, str]:
    """The dotted path of the first message in nested serializer errors, and the message."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            if key == "non_field_errors":
                name = path
            elif isinstance(key, int):  # a list field's errors, by index
                name = f"{path or ''}[{key}]"
            else:
                name = str(key) if path is None else f"{path}.{key}"
            found = _first_error(value, name)
            if found[1]:
                return found
        return path, ""
    if isinstance(errors, list):
        for index, value in enumerate(errors):
            nested = isinstance(value, dict | list)
            found = _first_error(value, f"{path}[{index}]" if nested and path else path)
            if found[1]:
                return found
        return path, ""
    return path, str(errors)


def page_not_found(request, exception):
    """Django's 404 handler (config/urls.py): a path under /api/ that matches no route (or
    an id that does not fit its route) answers with the API's error body, not a page."""
    from django.http import JsonResponse
    from django.views import defaults

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)
