"""Webhooks to a real HTTP server on loopback: signature, retries, every attempt recorded, address rules."""

import hashlib
import hmac
import json
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.services.webhooks import (
    WebhookEndpointLimitReached,
    WebhookRefused,
    webhook_deliver,
    webhook_endpoint_create,
)
from tests.factories import UserFactory, VideoFactory
from tests.slow_servers import endless, slow_server, trickle
from videos.services.transitions import video_transition

pytestmark = pytest.mark.django_db


class Receiver:
    """A webhook receiver answering with the statuses it is given, in order, and keeping what it got."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/mediaplatform"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory(settings):
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the test's own receiver lives on loopback
    made = []

    def make(statuses=()):
        receiver = Receiver(statuses)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


def test_a_completed_video_is_posted_signed_and_retried_until_accepted(receiver_factory, settings):
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 30
    receiver = receiver_factory(statuses=[500, 200])
    video = VideoFactory(workflow_state="processing")
    endpoint = webhook_endpoint_create(owner=video.owner, url=receiver.url)

    video_transition(video_id=video.pk, transition_name="complete", event_type="processing_completed")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)

    assert webhook_deliver(delivery_id=delivery.pk) == 30, "a 500 is retried after the backoff"
    assert webhook_deliver(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    assert list(delivery.attempt_log.values_list("response_status", flat=True)) == [500, 200]

    headers, body = receiver.requests[-1]
    timestamp, signature = (part.split("=", 1)[1] for part in headers["X-Mediaplatform-Signature"].split(","))
    expected = hmac.new(endpoint.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    event = json.loads(body)
    assert (event["event_type"], event["video_id"]) == ("processing_completed", str(video.pk))
    assert event["data"]["state"] == "completed"


def test_a_delivery_gives_up_after_its_attempts(receiver_factory, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver = receiver_factory(statuses=[503, 503, 503, 503])
    video = VideoFactory(workflow_state="processing")
    webhook_endpoint_create(owner=video.owner, url=receiver.url)
    video_transition(video_id=video.pk, transition_name="fail", reason="boom", event_type="processing_failed")
    delivery = WebhookDelivery.objects.get()

    delays = [webhook_deliver(delivery_id=delivery.pk) for _ in range(3)]

    delivery.refresh_from_db()
    assert delays[-1] is None and delivery.status == "failed" and delivery.attempt_log.count() == 3


def test_only_the_owners_endpoints_for_subscribed_events_get_deliveries(receiver_factory):
    receiver = receiver_factory()
    video = VideoFactory(workflow_state="processing")
    webhook_endpoint_create(owner=video.owner, url=receiver.url, event_types=["processing_failed"])
    webhook_endpoint_create(owner=UserFactory(), url=receiver.url)

    video_transition(video_id=video.pk, transition_name="complete", event_type="processing_completed")

    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "ftp://example.com/hook",
    ],
)
def test_internal_addresses_are_refused(url):
    with pytest.raises(WebhookRefused):
        webhook_endpoint_create(owner=UserFactory(), url=url)


def test_the_webhook_api_shows_the_secret_once_and_refuses_bad_urls(api_client, receiver_factory):
    receiver = receiver_factory()
    created = api_client.post("/api/v1/webhooks/", {"url": receiver.url}, format="json")
    assert created.status_code == 201 and len(created.json()["secret"]) == 64
    listing = api_client.get("/api/v1/webhooks/").json()
    assert listing["count"] == 1 and "secret" not in listing["results"][0]

    refused = api_client.post("/api/v1/webhooks/", {"url": "http://169.254.169.254/"}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "webhook_url_refused"
    assert api_client.delete(f"/api/v1/webhooks/{created.json()['id']}/").status_code == 204


def test_the_number_of_endpoints_per_user_is_capped(api_client, receiver_factory, settings):
    settings.WEBHOOK_MAX_ENDPOINTS_PER_USER = 2
    receiver = receiver_factory()
    created = [api_client.post("/api/v1/webhooks/", {"url": receiver.url}, format="json") for _ in range(2)]
    assert [response.status_code for response in created] == [201, 201]

    refused = api_client.post("/api/v1/webhooks/", {"url": receiver.url}, format="json")

    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "webhook_limit_reached" and error["details"] == {"limit": 2}
    assert "delete one" in error["message"]
    assert WebhookEndpoint.objects.filter(owner=api_client.user).count() == 2
    assert webhook_endpoint_create(owner=UserFactory(), url=receiver.url), "the limit is per user"
    assert api_client.delete(f"/api/v1/webhooks/{created[0].json()['id']}/").status_code == 204
    assert api_client.post("/api/v1/webhooks/", {"url": receiver.url}, format="json").status_code == 201


def test_the_service_refuses_past_the_limit(receiver_factory, settings):
    settings.WEBHOOK_MAX_ENDPOINTS_PER_USER = 1
    receiver = receiver_factory()
    owner = UserFactory()
    webhook_endpoint_create(owner=owner, url=receiver.url)
    with pytest.raises(WebhookEndpointLimitReached):
        webhook_endpoint_create(owner=owner, url=receiver.url)
    assert WebhookEndpoint.objects.filter(owner=owner).count() == 1


def pending_delivery(url: str) -> WebhookDelivery:
    video = VideoFactory(workflow_state="processing")
    webhook_endpoint_create(owner=video.owner, url=url)
    video_transition(video_id=video.pk, transition_name="complete", event_type="processing_completed")
    return WebhookDelivery.objects.get()


HUGE_BODY_BYTES = 128 * 1024**2


def test_a_huge_answer_is_read_no_further_than_the_excerpt_kept(settings):
    """A receiver answering 128 MB: the worker reads the 500 bytes it records and hangs up; its memory does
    not grow with the answer, and the receiver could send no more than the sockets' buffers hold."""
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {HUGE_BODY_BYTES}\r\n\r\n".encode()
    with slow_server(endless(head, at_most=HUGE_BODY_BYTES)) as receiver:
        delivery = pending_delivery(receiver.url)
        tracemalloc.start()
        try:
            assert webhook_deliver(delivery_id=delivery.pk) is None
            _, peak_bytes = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    delivery.refresh_from_db()
    attempt = delivery.attempt_log.get()
    assert delivery.status == "succeeded" and attempt.response_status == 200
    assert attempt.response_excerpt == "x" * 500
    assert peak_bytes < 8 * 1024**2, f"delivery allocated {peak_bytes / 1024**2:.1f} MiB"
    assert receiver.bytes_sent < HUGE_BODY_BYTES / 4


@pytest.mark.parametrize(
    ("head", "then", "outcome"),
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a" * 100, "retried", id="headers"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n", b"b" * 1000, "succeeded", id="body-after-a-200"
        ),
    ],
)
def test_a_trickling_receiver_holds_the_worker_no_longer_than_the_time_limit(settings, head, then, outcome):
    """A byte every half second never lets a per-read timeout fire; the whole POST still ends at
    WEBHOOK_TIMEOUT_SECONDS (bound generously at 4 s against 1 s, while the trickle would last 30 s). A status
    that came in time decides the delivery; without one, the attempt failed and is retried."""
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 30
    with slow_server(trickle(head, then, interval=0.5, lasts=30)) as receiver:
        delivery = pending_delivery(receiver.url)
        started = time.monotonic()
        retry_in = webhook_deliver(delivery_id=delivery.pk)
        elapsed = time.monotonic() - started
    assert elapsed < 4, f"the delivery held the worker {elapsed:.1f} s"
    delivery.refresh_from_db()
    attempt = delivery.attempt_log.get()
    if outcome == "retried":
        assert retry_in == 30 and delivery.status == "pending"
        assert attempt.response_status is None and attempt.error == "No complete answer within 1 s."
    else:
        assert retry_in is None and delivery.status == "succeeded"
        assert attempt.response_status == 200 and set(attempt.response_excerpt) <= {"b"}
