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
    # Imported here: services import this module, and DRF's settings import the services.
    from rest_framework.exceptions import APIException
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
    if response is not None and isinstance(exc, APIException) and isinstance(response.data, dict):
        response.data.setdefault("code", getattr(exc, "default_code", "error"))
    return response
