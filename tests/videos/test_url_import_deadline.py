"""URL import has one deadline for the whole download, enforced on every socket read.

A server that sends a byte every half second never lets a per-read timeout fire; the import must still give
up at URL_IMPORT_TIMEOUT_SECONDS (plus a margin for the machine), answer its usual timeout error and store
nothing. The bound below is generous (4 s against a 1 s deadline) while the trickle would last 30 s.
"""

import time

import pytest

from audit.models import StorageOperation
from tests.slow_servers import slow_server, trickle
from videos.models import Video

pytestmark = pytest.mark.django_db

VIDEOS = "/api/v1/videos/"
DEADLINE_SECONDS = 1
BOUND_SECONDS = 4
MP4_START = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


@pytest.fixture
def short_deadline(settings):
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the test's own server lives on loopback
    settings.URL_IMPORT_TIMEOUT_SECONDS = DEADLINE_SECONDS


def import_timed(api_client, url: str):
    started = time.monotonic()
    response = api_client.post(VIDEOS, {"source_url": url}, format="json")
    return response, time.monotonic() - started


def assert_timed_out_storing_nothing(response, elapsed: float) -> None:
    assert elapsed < BOUND_SECONDS, f"the import held the request {elapsed:.1f} s"
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "source_fetch_timeout"
    assert error["message"] == f"The download took longer than {DEADLINE_SECONDS} s."
    assert not Video.objects.exists()
    download = StorageOperation.objects.get(operation="download")
    assert download.success is False and download.error_message


@pytest.mark.parametrize(
    ("head", "then"),
    [
        pytest.param(b"", b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n\r\n" + b"\0" * 100, id="status-line"),
        pytest.param(b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a" * 100, id="headers"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 1000000\r\n\r\n" + MP4_START,
            b"\0" * 1000,
            id="body",
        ),
    ],
)
def test_a_trickling_server_is_cut_at_the_deadline(api_client, short_deadline, head, then):
    with slow_server(trickle(head, then, interval=0.5, lasts=30)) as server:
        response, elapsed = import_timed(api_client, f"{server.url}/clip.mp4")
    assert_timed_out_storing_nothing(response, elapsed)


def test_the_deadline_covers_every_redirect_hop_together(api_client, short_deadline):
    """Each hop, a redirect to the next, takes 0.6 s: within a per-hop limit of 1 s, past the one deadline by the
    second hop."""
    redirect = b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n"
    with slow_server(trickle(b"", redirect, interval=0.6 / len(redirect))) as server:
        response, elapsed = import_timed(api_client, f"{server.url}/first")
        assert server.connections >= 2
    assert_timed_out_storing_nothing(response, elapsed)
