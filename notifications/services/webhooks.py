"""Webhooks: signed POSTs of a video's completion or failure to URLs its owner registered.

The body is signed with HMAC-SHA256 over "<timestamp>.<body>" with the
endpoint's secret, sent as `X-Mediaplatform-Signature: t=<timestamp>,v1=<hex>`,
so a receiver can check both origin and freshness. A URL must pass the one
outbound check URL import uses too (mediaplatform.outbound), at registration
and again at every delivery (DNS can change); the connection goes to the
checked address and redirects are not followed. Failures retry with exponential backoff, each attempt recorded.

A delivery holds a worker for at most WEBHOOK_TIMEOUT_SECONDS all told (connect, request, status, headers and
body, every socket read given only the time left), and reads no more of the answer than the excerpt it
records: a receiver answering hundreds of megabytes, or trickling, costs neither memory nor time. An owner
has at most WEBHOOK_MAX_ENDPOINTS_PER_USER endpoints, since every event is POSTed to each of them.
"""

import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import timedelta

import urllib3
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from mediaplatform.outbound import (
    OutboundRefused,
    OutboundTarget,
    exchange_timed_out,
    host_header,
    outbound_target,
    pinned_connection_pool,
)
from mediaplatform.service_errors import ServiceError
from notifications.models import (
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)

logger = logging.getLogger(__name__)

DEFAULT_EVENT_TYPES = (EventType.PROCESSING_COMPLETED, EventType.PROCESSING_FAILED, EventType.PROCESSING_CANCELLED)
# Platform alerts tell how the whole platform fares: sent only to active staff owners who subscribed to them.
ALERT_EVENT_TYPES = (EventType.ALERT_OPENED, EventType.ALERT_ESCALATED, EventType.ALERT_RESOLVED)
SIGNATURE_HEADER = "X-Mediaplatform-Signature"
USER_AGENT = "mediaplatform-webhooks/1.0"
# Of the receiver's answer only this much is read: what an attempt records of it.
RESPONSE_EXCERPT_BYTES = WebhookAttempt._meta.get_field("response_excerpt").max_length
CONNECT_TIMEOUT_SECONDS = 5.0


class WebhookRefused(ServiceError):
    default_code = "webhook_url_refused"


class WebhookEndpointLimitReached(ServiceError):
    def __init__(self, limit: int):
        super().__init__(
            f"You have {limit} webhooks, the most one account may have; delete one to add another.",
            code="webhook_limit_reached",
            status_code=409,
            details={"limit": limit},
        )
        self.limit = limit


class WebhookTimedOut(Exception):
    def __init__(self, seconds: float):
        self.message = f"No complete answer within {seconds:g} s."
        super().__init__(self.message)


def webhook_target(url: str) -> OutboundTarget:
    """The checked target of a webhook URL (mediaplatform.outbound's one check); raises WebhookRefused."""
    try:
        return outbound_target(url)
    except OutboundRefused as refused:
        raise WebhookRefused(refused.message) from None


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_endpoint_create(
    *, owner: AbstractBaseUser, url: str, event_types: list[str] | None = None, description: str = ""
) -> WebhookEndpoint:
    """Register a URL; the returned endpoint's secret is shown to the user once.

    Raises WebhookRefused for a URL or event type it may not take, WebhookEndpointLimitReached when the owner
    already has WEBHOOK_MAX_ENDPOINTS_PER_USER endpoints."""
    webhook_target(url)
    unknown = set(event_types or []) - set(EventType.values)
    if unknown:
        raise WebhookRefused(f"Unknown event types: {', '.join(sorted(unknown))}.")
    staff_only = set(event_types or []) & set(ALERT_EVENT_TYPES)
    if staff_only and not owner.is_staff:
        raise WebhookRefused(f"Only staff may subscribe to {', '.join(sorted(staff_only))}.")
    limit = settings.WEBHOOK_MAX_ENDPOINTS_PER_USER
    with transaction.atomic():
        if limit:
            # The owner's row is locked so that registrations made at the same moment are counted one at a time.
            get_user_model().objects.select_for_update().only("pk").get(pk=owner.pk)
            if WebhookEndpoint.objects.filter(owner=owner).count() >= limit:
                logger.warning("webhook registration refused for user %s: limit of %s reached", owner.pk, limit)
                raise WebhookEndpointLimitReached(limit)
        endpoint = WebhookEndpoint.objects.create(
            owner=owner,
            url=url,
            secret=secrets.token_hex(32),
            event_types=list(event_types or DEFAULT_EVENT_TYPES),
            description=description,
        )
        audit_record(action="webhook.create", obj=endpoint, actor=owner, new_values={"url": url})
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: AbstractBaseUser) -> None:
    with transaction.atomic():
        audit_record(action="webhook.delete", obj=endpoint, actor=actor, old_values={"url": endpoint.url})
        endpoint.delete()


def webhooks_enqueue(*, video, event_type: str, payload: dict) -> list[WebhookDelivery]:
    """Create a delivery per subscribed endpoint of the video's owner; sent once the transaction commits."""
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(owner_id=video.owner_id, is_active=True)
        if event_type in (endpoint.event_types or DEFAULT_EVENT_TYPES)
    ]
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint=endpoint, video_id=video.pk, event_type=event_type, payload=payload)
        for endpoint in endpoints
    )
    if deliveries:
        from notifications.tasks import deliver_webhook

        ids = [delivery.pk for delivery in deliveries]
        transaction.on_commit(lambda: [deliver_webhook.delay(delivery_id) for delivery_id in ids])
    return deliveries


def alert_webhooks_enqueue(*, event_type: str, payload: dict) -> list[WebhookDelivery]:
    """Create a delivery per active staff endpoint subscribed to the alert event; sent once the transaction
    commits."""
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(is_active=True, owner__is_staff=True, owner__is_active=True)
        if event_type in (endpoint.event_types or ())
    ]
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint=endpoint, event_type=event_type, payload=payload) for endpoint in endpoints
    )
    if deliveries:
        from notifications.tasks import deliver_webhook

        ids = [delivery.pk for delivery in deliveries]
        transaction.on_commit(lambda: [deliver_webhook.delay(delivery_id) for delivery_id in ids])
    return deliveries


def _response_excerpt(response: urllib3.BaseHTTPResponse) -> str:
    """The first RESPONSE_EXCERPT_BYTES of the body, read piece by piece so that a body the deadline cuts
    keeps what arrived in time; the rest is never read."""
    received = b""
    try:
        while len(received) < RESPONSE_EXCERPT_BYTES:
            piece = response.read1(RESPONSE_EXCERPT_BYTES - len(received), decode_content=False)
            if not piece:
                break
            received += piece
    except (urllib3.exceptions.HTTPError, OSError):
        pass  # the status already tells how the delivery went; the body only illustrates it
    return received.decode("utf-8", "replace")


def _post(*, endpoint: WebhookEndpoint, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """(status, excerpt of the body) within WEBHOOK_TIMEOUT_SECONDS; raises WebhookTimedOut past it."""
    deadline = time.monotonic() + settings.WEBHOOK_TIMEOUT_SECONDS
    target = webhook_target(endpoint.url)
    pool = pinned_connection_pool(
        scheme=target.scheme,
        host=target.host,
        port=target.port,
        address=target.address,
        deadline=deadline,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
    )
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            redirect=False,
            retries=False,
            preload_content=False,
            decode_content=False,
            # The excerpt is read as it comes: ask for it uncompressed, so it is text and a small read stays small.
            headers={"Host": host_header(target.host, target.port), "Accept-Encoding": "identity", **headers},
        )
        try:
            return response.status, _response_excerpt(response)
        finally:
            response.close()  # the unread rest of the body is dropped with the connection, never drained
    except urllib3.exceptions.HTTPError as exc:
        if exchange_timed_out(exc, deadline):
            raise WebhookTimedOut(settings.WEBHOOK_TIMEOUT_SECONDS) from exc
        raise
    finally:
        pool.close()


def webhook_deliver(*, delivery_id) -> float | None:
    """Try one delivery once; returns the seconds to wait before the next try, or None when done."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().select_related("endpoint").get(pk=delivery_id)
        if delivery.status != WebhookDeliveryStatus.PENDING:
            return None
        delivery.attempts += 1
        number = delivery.attempts
        delivery.save(update_fields=["attempts"])

    endpoint = delivery.endpoint
    body = json.dumps(
        {
            "id": str(delivery.pk),
            "event_type": delivery.event_type,
            # None for a platform alert, which concerns no video.
            "video_id": str(delivery.video_id) if delivery.video_id else None,
            "data": delivery.payload,
        },
        separators=(",", ":"),
    ).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Mediaplatform-Event": delivery.event_type,
        "X-Mediaplatform-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: sign(secret=endpoint.secret, timestamp=timestamp, body=body),
    }
    started = time.perf_counter()
    status_code, excerpt, error = None, "", ""
    try:
        status_code, excerpt = _post(endpoint=endpoint, body=body, headers=headers)
    except (WebhookRefused, WebhookTimedOut) as failed:
        error = failed.message
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = (time.perf_counter() - started) * 1000
    succeeded = status_code is not None and 200 <= status_code < 300
    if status_code is not None and not succeeded:
        error = f"HTTP {status_code}"

    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=number,
            response_status=status_code,
            response_excerpt=excerpt,
            error=error[:2000],
            duration_ms=round(duration_ms, 2),
        )
        if succeeded:
            delivery.status, delivery.delivered_at, delivery.next_retry_at = (
                WebhookDeliveryStatus.SUCCEEDED,
                timezone.now(),
                None,
            )
            retry_in = None
        elif number >= settings.WEBHOOK_MAX_ATTEMPTS:
            delivery.status, delivery.next_retry_at = WebhookDeliveryStatus.FAILED, None
            retry_in = None
        else:
            retry_in = settings.WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** (number - 1)
            delivery.next_retry_at = timezone.now() + timedelta(seconds=retry_in)
        delivery.save(update_fields=["status", "delivered_at", "next_retry_at"])
    log = logger.info if succeeded else logger.warning
    log("webhook delivery %s attempt %s to %s: %s", delivery.pk, number, endpoint.url, error or status_code)
    return retry_in
