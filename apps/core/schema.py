"""The OpenAPI schema class for every API view (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS).

Besides each view's own success answers, every operation documents the error answers it
can give, all with one body (the `Error` component, what `apps.core.errors.
api_exception_handler` renders), so that clients and the schema fuzz test
(tests/test_api_fuzz.py) hold the API to them:

- 400 when the operation takes input (a body, query parameters) or writes;
- 401 and 403 when authentication applies (401 without credentials, 403 refused);
- 404 when the path names something (an id, a name, a team) or the list is paged (a page
  past the end), or the body names objects (`not_found_methods`);
- 415 when it takes a body (in a media type it does not read);
- 409 for the methods a view lists in `conflict_methods` (its service raises `Conflict`);
- 429, with Retry-After, wherever the view is throttled.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import permissions

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error answer of the API. Some add fields of their own (a throttle "
    "its `limit` and `retry_after`, a promotion gate its `blocked_reasons`).",
    "properties": {
        "detail": {"type": "string", "description": "What went wrong, for people."},
        "code": {
            "type": "string",
            "description": "Stable and machine-readable: invalid, parse_error, "
            "not_authenticated, authentication_failed, permission_denied, not_found, "
            "conflict, throttled, ...",
        },
        "errors": {
            "type": "object",
            "description": "Per input field (body field or query parameter): its messages.",
            "additionalProperties": {},
        },
    },
    "required": ["detail", "code"],
}

ERROR_DESCRIPTIONS = {
    "400": "The input is invalid: `errors` names each field at fault.",
    "401": "No credentials, or credentials that are not valid.",
    "403": "Authenticated, but not allowed to do this (role or API key scope).",
    "404": "No such object in this team (or a page past the end of the list).",
    "409": "The object's current state does not allow this.",
    "415": "The body's media type is not one this operation reads.",
    "429": "Over a rate limit: retry after Retry-After seconds.",
}
RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 0},
        "description": "Seconds to wait before trying again.",
    }
}
PAGE_PARAMETERS = {"page", "cursor"}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class PromptyardAutoSchema(AutoSchema):
    """Names a GET on a collection `…_list` and a GET on one object `…_retrieve`, and adds
    the error answers (module docstring) to every operation.

    drf-spectacular guesses "list" only for list mixins or `many=True` responses, so a plain
    APIView serving `/things/` and another serving `/things/{id}/` would get the same
    operationId; the path's shape settles it instead.
    """

    def get_operation_id(self):
        operation_id = super().get_operation_id()
        if self.method != "GET" or not operation_id.endswith("_retrieve"):
            return operation_id
        if self.path.rstrip("/").endswith("}"):
            return operation_id
        return operation_id[: -len("_retrieve")] + "_list"

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        statuses = self.error_statuses(operation)
        if statuses:
            ref = self._error_component().ref
            responses = operation["responses"]
            for status in statuses:
                if status in responses:
                    continue  # the view documented this answer itself
                response = {
                    "description": ERROR_DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": ref}},
                }
                if status == "429":
                    response["headers"] = RETRY_AFTER
                responses[status] = response
            operation["responses"] = dict(sorted(responses.items()))
        return operation

    def error_statuses(self, operation: dict) -> list[str]:
        """The error statuses this operation can answer with (module docstring)."""
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        statuses = []
        if self.method in WRITE_METHODS or query or "requestBody" in operation:
            statuses.append("400")
        if self._authentication_applies():
            statuses += ["401", "403"]
        # A view lists in `not_found_methods` the methods that look up ids from their body.
        looks_up = {m.upper() for m in getattr(self.view, "not_found_methods", ())}
        if "{" in self.path or query & PAGE_PARAMETERS or self.method in looks_up:
            statuses.append("404")
        conflicts = {m.upper() for m in getattr(self.view, "conflict_methods", ())}
        if self.method in conflicts:
            statuses.append("409")
        if "requestBody" in operation:
            statuses.append("415")
        if self.view.get_throttles():
            statuses.append("429")
        return statuses

    def _authentication_applies(self) -> bool:
        if not self.view.get_authenticators():
            return False
        return not any(isinstance(p, permissions.AllowAny) for p in self.view.get_permissions())

    def _error_component(self) -> ResolvedComponent:
        component = ResolvedComponent(
            name=ERROR_COMPONENT,
            type=ResolvedComponent.SCHEMA,
            object=ERROR_COMPONENT,
            schema=ERROR_SCHEMA,
        )
        self.registry.register_on_missing(component)
        return component
