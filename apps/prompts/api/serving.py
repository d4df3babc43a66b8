"""The serving API: what applications (the SDK) call at run time.

GET /api/v1/prompts/<name>/?tag=production | ?version=N  -> one prompt version
    (under a rollout: with its definition; with &key=<caller key>: the key's arm)
GET /api/v1/prompts/?tag=production                        -> every prompt at that tag

Both answer with a strong ETag and honour If-None-Match with 304 and no body. The same
two paths carry the Hub's management methods (POST create, PATCH/DELETE, and the
paginated list when no `tag` is given): those are handed to the Hub's views unchanged.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, HttpResponseNotModified
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer

from apps.core.errors import ServiceError, ValidationFailed
from apps.core.pagination import API_MAX_PAGE_SIZE, API_PAGE_SIZE
from apps.core.query import query_integer
from apps.core.tenancy import enter_team, leave_team
from apps.prompts import serving, telemetry
from apps.prompts.api.prompts import PromptDetailView, PromptListCreateView
from apps.prompts.api.serializers import (
    PromptCreateSerializer,
    PromptSerializer,
    PromptUpdateSerializer,
)
from apps.prompts.permissions import READ, WRITE
from apps.teams.api_base import TeamAPIView
from apps.teams.authentication import RememberedApiKeyAuthentication
from apps.teams.keys import api_key_authenticate, api_key_mark_used
from apps.teams.throttles import ServingTeamThrottle, serving_take


def _hub_view(cls):
    """The Hub's management view for the same path (built once)."""
    view = cls.__dict__.get("_serving_delegate")
    if view is None:
        view = cls.as_view()
        cls._serving_delegate = view
    return view


def _answer(request, served: serving.Served):
    response: HttpResponse
    if served.matches(request.META.get("HTTP_IF_NONE_MATCH")):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(served.body, content_type="application/json")
    # ETag, Cache-Control and Vary, checked and encoded once per cached answer (they are
    # what `response[name] = value` would store).
    response.headers._store.update(served.headers)
    return response


def _version_param(params) -> int | None:
    if "version" not in params:  # the usual fetch: no lookup that raises KeyError inside
        return None
    raw = params.get("version")
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed("version must be a positive integer.", field="version")


PROMPT_SCHEMA = inline_serializer(
    "ServedPrompt",
    {
        "name": serializers.CharField(),
        "version": serializers.IntegerField(),
        "tag": serializers.CharField(allow_null=True),
        "kind": serializers.ChoiceField(choices=["text", "chat", "chain"]),
        "template": serializers.CharField(),
        "messages": serializers.ListField(child=serializers.DictField()),
        "steps": serializers.ListField(
            child=serializers.DictField(),
            help_text="A chain's steps ({name, prompt, version | tag, inputs}); [] otherwise.",
        ),
        "variables": serializers.ListField(child=serializers.CharField()),
        "variables_schema": serializers.DictField(),
        "model_settings": serializers.DictField(),
        "content_hash": serializers.CharField(),
        "rollout": serializers.DictField(
            required=False,
            help_text="Only under a rollout of the tag: {id, percent, current_version, "
            "candidate: <the candidate served like this prompt>}; with `key`: {id, percent, "
            "arm} of the arm this answer is.",
        ),
    },
)
SNAPSHOT_SCHEMA = inline_serializer(
    "PromptSnapshot",
    {
        "tag": serializers.CharField(),
        "count": serializers.IntegerField(),
        "prompts": serializers.ListField(child=serializers.DictField()),
    },
)
TAG_PARAM = OpenApiParameter(
    "tag",
    OpenApiTypes.STR,
    pattern=r"^[a-z0-9_.-]{0,36}$",  # a tag name (TAG_NAME_RE), or empty
    description="A tag name; empty or absent: production.",
)
PROMPT_PAGE_SCHEMA = inline_serializer(
    "PromptPage",
    {
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": PromptSerializer(many=True),
    },
)
# Without `tag` the collection is the Hub's paginated list: its parameters apply then.
HUB_LIST_PARAMETERS = [
    OpenApiParameter(
        "q", OpenApiTypes.STR, description="Without tag: search name and description."
    ),
    OpenApiParameter(
        "page", {"type": "integer", "minimum": 1}, description="Without tag: the page number."
    ),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": API_MAX_PAGE_SIZE, "default": API_PAGE_SIZE},
        description="Without tag: prompts per page.",
    ),
]


class _ServingView(TeamAPIView):
    authentication_classes = [RememberedApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    # Fetches have a per-team bucket of their own, not the API's per-key and per-team ones.
    throttle_classes = [ServingTeamThrottle]
    read_scope = READ
    write_scope = WRITE
    hub_view: type | None = None

    def dispatch(self, request, *args, **kwargs):
        if self._delegated(request):
            return _hub_view(self.hub_view)(request, *args, **kwargs)
        if request.method == "GET" and "team_slug" not in kwargs:
            response = self._fast_get(request, kwargs)
            if response is not None:
                return response
        return super().dispatch(request, *args, **kwargs)

    def _delegated(self, request) -> bool:
        return request.method not in ("GET", "HEAD", "OPTIONS")

    def _fast_get(self, request, kwargs):
        """The hot path of applications: a GET with a valid API key holding prompts:read.

        It makes the same decisions as the full DRF path (RememberedApiKeyAuthentication,
        then TeamScopedAPIMixin: the team is the key's, the scope is checked, the team's
        scope is entered) without DRF's per-request machinery (request wrapping, content
        negotiation, permission and throttle classes), which costs more than serving a
        cached answer. Anything else (no or bad key, missing scope, an error to report)
        returns None and takes the full path, which produces the usual answers. Over the
        team's serving limit it answers 429 itself (apps.teams.throttles.serving_take).
        """
        scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not raw or " " in raw:
            return None
        key = api_key_authenticate(raw, remember=True)
        if key is None or not key.is_active or not key.has_scope(READ):
            return None
        team = key.team  # no query: the team came with the key
        refused = serving_take(team)
        if refused is not None:
            return refused.as_response()
        request._serving_charged = True  # a fall back to the full path takes no second token
        api_key_mark_used(key)
        self.request, self.team, self.api_key = request, team, key
        token = enter_team(team)
        try:
            return self.serve(request, request.GET, **kwargs)
        except ServiceError:
            return None  # the full path raises it again and renders it the usual way
        finally:
            leave_team(token)

    def serve(self, request: Any, params: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        # Each view takes its own URL kwargs: mypy accepts any override of (*args: Any,
        # **kwargs: Any).
        raise NotImplementedError


class PromptCollectionView(_ServingView):
    """GET ?tag=…: the snapshot of every prompt at the tag. Without `tag`, the Hub's
    paginated list; POST creates a prompt (the Hub's view)."""

    hub_view = PromptListCreateView

    def _delegated(self, request) -> bool:
        if request.method == "GET" and "tag" not in request.GET:
            return True  # the Hub's paginated management list
        return super()._delegated(request)

    @extend_schema(
        parameters=[TAG_PARAM, *HUB_LIST_PARAMETERS],
        responses={
            200: PolymorphicProxySerializer(
                component_name="PromptCollection",
                serializers=[SNAPSHOT_SCHEMA, PROMPT_PAGE_SCHEMA],
                resource_type_field_name=None,
            ),
            304: None,
        },
        description="With `tag`: every prompt at that tag (a snapshot, with an ETag). "
        "Without: the Hub's paginated list of prompts.",
    )
    def get(self, request):
        return self.serve(request, request.query_params)

    def serve(self, request, params):
        # The list's page parameters mean nothing to a snapshot, but are held to the same
        # rules: one operation, one set of parameters.
        query_integer(params, "page", minimum=1)
        query_integer(params, "page_size", minimum=1, maximum=API_MAX_PAGE_SIZE)
        tag = params.get("tag") or serving.DEFAULT_TAG
        served = serving.serve_snapshot(team=self.team, tag=tag)
        telemetry.record(api_key=self.api_key, tag=tag, served=served.served)
        return _answer(request, served)

    @extend_schema(request=PromptCreateSerializer, responses={201: PromptSerializer})
    def post(self, request):
        raise AssertionError("dispatch() hands POST to the Hub's view")  # documented here


class PromptServeView(_ServingView):
    """GET: the version at ?tag= (default production) or the pinned ?version=N."""

    hub_view = PromptDetailView

    @extend_schema(
        parameters=[
            TAG_PARAM,
            OpenApiParameter("version", OpenApiTypes.INT, description="A pinned version."),
            OpenApiParameter(
                "key",
                {"type": "string", "maxLength": 200},
                description="A caller key (user or session id): under a rollout, answer with "
                "the version of the key's arm (sticky; the SDK picks the same arm).",
            ),
        ],
        responses={200: PROMPT_SCHEMA, 304: None},
    )
    def get(self, request, prompt_name: str):
        return self.serve(request, request.query_params, prompt_name=prompt_name)

    def serve(self, request, params, prompt_name: str):
        version = _version_param(params)
        tag = params.get("tag")
        if version is not None and tag:
            raise ValidationFailed("Ask for a tag or a version, not both.", field="version")
        key = params.get("key") if "key" in params else None
        if key is not None and len(key) > 200:
            raise ValidationFailed("key is at most 200 characters.", field="key")
        served = serving.serve_prompt(
            team=self.team, name=prompt_name, tag=tag, version=version, key=key
        )
        telemetry.record(
            api_key=self.api_key,
            tag=None if version is not None else (tag or serving.DEFAULT_TAG),
            served=served.served,
        )
        return _answer(request, served)

    @extend_schema(request=PromptUpdateSerializer, responses=PromptSerializer)
    def patch(self, request, prompt_name: str):
        raise AssertionError("dispatch() hands PATCH to the Hub's view")  # documented here
