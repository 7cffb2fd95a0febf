import http.server
import threading

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from accounts.services.api_keys import api_key_create
from tests.api.factories import AccountProfileFactory
from tests.factories import TokenFactory


@pytest.fixture(scope="session", autouse=True)
def clean_rate_limit_counters():
    caches["default"].clear()
    yield


@pytest.fixture
def key_client(user):
    """A client authenticated with an API key of `user`."""
    _row, key = api_key_create(user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    client.user = user
    client.key = key
    return client


@pytest.fixture
def viewer_client(db):
    profile = AccountProfileFactory(role="viewer")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {TokenFactory(user=profile.user).key}")
    client.user = profile.user
    return client


@pytest.fixture
def http_server(video_path):
    """A tiny HTTP server on loopback: /clip.mp4, /notes.txt, redirects to /clip.mp4 and to the metadata address."""
    payload = video_path.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/clip.mp4":
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            elif self.path == "/notes.txt":
                body = b"not a video at all\n" * 100
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path == "/hop":
                self.send_response(302)
                self.send_header("Location", "/clip.mp4")
                self.end_headers()
            elif self.path == "/metadata":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.end_headers()
            else:
                self.send_response(404)
                self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
