"""Webhooks: list and register endpoints (the secret is in the 201 answer only), delete
one, read its delivery log, send it a test event. Owners and admins (keys: admin scope)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.prompts import selectors, services
from apps.prompts.api.base import HubAPIView, validated
from apps.prompts.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from apps.teams.models import ApiKeyScope


class _WebhookAPIView(HubAPIView):
    # Endpoints and their logs are team administration: the admin scope reads and writes.
    read_scope = ApiKeyScope.ADMIN
    write_scope = ApiKeyScope.ADMIN


class WebhookEndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "events", "is_active", "created_at"]
        read_only_fields = fields


class WebhookCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(help_text="The signing secret (whsec_…): shown this once.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.values), allow_empty=False
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_type",
            "msg_id",
            "status",
            "attempts",
            "response_code",
            "last_error",
            "next_attempt_at",
            "created_at",
            "delivered_at",
        ]
        read_only_fields = fields


class WebhookListCreateView(_WebhookAPIView):
    serializer_class = WebhookEndpointSerializer
    pagination_class = None

    @extend_schema(responses=WebhookEndpointSerializer(many=True))
    def get(self, request):
        return Response(WebhookEndpointSerializer(selectors.webhook_endpoints(), many=True).data)

    @extend_schema(request=WebhookCreateSerializer, responses={201: WebhookCreatedSerializer})
    def post(self, request):
        data = validated(WebhookCreateSerializer, request)
        endpoint, secret = services.webhook_endpoint_create(
            team=self.team,
            actor=self.actor,
            url=data["url"],
            events=data["events"],
            description=data["description"],
        )
        body = {**WebhookEndpointSerializer(endpoint).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookDetailView(_WebhookAPIView):
    serializer_class = WebhookEndpointSerializer

    @extend_schema(responses=WebhookEndpointSerializer)
    def get(self, request, endpoint_id: int):
        return Response(WebhookEndpointSerializer(selectors.webhook_endpoint_get(endpoint_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, endpoint_id: int):
        endpoint = selectors.webhook_endpoint_get(endpoint_id)
        services.webhook_endpoint_delete(team=self.team, actor=self.actor, endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListView(_WebhookAPIView):
    serializer_class = WebhookDeliverySerializer

    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    def get(self, request, endpoint_id: int):
        endpoint = selectors.webhook_endpoint_get(endpoint_id)
        page = self.paginate_queryset(selectors.webhook_deliveries(endpoint))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)


class WebhookTestView(_WebhookAPIView):
    """Queue a signed `webhook.test` delivery to the endpoint."""

    serializer_class = WebhookDeliverySerializer

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    def post(self, request, endpoint_id: int):
        endpoint = selectors.webhook_endpoint_get(endpoint_id)
        delivery = services.webhook_test_event_create(
            team=self.team, actor=self.actor, endpoint=endpoint
        )
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
