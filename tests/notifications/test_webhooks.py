"""Webhooks to a real HTTP server on loopback: signature, retries, every attempt recorded, address rules."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notifications.models import WebhookDelivery
from notifications.services.webhooks import (
    WebhookRefused,
    webhook_deliver,
    webhook_endpoint_create,
)
from tests.factories import UserFactory, VideoFactory
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
