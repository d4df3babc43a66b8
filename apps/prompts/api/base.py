"""The base of the Hub's API views: scopes, and reading a request body."""

from __future__ import annotations

from apps.prompts.permissions import READ, WRITE
from apps.teams.api_base import TeamGenericAPIView


class HubAPIView(TeamGenericAPIView):
    read_scope = READ
    write_scope = WRITE


def validated(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
