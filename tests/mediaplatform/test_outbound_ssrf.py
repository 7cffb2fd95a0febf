"""Server-side request forgery: URL import and webhooks never reach an internal address.

Internal means loopback, private, link-local, unique-local, site-local, multicast, reserved, shared and the
cloud metadata addresses, however they are written (names, decimal or hex numbers, IPv4 inside IPv6) and
however they are reached (directly, by a redirect, or by a DNS name that resolves to them).

The servers here are real HTTP servers on loopback that count the requests they get: a refusal must come
before any connection. Names resolving to internal addresses use `localhost` (resolved by this machine) or,
for other addresses, a resolver patched at the socket boundary (`socket.getaddrinfo`), the one piece
outside our stack; every other lookup goes to the real resolver.
"""

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from rest_framework.test import APIClient

from mediaplatform.outbound import OutboundRefused, OutboundTarget, address_allowed, outbound_target
from notifications.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.services.webhooks import WebhookRefused, webhook_deliver, webhook_endpoint_create
from tests.factories import TokenFactory, UserFactory, VideoFactory
from tests.videofiles import write_test_video
from videos.models import Video

pytestmark = pytest.mark.django_db

VIDEOS = "/api/v1/videos/"


class CountingServer:
    """An HTTP server on a loopback address: /clip.mp4, /redirect (302 to `redirect_to`), POSTs answered 204
    (307 to `redirect_to` on /redirect)."""

    def __init__(self, host: str, payload: bytes = b""):
        self.requests: list[str] = []
        self.redirect_to = ""
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                served.requests.append(f"GET {self.path}")
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", served.redirect_to)
                    self.end_headers()
                elif self.path == "/clip.mp4":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                else:
                    self.send_response(404)
                    self.end_headers()

            def do_POST(self):
                served.requests.append(f"POST {self.path}")
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/redirect":
                    self.send_response(307)
                    self.send_header("Location", served.redirect_to)
                else:
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory) -> bytes:
    return write_test_video(tmp_path_factory.mktemp("ssrf") / "clip.mp4", seconds=0.5).read_bytes()


@pytest.fixture
def internal_server(clip_bytes) -> Iterator[CountingServer]:
    """The internal service an attacker wants to reach, on 127.0.0.1."""
    server = CountingServer("127.0.0.1", clip_bytes)
    yield server
    server.close()


@pytest.fixture
def public_server(clip_bytes, settings) -> Iterator[CountingServer]:
    """A server standing in for a public one: 127.0.0.2, the only loopback address the test allows."""
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    server = CountingServer("127.0.0.2", clip_bytes)
    yield server
    server.close()


@pytest.fixture
def client(db) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {TokenFactory().key}")
    return api


@contextmanager
def dns(answers: dict[str, list[str]]):
    """Resolve the given names to the given addresses; any other name goes to the real resolver."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002 - socket's own signature
        if isinstance(host, str) and host.rstrip(".").lower() in answers:
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (address, port or 0, 0, 0) if ":" in address else (address, port or 0),
                )
                for address in answers[host.rstrip(".").lower()]
            ]
        return real(host, port, family, type, proto, flags)

    original = socket.getaddrinfo
    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = original


def assert_import_refused(response, code: str = "source_url_refused") -> None:
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == code
    assert not Video.objects.exists()


@pytest.mark.parametrize(
    "address",
    [
        "169.254.1.1",  # link-local
        "fe80::1",
        "fe80::1%lo",
        "fc00::1",  # unique local
        "fec0::1",  # site-local (deprecated, still routed in places)
        "2002:7f00:1::",  # 6to4 carrying 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 carrying the metadata address
        "2002:a00:1::",  # 6to4 carrying 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 carrying the metadata address
        "::ffff:169.254.169.254",
        "::127.0.0.1",  # IPv4-compatible (deprecated)
        "::",
        "ff02::1",
        "198.18.0.1",  # benchmarking
        "192.0.2.1",  # documentation
        "255.255.255.255",
    ],
)
def test_internal_addresses_in_every_spelling_are_refused(address):
    assert address_allowed(address) is False


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"])
def test_public_addresses_are_allowed(address):
    assert address_allowed(address) is True


def test_metadata_addresses_stay_refused_when_their_network_is_allowed(settings):
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["169.254.0.0/16", "fd00::/8"]
    assert address_allowed("169.254.1.1") is True
    assert address_allowed("169.254.169.254") is False
    assert address_allowed("fd00:ec2::254") is False
    assert address_allowed("::ffff:169.254.169.254") is False


@pytest.mark.parametrize(
    "host",
    [
        "localhost",  # a name this machine resolves to loopback
        "localhost.",
        "LOCALHOST",
        "2130706433",  # 127.0.0.1 as one decimal number
        "0x7f000001",
        "0177.0.0.1",  # octal
        "127.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
    ],
)
def test_url_import_refuses_loopback_however_it_is_written(client, internal_server, host):
    response = client.post(VIDEOS, {"source_url": f"http://{host}:{internal_server.port}/clip.mp4"}, format="json")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] in ("source_url_refused", "source_url_unresolvable")
    assert internal_server.requests == []


@pytest.mark.parametrize(
    ("name", "addresses"),
    [
        ("intranet.example", ["10.0.0.7"]),
        ("db.example", ["192.168.1.20"]),
        ("metadata.example", ["169.254.169.254"]),
        ("metadata6.example", ["fd00:ec2::254"]),
        ("linklocal.example", ["fe80::1"]),
        ("half-public.example", ["93.184.216.34", "10.0.0.7"]),  # one internal answer is enough to refuse
        ("mapped.example", ["::ffff:10.0.0.7"]),
    ],
)
def test_url_import_refuses_names_that_resolve_internally(client, name, addresses):
    with dns({name: addresses}):
        response = client.post(VIDEOS, {"source_url": f"http://{name}/clip.mp4"}, format="json")
    assert_import_refused(response)


@pytest.mark.parametrize(
    "target",
    [
        "http://localhost:{internal}/clip.mp4",
        "http://127.0.0.1:{internal}/clip.mp4",
        "http://2130706433:{internal}/clip.mp4",
        "http://[::ffff:127.0.0.1]:{internal}/clip.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://10.0.0.7/clip.mp4",
        "http://intranet.example/clip.mp4",
    ],
)
def test_url_import_refuses_redirects_to_internal_addresses(client, public_server, internal_server, target):
    public_server.redirect_to = target.format(internal=internal_server.port)
    with dns({"intranet.example": ["10.0.0.7"]}):
        response = client.post(VIDEOS, {"source_url": f"{public_server.url}/redirect"}, format="json")
    assert_import_refused(response)
    assert public_server.requests == ["GET /redirect"]
    assert internal_server.requests == []


@pytest.mark.parametrize("target", ["file:///etc/passwd", "gopher://127.0.0.2:70/", "ftp://127.0.0.2/clip.mp4"])
def test_url_import_refuses_redirects_to_other_schemes(client, public_server, target):
    public_server.redirect_to = target
    response = client.post(VIDEOS, {"source_url": f"{public_server.url}/redirect"}, format="json")
    assert_import_refused(response, code="invalid_source_url")


def test_a_redirect_between_allowed_addresses_is_followed(client, public_server):
    """The refusals above come from the addresses, not from refusing redirects altogether."""
    public_server.redirect_to = "/clip.mp4"
    response = client.post(VIDEOS, {"source_url": f"{public_server.url}/redirect"}, format="json")
    assert response.status_code == 201, response.content[:300]


@pytest.mark.parametrize(
    ("url", "answers"),
    [
        ("http://2130706433/hook", {}),
        ("http://0x7f000001/hook", {}),
        ("http://[::ffff:127.0.0.1]/hook", {}),
        ("http://[2002:a9fe:a9fe::1]/hook", {}),
        ("http://[fd00:ec2::254]/hook", {}),
        ("http://intranet.example/hook", {"intranet.example": ["10.0.0.7"]}),
        ("http://metadata.example/hook", {"metadata.example": ["169.254.169.254"]}),
        ("http://half-public.example/hook", {"half-public.example": ["93.184.216.34", "127.0.0.1"]}),
    ],
)
def test_webhooks_refuse_internal_targets_at_registration(url, answers):
    with dns(answers), pytest.raises(WebhookRefused):
        webhook_endpoint_create(owner=UserFactory(), url=url)
    assert not WebhookEndpoint.objects.exists()


def delivery_to(endpoint: WebhookEndpoint) -> WebhookDelivery:
    video = VideoFactory(owner=endpoint.owner)
    return WebhookDelivery.objects.create(
        endpoint=endpoint, video_id=video.pk, event_type="processing_completed", payload={}
    )


def test_a_webhook_name_that_later_resolves_internally_is_refused_at_delivery(internal_server):
    """DNS rebinding: the address is checked again at every delivery, and nothing is sent."""
    url = f"http://hooks.example:{internal_server.port}/receive"
    with dns({"hooks.example": ["93.184.216.34"]}):
        endpoint = webhook_endpoint_create(owner=UserFactory(), url=url)
    delivery = delivery_to(endpoint)
    with dns({"hooks.example": ["127.0.0.1"]}):
        webhook_deliver(delivery_id=delivery.pk)
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.response_status is None and "may not be sent to" in attempt.error
    assert internal_server.requests == []


def test_webhook_redirects_are_not_followed(public_server, internal_server):
    public_server.redirect_to = f"{internal_server.url}/admin"
    endpoint = webhook_endpoint_create(owner=UserFactory(), url=f"{public_server.url}/redirect")
    delivery = delivery_to(endpoint)
    webhook_deliver(delivery_id=delivery.pk)
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.response_status == 307 and attempt.error == "HTTP 307"
    assert len(public_server.requests) == 1 and internal_server.requests == []


@pytest.mark.parametrize(
    ("url", "answers", "reason"),
    [
        ("ftp://files.example/clip.mp4", {}, "invalid"),
        ("file:///etc/passwd", {}, "invalid"),
        ("http://user:secret@files.example/clip.mp4", {}, "invalid"),
        ("http://files.example:99999/clip.mp4", {}, "invalid"),
        ("http:///clip.mp4", {}, "invalid"),
        ("http://no-such-host.invalid/clip.mp4", {}, "unresolvable"),
        ("http://127.0.0.1/clip.mp4", {}, "address"),
        ("http://half-public.example/hook", {"half-public.example": ["93.184.216.34", "10.1.2.3"]}, "address"),
    ],
)
def test_the_one_outbound_check_refuses_with_its_reason(url, answers, reason):
    """URL import and webhooks both ask mediaplatform.outbound; each turns the reason into its own refusal."""
    with dns(answers), pytest.raises(OutboundRefused) as refused:
        outbound_target(url)
    assert refused.value.reason == reason


def test_the_one_outbound_check_answers_where_to_connect():
    with dns({"files.example": ["93.184.216.35", "93.184.216.34"]}):
        target = outbound_target("https://files.example/a/clip.mp4?size=big")
    assert target == OutboundTarget(
        scheme="https", host="files.example", port=443, path="/a/clip.mp4?size=big", address="93.184.216.34"
    )
