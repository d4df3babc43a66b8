"""Query parameters of API views: parsed strictly, so that what the OpenAPI schema says
about a parameter (its type, enum and bounds) is what the view accepts; anything else is a
400 naming the parameter.

A view with filters declares them once, as a serializer, for both sides:

    @extend_schema(parameters=[TraceFilters])     # the schema: types, enums, bounds
    def get(self, request):
        filters = query_params(TraceFilters, request)   # the same rules, enforced
"""

from __future__ import annotations

from rest_framework import serializers

from apps.core.errors import ValidationFailed


def query_params(serializer_class: type[serializers.Serializer], request) -> dict:
    """The request's query parameters validated by `serializer_class` (absent ones left out
    unless they have a default); a 400 naming each parameter at fault otherwise.

    A parameter given empty (`?status=`) is validated as the empty string, not taken as
    absent the way DRF reads a form: the schema says what `status` may be, and "" is not."""
    fields = serializer_class().fields
    query = request.query_params
    data = {
        name: query.getlist(name) if isinstance(field, serializers.ListField) else query.get(name)
        for name, field in fields.items()
        if name in query
    }
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def query_integer(params, name: str, *, minimum: int, maximum: int | None = None) -> int | None:
    """The integer query parameter `name` of `params` (a request's query_params), None when
    absent; anything else (not a whole number, out of bounds, empty) is a 400 naming it."""
    raw = params.get(name)
    if raw is None:
        return None
    bounds = f"from {minimum}" + (f" to {maximum}" if maximum is not None else "")
    message = f"{name} must be a whole number {bounds}."
    text = raw.strip()
    # Digits only (no sign, no "1e3"), and few enough that no database integer overflows.
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise ValidationFailed(message, field=name)
    value = int(text)
    if value < minimum or (maximum is not None and value > maximum):
        raise ValidationFailed(message, field=name)
    return value
