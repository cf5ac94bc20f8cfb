"""A project's webhooks: add (the secret is in the 201 answer only), list, change, delete,
send a test event, and read the delivery log."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import validated
from apps.projects.selectors import project_get_for_user
from apps.webhooks.models import EVENT_TYPES, Webhook
from apps.webhooks.selectors import delivery_list, webhook_get, webhook_list
from apps.webhooks.services import (
    webhook_create,
    webhook_delete,
    webhook_test_send,
    webhook_update,
)


class WebhookOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    kind = serializers.ChoiceField(choices=Webhook.Kind.choices)
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPES))
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookCreatedSerializer(WebhookOutputSerializer):
    secret = serializers.CharField(help_text="Shown in this answer only: keep it now.")


class WebhookInputSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES), min_length=1, max_length=20
    )
    kind = serializers.ChoiceField(
        choices=Webhook.Kind.choices, required=False, default=Webhook.Kind.GENERIC
    )


class WebhookUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        min_length=1,
        max_length=20,
        required=False,
    )
    kind = serializers.ChoiceField(choices=Webhook.Kind.choices, required=False)
    active = serializers.BooleanField(required=False)


class WebhookAttemptSerializer(serializers.Serializer):
    attempt = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    duration_ms = serializers.FloatField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()


class WebhookDeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event_id = serializers.UUIDField()
    event_type = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    response_status = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    tries = WebhookAttemptSerializer(many=True, required=False)


class WebhookListApi(APIView):
    """The project's webhooks; POST adds one and answers its signing ``secret``, once.

    Each event is POSTed as JSON ``{"id", "type", "created_at", "data"}`` (a Slack webhook
    gets ``{"text": "<a sentence>"}``) with the headers ``X-Bakehouse-Timestamp`` and
    ``X-Bakehouse-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the
    secret>``. A receiver recomputes the signature over the raw body, refuses old
    timestamps, and ignores an ``id`` it has seen: a delivery that is not answered with a
    2xx is retried with growing waits, with the same id and body. The address must be
    public unless the administrator allows it (BAKEHOUSE_URL_ALLOWLIST); a private one is
    refused with 400 ``invalid_url``."""

    @extend_schema(responses=WebhookOutputSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(WebhookOutputSerializer(webhook_list(project=project), many=True).data)

    @extend_schema(request=WebhookInputSerializer, responses={201: WebhookCreatedSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = validated(WebhookInputSerializer(data=request.data))
        webhook, secret = webhook_create(project=project, **data)
        payload = {**WebhookOutputSerializer(webhook).data, "secret": secret}
        return Response(payload, status=status.HTTP_201_CREATED)


class WebhookDetailApi(APIView):
    @extend_schema(responses=WebhookOutputSerializer)
    def get(self, request: Request, project_id: int, webhook_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        webhook = webhook_get(project=project, webhook_id=webhook_id)
        return Response(WebhookOutputSerializer(webhook).data)

    @extend_schema(request=WebhookUpdateSerializer, responses=WebhookOutputSerializer)
    def patch(self, request: Request, project_id: int, webhook_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        webhook = webhook_get(project=project, webhook_id=webhook_id)
        data = validated(WebhookUpdateSerializer(data=request.data, partial=True))
        webhook = webhook_update(webhook=webhook, **data)
        return Response(WebhookOutputSerializer(webhook).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, project_id: int, webhook_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        webhook_delete(webhook=webhook_get(project=project, webhook_id=webhook_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookTestApi(APIView):
    """Send a test event (``webhook.test``) to this webhook now; 202 with its delivery."""

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    def post(self, request: Request, project_id: int, webhook_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        delivery = webhook_test_send(webhook=webhook_get(project=project, webhook_id=webhook_id))
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListApi(APIView):
    """The webhook's latest deliveries (newest first), each with its tries and the
    receiver's answers."""

    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    def get(self, request: Request, project_id: int, webhook_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        webhook = webhook_get(project=project, webhook_id=webhook_id)
        deliveries = delivery_list(webhook=webhook)
        return Response(WebhookDeliverySerializer(deliveries, many=True).data)
