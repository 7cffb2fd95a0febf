"""A signed-in browser session cannot be made to write from another site: every write needs the CSRF token.

The test client here enforces CSRF as a browser session meets it (`enforce_csrf_checks=True`). Each write is
sent twice from the same session: without the token it is refused with 403 and nothing changes; with the
token (the `csrftoken` cookie echoed as X-CSRFToken, as static/js does, or the form field) it goes through.
Credentials a browser never attaches by itself (API keys, tokens) need no CSRF token.
"""

import pytest
from django.test import Client

from accounts.models import ApiKey
from accounts.services.api_keys import api_key_create
from tests.factories import ProcessingJobFactory, TokenFactory, UserFactory, VideoFactory
from videos.models import Video
from videos.services.chunked_upload import chunked_upload_start

pytestmark = pytest.mark.django_db

CSRF_COOKIE = "csrftoken"


def browser_session(user) -> Client:
    """A signed-in session that has loaded a page, so it holds the CSRF cookie as a browser would."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/").status_code == 200
    assert CSRF_COOKIE in client.cookies
    return client


def csrf_header(client: Client) -> dict[str, str]:
    return {"X-CSRFToken": client.cookies[CSRF_COOKIE].value}


def refused_for_csrf(response) -> bool:
    return response.status_code == 403 and b"CSRF" in response.content


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def session(owner) -> Client:
    return browser_session(owner)


# (method, path template, JSON body or None, status with the token): the writes the dashboard's scripts send.
API_WRITES = [
    ("post", "/api/v1/videos/{video}/archive/", None, 200),
    ("post", "/api/v1/videos/{video}/jobs/", {"frame_step": 2}, 201),
    ("delete", "/api/v1/videos/{video}/", None, 204),
    ("post", "/api/v1/api-keys/", {"name": "from the browser"}, 201),
    ("post", "/api/v1/uploads/", {"filename": "clip.mp4", "size": 10}, 201),
    ("delete", "/api/v1/uploads/{upload}/", None, 204),
    ("post", "/api/media/analyze", {"media_url": "https://example.com/a.mp3", "media_type": "audio"}, 422),
    ("delete", "/api/media/{video}", None, 204),
]


@pytest.mark.parametrize(("method", "template", "body", "accepted"), API_WRITES, ids=lambda v: str(v))
def test_api_writes_from_a_session_need_the_csrf_token(session, owner, method, template, body, accepted):
    video = VideoFactory(owner=owner, workflow_state="completed")
    ProcessingJobFactory(video=video, status="completed")
    upload = chunked_upload_start(owner=owner, filename="clip.mp4", size=10)
    path = template.format(video=video.pk, upload=upload.id)
    send = getattr(session, method)
    kwargs = {"content_type": "application/json"} | ({"data": body} if body is not None else {})

    without = send(path, **kwargs)
    assert refused_for_csrf(without), (without.status_code, without.content[:200])
    assert Video.objects.filter(pk=video.pk, deleted_at__isnull=True, workflow_state="completed").exists()

    with_token = send(path, headers=csrf_header(session), **kwargs)
    assert with_token.status_code == accepted, with_token.content[:300]


def test_a_chunk_needs_the_token_too(session, owner):
    upload = chunked_upload_start(owner=owner, filename="clip.mp4", size=10)
    path = f"/api/v1/uploads/{upload.id}/"
    chunk = {"data": b"\x00" * 4, "content_type": "application/offset+octet-stream"}
    assert refused_for_csrf(session.patch(path, headers={"Upload-Offset": "0"}, **chunk))
    response = session.patch(path, headers={"Upload-Offset": "0", **csrf_header(session)}, **chunk)
    assert response.status_code == 204 and response["Upload-Offset"] == "4"


def test_a_token_from_another_site_is_refused_by_origin(session):
    """A valid token does not help a request whose Origin names another site."""
    headers = {**csrf_header(session), "Origin": "http://evil.example"}
    response = session.post("/api/v1/api-keys/", {"name": "x"}, content_type="application/json", headers=headers)
    assert refused_for_csrf(response)
    assert not ApiKey.objects.exists()


def test_reads_need_no_token(session):
    assert session.get("/api/v1/videos/").status_code == 200


def test_header_credentials_need_no_csrf_token(owner):
    """A browser never adds an Authorization header on its own, so API clients are not asked for the token."""
    _row, key = api_key_create(user=owner, name="script")
    for authorization in (f"Api-Key {key}", f"Token {TokenFactory(user=owner).key}"):
        client = Client(enforce_csrf_checks=True, headers={"Authorization": authorization})
        response = client.post("/api/v1/api-keys/", {"name": "scripted"}, content_type="application/json")
        assert response.status_code == 201, response.content[:200]


def test_sign_out_needs_the_token(session):
    assert refused_for_csrf(session.post("/accounts/logout/"))
    assert session.get("/api/v1/videos/").status_code == 200  # still signed in
    signed_out = session.post("/accounts/logout/", {"csrfmiddlewaretoken": session.cookies[CSRF_COOKIE].value})
    assert signed_out.status_code == 302
    assert session.get("/api/v1/videos/").status_code in (401, 403)


def test_sign_in_needs_the_token():
    """Login CSRF: another site must not sign a browser into the attacker's account."""
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    credentials = {"username": user.username, "password": "correct-horse-battery"}
    assert refused_for_csrf(client.post("/accounts/login/", credentials))
    client.get("/accounts/login/")
    signed_in = client.post(
        "/accounts/login/", {**credentials, "csrfmiddlewaretoken": client.cookies[CSRF_COOKIE].value}
    )
    assert signed_in.status_code == 302


def test_admin_transition_buttons_need_the_token():
    staff = browser_session(UserFactory(is_staff=True, is_superuser=True))
    video = VideoFactory(workflow_state="completed")
    url = f"/admin/videos/video/{video.pk}/transition/archive/"
    assert refused_for_csrf(staff.post(url))
    video.refresh_from_db()
    assert video.workflow_state == "completed"
    assert staff.post(url, {"csrfmiddlewaretoken": staff.cookies[CSRF_COOKIE].value}).status_code == 302
    video.refresh_from_db()
    assert video.workflow_state == "archived"
