"""Errors with DEBUG off: the site's own 404 and 500 pages for people, the JSON error body under /api/.

Nothing of the debug page may show (settings, the URL configuration, a traceback), and the pages obey the
Content-Security-Policy like every other page: our stylesheet, no inline script or style.
"""

import re

import pytest
import requests
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|<[^>]+\sstyle\s*=", re.IGNORECASE)
DEBUG_PAGE_MARKERS = ("Using the URLconf", "Traceback", "DJANGO_SETTINGS_MODULE", "hunter2", "settings.py")


def assert_branded_page(response, heading: str) -> str:
    page = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert '<a class="brand"' in page and "mediaplatform" in page
    assert heading in page
    assert 'href="/static/css/app.css"' in page
    assert not INLINE_SCRIPT.search(page) and not INLINE_STYLE.search(page)
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    for marker in DEBUG_PAGE_MARKERS:
        assert marker not in page, marker
    return page


def test_an_unknown_page_answers_the_branded_404(settings):
    assert settings.DEBUG is False
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    page = assert_branded_page(response, "Page not found")
    assert "/no-such-page/" in page


def test_the_404_page_knows_who_is_signed_in(client):
    user = UserFactory()
    client.force_login(user)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert user.username in assert_branded_page(response, "Page not found")


def test_an_unknown_api_path_answers_the_json_error_body():
    response = Client().get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.urls("tests.mediaplatform.error_page_urls")
def test_a_failing_page_answers_the_branded_500_with_its_request_id():
    response = Client(raise_request_exception=False).get("/failing-page/", headers={"X-Request-ID": "req-500-page"})
    assert response.status_code == 500
    page = assert_branded_page(response, "Something went wrong on our side")
    assert "req-500-page" in page


@pytest.mark.urls("tests.mediaplatform.error_page_urls")
def test_a_failing_api_endpoint_answers_the_json_error_body():
    response = Client(raise_request_exception=False).get(
        "/api/v1/failing-endpoint/", headers={"X-Request-ID": "req-500-api"}
    )
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "server_error" and error["details"] == {"request_id": "req-500-api"}
    assert "hunter2" not in response.content.decode()


def test_a_host_not_allowed_answers_the_branded_400():
    response = Client().get("/accounts/login/", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert_branded_page(response, "Bad request")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_web_front_serves_static_files_and_the_error_pages_with_debug_off(live_server_process):
    """As `make run` serves it (nginx, gunicorn, DEBUG off): the stylesheet the pages link, the branded 404 for a
    page, the JSON body for the API."""
    base = f"http://{live_server_process}"
    stylesheet = requests.get(f"{base}/static/css/app.css", timeout=30)
    assert stylesheet.status_code == 200 and ".error-page" in stylesheet.text

    page = requests.get(f"{base}/no-such-page/", timeout=30)
    assert page.status_code == 404 and "Page not found" in page.text and '<a class="brand"' in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "Using the URLconf" not in page.text

    api = requests.get(f"{base}/api/v1/no-such-endpoint/", timeout=30)
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
