"""Who may call what: every HTTP route and every websocket route, for every kind of caller.

The expected statuses are data, one row per (route, method), one column per principal. The routes come
from the URL resolver and the websocket router, so a new endpoint without a row fails
`test_every_route_has_a_row` until someone decides, in this table, who may call it.

Principals (all acting on the objects of one user, "owner", except the viewer, who acts on their own):
  anon     no credentials
  viewer   session of a user with role viewer, on the viewer's own video, run, key and webhook
  owner    session of the owner (role user)
  key      the owner's valid API key (`Authorization: Api-Key ...`): API only, no pages
  other    session of another plain user: the owner's objects must read as missing (404), never 403
  staff    session of an admin (is_staff, superuser): everything but other users' keys and webhooks
  revoked  the owner's revoked API key
  expired  the owner's expired API key

Statuses worth a second look: 409 means the request got past every permission and reached the state
machine (the video is `completed`, so cancel and retry are refused); 302 is the redirect to the login page.
"""

import re
from datetime import timedelta

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services.api_keys import api_key_create
from notifications.models import WebhookEndpoint
from notifications.routing import websocket_urlpatterns
from processing.models import DetectorModel, Evaluation, ModelInstall
from tests.api.factories import AccountProfileFactory
from tests.event_loops import run_in_own_loop
from tests.factories import ProcessingJobFactory, TokenFactory, UserFactory, VideoFactory
from tests.videofiles import write_test_video
from videos.services.chunked_upload import chunked_upload_start

PRINCIPALS = ("anon", "viewer", "owner", "key", "other", "staff", "revoked", "expired")
LOGIN_PAGE = "/accounts/login/"
PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's
HEALTH = (200, 503)  # readiness reports the services' state: either is an answer, neither needs credentials

# fmt: off
MATRIX: dict[tuple[str, str], tuple] = {
    # (route, method)                                               anon viewer owner  key other staff revoked expired
    ("", "GET"):                                                    (302, 200, 200, 302, 200, 200, 302, 302),
    ("videos/<uuid:video_id>/", "GET"):                             (302, 200, 200, 302, 404, 200, 302, 302),
    ("videos/<uuid:video_id>/file", "GET"):                         (302, 200, 200, 302, 404, 200, 302, 302),
    ("videos/<uuid:video_id>/playback/<str:name>", "GET"):          (302, 404, 404, 302, 404, 404, 302, 302),
    # A player's signed media URL: the signature is the only credential (none here, so everyone is refused).
    ("media/signed/<path:path>", "GET"):                            (403, 403, 403, 403, 403, 403, 403, 403),
    ("videos/<uuid:video_id>/detections.json", "GET"):              (302, 200, 200, 302, 404, 200, 302, 302),
    ("accounts/login/", "GET"):                                     (200, 200, 200, 200, 200, 200, 200, 200),
    ("accounts/login/", "POST"):                                    (200, 200, 200, 200, 200, 200, 200, 200),
    ("accounts/logout/", "POST"):                                   (302, 302, 302, 302, 302, 302, 302, 302),
    ("health/live", "GET"):                                         (200, 200, 200, 200, 200, 200, 200, 200),
    ("health/ready", "GET"):                                        (HEALTH,) * 8,
    ("metrics", "GET"):                                             (403, 403, 403, 403, 403, 403, 403, 403),
    ("api/schema/", "GET"):                                         (200, 200, 200, 200, 200, 200, 401, 401),
    ("api/docs/", "GET"):                                           (200, 200, 200, 200, 200, 200, 401, 401),
    ("api/v1/auth/token/", "POST"):                                 (200, 200, 200, 200, 200, 200, 200, 200),
    ("api/v1/auth/token/rotate/", "POST"):                          (401, 200, 200, 200, 200, 200, 401, 401),
    ("api/v1/ws-ticket/", "POST"):                                  (401, 201, 201, 201, 201, 201, 401, 401),
    ("api/v1/api-keys/", "GET"):                                    (401, 200, 200, 200, 200, 200, 401, 401),
    ("api/v1/api-keys/", "POST"):                                   (401, 201, 201, 201, 201, 201, 401, 401),
    ("api/v1/api-keys/<int:key_id>/", "GET"):                       (401, 200, 200, 200, 404, 404, 401, 401),
    ("api/v1/api-keys/<int:key_id>/", "DELETE"):                    (401, 204, 204, 204, 404, 404, 401, 401),
    ("api/v1/webhooks/", "GET"):                                    (401, 200, 200, 200, 200, 200, 401, 401),
    ("api/v1/webhooks/", "POST"):                                   (401, 403, 201, 201, 201, 201, 401, 401),
    ("api/v1/webhooks/<int:endpoint_id>/", "GET"):                  (401, 200, 200, 200, 404, 404, 401, 401),
    ("api/v1/webhooks/<int:endpoint_id>/", "DELETE"):               (401, 403, 204, 204, 404, 404, 401, 401),
    ("api/v1/webhooks/<int:endpoint_id>/deliveries/", "GET"):       (401, 200, 200, 200, 404, 404, 401, 401),
    ("api/v1/audit/", "GET"):                                       (401, 403, 403, 403, 403, 200, 401, 401),
    ("api/v1/stats/", "GET"):                                       (401, 200, 200, 200, 200, 200, 401, 401),
    ("api/v1/videos/", "GET"):                                      (401, 200, 200, 200, 200, 200, 401, 401),
    ("api/v1/videos/", "POST"):                                     (401, 403, 201, 201, 201, 201, 401, 401),
    ("api/v1/videos/import/", "POST"):                              (401, 403, 400, 400, 400, 400, 401, 401),
    ("api/v1/videos/<uuid:video_id>/", "GET"):                      (401, 200, 200, 200, 404, 200, 401, 401),
    ("api/v1/videos/<uuid:video_id>/", "PATCH"):                    (401, 403, 200, 200, 404, 200, 401, 401),
    ("api/v1/videos/<uuid:video_id>/", "DELETE"):                   (401, 403, 204, 204, 404, 204, 401, 401),
    # Answered per video: another user's id is a 404 inside a 200.
    ("api/v1/videos/bulk/", "POST"):                                (401, 403, 200, 200, 200, 200, 401, 401),
    ("api/v1/videos/<uuid:video_id>/detections/", "GET"):           (401, 200, 200, 200, 404, 200, 401, 401),
    ("api/v1/videos/<uuid:video_id>/cancel/", "POST"):              (401, 403, 409, 409, 404, 409, 401, 401),
    ("api/v1/videos/<uuid:video_id>/retry/", "POST"):               (401, 403, 409, 409, 404, 409, 401, 401),
    ("api/v1/videos/<uuid:video_id>/archive/", "POST"):             (401, 403, 200, 200, 404, 200, 401, 401),
    ("api/v1/videos/<uuid:video_id>/jobs/", "GET"):                 (401, 200, 200, 200, 404, 200, 401, 401),
    ("api/v1/videos/<uuid:video_id>/jobs/", "POST"):                (401, 403, 201, 201, 404, 201, 401, 401),
    ("api/v1/videos/<uuid:video_id>/ground-truth/", "POST"):        (401, 403, 400, 400, 404, 400, 401, 401),
    ("api/v1/videos/<uuid:video_id>/evaluations/", "GET"):          (401, 200, 200, 200, 404, 200, 401, 401),
    ("api/v1/videos/<uuid:video_id>/errors/", "GET"):               (401, 200, 200, 200, 404, 200, 401, 401),
    ("api/v1/jobs/", "GET"):                                        (401, 200, 200, 200, 200, 200, 401, 401),
    ("api/v1/jobs/<uuid:job_id>/", "GET"):                          (401, 200, 200, 200, 404, 200, 401, 401),
    ("api/v1/jobs/<uuid:job_id>/", "PATCH"):                        (401, 403, 200, 200, 404, 200, 401, 401),
    ("api/v1/jobs/<uuid:job_id>/", "DELETE"):                       (401, 403, 204, 204, 404, 204, 401, 401),
    ("api/v1/jobs/<uuid:job_id>/detections/summary/", "GET"):       (401, 200, 200, 200, 404, 200, 401, 401),
    ("api/v1/jobs/<uuid:job_id>/annotated-video/", "GET"):          (401, 404, 404, 404, 404, 404, 401, 401),
    ("api/v1/jobs/<uuid:job_id>/annotated-video/", "POST"):         (401, 403, 202, 202, 404, 202, 401, 401),
    ("api/v1/jobs/<uuid:job_id>/annotated-video/choices/", "GET"):  (401, 200, 200, 200, 404, 200, 401, 401),
    ("api/v1/usage/", "GET"):                                       (401, 200, 200, 200, 200, 200, 401, 401),
    ("api/v1/usage/users/", "GET"):                                 (401, 403, 403, 403, 403, 200, 401, 401),
    ("api/v1/storage/statistics/", "GET"):                          (401, 403, 403, 403, 403, 200, 401, 401),
    ("api/v1/jobs/<uuid:job_id>/detections/", "GET"):               (401, 200, 200, 200, 404, 200, 401, 401),
    ("api/v1/jobs/<uuid:job_id>/export/<str:export_format>/", "GET"): (401, 200, 200, 200, 404, 200, 401, 401),
    ("api/v1/jobs/<uuid:job_id>/ground-truth/", "POST"):            (401, 403, 200, 200, 404, 200, 401, 401),
    ("api/v1/jobs/<uuid:job_id>/evaluation/", "GET"):               (401, 200, 200, 200, 404, 200, 401, 401),
    ("api/v1/jobs/<uuid:job_id>/evaluation/", "POST"):              (401, 403, 202, 202, 404, 202, 401, 401),
    ("api/v1/models/", "GET"):                                      (401, 200, 200, 200, 200, 200, 401, 401),
    ("api/v1/models/", "POST"):                                     (401, 403, 403, 403, 403, 400, 401, 401),
    ("api/v1/models/catalog/", "GET"):                              (401, 200, 200, 200, 200, 200, 401, 401),
    ("api/v1/models/install/", "POST"):                             (401, 403, 403, 403, 403, 400, 401, 401),
    ("api/v1/models/installs/<int:install_id>/", "GET"):            (401, 404, 404, 404, 404, 200, 401, 401),
    ("api/v1/models/<int:model_id>/", "GET"):                       (401, 200, 200, 200, 200, 200, 401, 401),
    ("api/v1/models/<int:model_id>/", "PATCH"):                     (401, 403, 403, 403, 403, 200, 401, 401),
    ("api/v1/uploads/", "POST"):                                    (401, 403, 201, 201, 201, 201, 401, 401),
    ("api/v1/uploads/<uuid:upload_id>/", "GET"):                    (401, 200, 200, 200, 404, 404, 401, 401),
    ("api/v1/uploads/<uuid:upload_id>/", "HEAD"):                   (401, 200, 200, 200, 404, 404, 401, 401),
    ("api/v1/uploads/<uuid:upload_id>/", "PATCH"):                  (401, 403, 204, 204, 404, 404, 401, 401),
    ("api/v1/uploads/<uuid:upload_id>/", "DELETE"):                 (401, 403, 204, 204, 404, 404, 401, 401),
    ("api/v1/tus/", "POST"):                                        (401, 403, 201, 201, 201, 201, 401, 401),
    ("api/v1/tus/<uuid:upload_id>/", "HEAD"):                       (401, 200, 200, 200, 404, 404, 401, 401),
    ("api/v1/tus/<uuid:upload_id>/", "PATCH"):                      (401, 403, 204, 204, 404, 404, 401, 401),
    ("api/v1/tus/<uuid:upload_id>/", "DELETE"):                     (401, 403, 204, 204, 404, 404, 401, 401),
    ("api/media/analyze", "POST"):                                  (401, 403, 422, 422, 422, 422, 401, 401),
    ("api/media/history", "GET"):                                   (401, 200, 200, 200, 200, 200, 401, 401),
    ("api/media/status/<str:analysis_id>", "GET"):                  (401, 200, 200, 200, 404, 200, 401, 401),
    ("api/media/<str:analysis_id>", "DELETE"):                      (401, 403, 204, 204, 404, 204, 401, 401),
}
# fmt: on

# Websocket routes: None = accepted (the first message is `subscribed`), else the close code.
# Another user's video closes exactly like a video that does not exist (4404): its existence is not revealed.
# fmt: off
WEBSOCKET_MATRIX: dict[str, tuple] = {
    #                           anon  viewer owner  key  other staff revoked expired
    "ws/videos/":               (4401, None, None, None, None, None, 4401, 4401),
    "ws/videos/<uuid:video_id>/": (4401, None, None, None, 4404, None, 4401, 4401),
    "ws/alerts/":               (4401, 4403, 4403, 4403, 4403, None, 4401, 4401),
}
# fmt: on

# Bodies of the requests in the table: valid where a write can cheaply succeed, so a 2xx proves the
# request went all the way through, and a refusal in another column can only come from the permission.
SMALL_VIDEO_NAME = "matrix.mp4"


def request_body(route: str, method: str, world: dict) -> dict:
    bodies = {
        ("accounts/login/", "POST"): {"data": {"username": "nobody", "password": "wrong"}},
        ("api/v1/auth/token/", "POST"): {"data": {"username": world["owner"].username, "password": PASSWORD}},
        ("api/v1/api-keys/", "POST"): {"data": {"name": "matrix"}, "content_type": "application/json"},
        ("api/v1/webhooks/", "POST"): {
            # A public address literal: resolved without DNS, never connected to at registration.
            "data": {"url": "http://93.184.216.34/hook"},
            "content_type": "application/json",
        },
        ("api/v1/videos/", "POST"): {"data": {"file": ContentFile(world["video_bytes"], name=SMALL_VIDEO_NAME)}},
        ("api/v1/videos/<uuid:video_id>/jobs/", "POST"): {
            "data": {"frame_step": 2},
            "content_type": "application/json",
        },
        ("api/v1/videos/<uuid:video_id>/", "PATCH"): {"data": {"title": "renamed"}, "content_type": "application/json"},
        ("api/v1/videos/bulk/", "POST"): {
            "data": {"action": "archive", "ids": [str(world["objects"]["video_id"])]},
            "content_type": "application/json",
        },
        ("api/v1/models/", "POST"): {"data": {}},
        ("api/v1/jobs/<uuid:job_id>/", "PATCH"): {"data": {"priority": "urgent"}, "content_type": "application/json"},
        ("api/v1/jobs/<uuid:job_id>/annotated-video/", "POST"): {"data": {}, "content_type": "application/json"},
        # A loopback address is refused before any connection: the request needs no network.
        ("api/v1/videos/import/", "POST"): {
            "data": {"source_url": "http://127.0.0.1/a.mp4"},
            "content_type": "application/json",
        },
        ("api/v1/models/install/", "POST"): {"data": {}, "content_type": "application/json"},
        ("api/v1/models/<int:model_id>/", "PATCH"): {
            "data": {"description": "reviewed"},
            "content_type": "application/json",
        },
        ("api/v1/uploads/", "POST"): {
            "data": {"filename": "clip.mp4", "size": 10},
            "content_type": "application/json",
        },
        ("api/v1/uploads/<uuid:upload_id>/", "PATCH"): {
            "data": b"\x00\x00\x00",
            "content_type": "application/offset+octet-stream",
            "headers": {"Upload-Offset": "0"},
        },
        ("api/v1/tus/", "POST"): {
            "data": b"",
            "content_type": "application/offset+octet-stream",
            "headers": {"Tus-Resumable": "1.0.0", "Upload-Length": "10"},
        },
        ("api/v1/tus/<uuid:upload_id>/", "HEAD"): {"headers": {"Tus-Resumable": "1.0.0"}},
        ("api/v1/tus/<uuid:upload_id>/", "PATCH"): {
            "data": b"\x00\x00\x00",
            "content_type": "application/offset+octet-stream",
            "headers": {"Tus-Resumable": "1.0.0", "Upload-Offset": "0"},
        },
        ("api/v1/tus/<uuid:upload_id>/", "DELETE"): {"headers": {"Tus-Resumable": "1.0.0"}},
        ("api/media/analyze", "POST"): {
            # audio is refused (422) before anything is fetched: the request needs no network
            "data": {"media_url": "https://example.com/a.mp3", "media_type": "audio"},
            "content_type": "application/json",
        },
    }
    return bodies.get((route, method), {})


def walk_http_routes(patterns=None, prefix: str = ""):
    """(route, pattern) for every URL pattern, with the include prefixes joined."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            yield from walk_http_routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def http_routes() -> set[str]:
    # The Django admin's ~120 routes are covered wholesale by test_admin_is_for_staff_only.
    return {route for route, _ in walk_http_routes() if not route.startswith("admin/")}


def websocket_routes() -> set[str]:
    return {str(entry.pattern) for entry in websocket_urlpatterns}


def test_every_route_has_a_row():
    assert http_routes() == {route for route, _ in MATRIX}, "add a row to MATRIX for each new HTTP route"
    assert websocket_routes() == set(WEBSOCKET_MATRIX), "add a row to WEBSOCKET_MATRIX for each websocket route"
    for row in [*MATRIX.values(), *WEBSOCKET_MATRIX.values()]:
        assert len(row) == len(PRINCIPALS)


@pytest.fixture(scope="session")
def small_video_bytes(tmp_path_factory) -> bytes:
    return write_test_video(tmp_path_factory.mktemp("matrix") / SMALL_VIDEO_NAME, seconds=0.5, fps=10).read_bytes()


def build_objects(owner, video_bytes: bytes) -> dict:
    """A completed video with a stored file, a completed run with an evaluation against a ground-truth run,
    an API key, a webhook and an open upload session, all owned by `owner`."""
    video = VideoFactory(owner=owner, workflow_state="completed", width=64, height=48, mime_type="video/mp4")
    video.file.save(f"{video.pk}.mp4", ContentFile(video_bytes), save=True)
    job = ProcessingJobFactory(video=video, status="completed")
    reference = ProcessingJobFactory(video=video, status="completed", is_ground_truth=True)
    Evaluation.objects.create(job=job, reference_job=reference, status="completed")
    key, _secret = api_key_create(user=owner, name="theirs")
    endpoint = WebhookEndpoint.objects.create(owner=owner, url="http://93.184.216.34/hook", secret="s" * 64)
    upload = chunked_upload_start(owner=owner, filename="clip.mp4", size=10)
    return {
        "video_id": video.pk,
        "analysis_id": video.pk,
        "job_id": job.pk,
        "key_id": key.pk,
        "endpoint_id": endpoint.pk,
        "upload_id": upload.id,
    }


@pytest.fixture
def world(db, settings, small_video_bytes):
    settings.API_RATE_LIMITS = {"key": "100000/min", "user": "100000/min", "anon": "100000/min"}
    settings.METRICS_TOKEN = ""
    owner = UserFactory()
    viewer = AccountProfileFactory(role="viewer").user
    model = DetectorModel.objects.create(name="matrix-model", weights="detectors/none.pt")
    install = ModelInstall.objects.create(source="yolo11n", catalog_name="yolo11n")
    # The video has no derived files yet: a name it does not have reads as missing for those who may look.
    shared = {
        "model_id": model.pk,
        "install_id": install.pk,
        "export_format": "coco",
        "name": "rendition.mp4",
        "path": "renditions/none.mp4",
    }
    revoked, revoked_secret = api_key_create(user=owner, name="revoked")
    ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    expired, expired_secret = api_key_create(user=owner, name="expired")
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    _valid, valid_secret = api_key_create(user=owner, name="valid")
    return {
        "owner": owner,
        "viewer": viewer,
        "other": UserFactory(),
        "staff": UserFactory(is_staff=True, is_superuser=True),
        "keys": {"key": valid_secret, "revoked": revoked_secret, "expired": expired_secret},
        "objects": {**build_objects(owner, small_video_bytes), **shared},
        "viewer_objects": {**build_objects(viewer, small_video_bytes), **shared},
        "video_bytes": small_video_bytes,
    }


def client_for(principal: str, world: dict) -> Client:
    if principal in world["keys"]:
        return Client(HTTP_AUTHORIZATION=f"Api-Key {world['keys'][principal]}")
    client = Client()
    if principal != "anon":
        client.force_login(world[principal])
    return client


def path_for(route: str, principal: str, world: dict) -> str:
    objects = world["viewer_objects"] if principal == "viewer" else world["objects"]
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda match: str(objects[match.group(1)]), route)


def send(client: Client, method: str, path: str, body: dict | None = None):
    body = body or {}
    handler = getattr(client, method.lower())
    if method in ("GET", "HEAD"):
        return handler(path, headers=body.get("headers"))
    extra = {"content_type": body["content_type"]} if "content_type" in body else {}
    return handler(path, body.get("data", {} if method == "POST" else ""), headers=body.get("headers"), **extra)


def matrix_cases():
    for (route, method), row in MATRIX.items():
        for principal, expected in zip(PRINCIPALS, row, strict=True):
            yield pytest.param(route, method, principal, expected, id=f"{method} /{route} as {principal}")


@pytest.mark.parametrize(("route", "method", "principal", "expected"), list(matrix_cases()))
def test_http_matrix(world, route, method, principal, expected):
    response = send(
        client_for(principal, world), method, path_for(route, principal, world), request_body(route, method, world)
    )
    allowed = expected if isinstance(expected, tuple) else (expected,)
    assert response.status_code in allowed, (response.status_code, getattr(response, "content", b"")[:300])
    if response.status_code == 302:
        assert response["Location"].startswith(LOGIN_PAGE), response["Location"]


# Django's own views that take more methods than they need; none of them changes anything with those.
METHODS_ANSWERED_OUTSIDE_THE_TABLE = {
    "": {"POST", "PUT", "PATCH", "DELETE"},  # the dashboard page renders for any method (CSRF still applies)
    "accounts/login/": {"PUT"},  # LoginView (a FormView) treats PUT as POST: a CSRF-checked sign-in attempt
}


def methods_outside_the_table():
    listed = {}
    for route, method in MATRIX:
        listed.setdefault(route, set()).add(method)
    for route, methods in listed.items():
        implied = (
            methods | ({"HEAD"} if "GET" in methods else set()) | METHODS_ANSWERED_OUTSIDE_THE_TABLE.get(route, set())
        )
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - implied):
            yield pytest.param(route, method, id=f"{method} /{route}")


@pytest.mark.parametrize(("route", "method"), list(methods_outside_the_table()))
def test_methods_outside_the_table_are_not_allowed(world, route, method):
    response = send(client_for("staff", world), method, path_for(route, "staff", world))
    assert response.status_code == 405, response.content[:300]


def admin_pages_without_arguments() -> list[str]:
    return sorted(
        "/" + route
        for route, pattern in walk_http_routes()
        if route.startswith("admin/") and "<" not in route and "(?P" not in route and "logout" not in route
    )


def test_admin_is_for_staff_only(world):
    """Every admin page that needs no object id: the login page for anyone but staff, the page for staff."""
    pages = admin_pages_without_arguments()
    assert len(pages) > 10
    for principal in ("anon", "viewer", "owner", "other", "key"):
        client = client_for(principal, world)
        for page in pages:
            response = client.get(page)
            if page.endswith("/login/"):
                assert response.status_code in (200, 302), (principal, page)
                continue
            assert response.status_code == 302, (principal, page, response.status_code)
            assert response["Location"].startswith("/admin/login/"), (principal, page)
    staff = client_for("staff", world)
    refused = read_only_add_pages(world["staff"]) | {"/admin/autocomplete/"}  # that one needs the model to search
    for page in pages:
        # 302: the admin's own redirects (its login page); 403: what the admin itself refuses even to staff.
        assert staff.get(page).status_code in ((403,) if page in refused else (200, 302)), page


def read_only_add_pages(staff_user) -> set[str]:
    """The add pages of models whose admin refuses adding (the audit trail, the outbox: written by the code)."""
    from django.contrib import admin
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = staff_user
    return {
        f"/admin/{model._meta.app_label}/{model._meta.model_name}/add/"
        for model, model_admin in admin.site._registry.items()
        if not model_admin.has_add_permission(request)
    }


def websocket_cases():
    for route, row in WEBSOCKET_MATRIX.items():
        for principal, expected in zip(PRINCIPALS, row, strict=True):
            yield pytest.param(route, principal, expected, id=f"/{route} as {principal}")


def websocket_scope_for(principal: str, world: dict) -> tuple[list, list]:
    """The headers and Sec-WebSocket-Protocol entries a principal connects with: the API token ("key") or
    API key (revoked, expired) offered as a subprotocol, the session cookie otherwise."""
    if principal in world["keys"]:
        kind = "token" if principal == "key" else "api-key"
        return [], ["mediaplatform", f"{kind}.{world['keys'][principal]}"]
    if principal == "anon":
        return [], []
    client = client_for(principal, world)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return [(b"cookie", cookie.encode())], []


async def websocket_outcome(path: str, headers: list, subprotocols: list | None = None) -> int | None:
    """None when the socket is accepted and subscribed, else the close code."""
    from mediaplatform.asgi import application

    communicator = WebsocketCommunicator(application, path, headers=headers, subprotocols=subprotocols)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    try:
        message = await communicator.receive_output(timeout=10)
        if message["type"] == "websocket.close":
            return message.get("code")
        assert '"subscribed"' in message["text"]
        return None
    finally:
        await communicator.disconnect()


@pytest.fixture
def websocket_world(transactional_db, settings, small_video_bytes):
    """The same world, committed: the consumer reads it from another thread's connection."""
    owner = UserFactory()
    viewer = AccountProfileFactory(role="viewer").user
    token = TokenFactory(user=owner)
    # The subprotocol takes API tokens and API keys; a revoked or expired key must not pass there.
    revoked, revoked_key = api_key_create(user=owner, name="revoked")
    ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    expired, expired_key = api_key_create(user=owner, name="expired")
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    return {
        "owner": owner,
        "viewer": viewer,
        "other": UserFactory(),
        "staff": UserFactory(is_staff=True, is_superuser=True),
        "keys": {"key": token.key, "revoked": revoked_key, "expired": expired_key},
        "objects": {"video_id": VideoFactory(owner=owner).pk},
        "viewer_objects": {"video_id": VideoFactory(owner=viewer).pk},
    }


@pytest.mark.parametrize(("route", "principal", "expected"), list(websocket_cases()))
def test_websocket_matrix(websocket_world, route, principal, expected):
    headers, subprotocols = websocket_scope_for(principal, websocket_world)
    path = path_for(route, principal, websocket_world)
    assert run_in_own_loop(websocket_outcome(path, headers, subprotocols)) == expected


def test_a_websocket_to_a_video_that_does_not_exist_closes_4404(websocket_world):
    _, subprotocols = websocket_scope_for("key", websocket_world)
    path = "/ws/videos/00000000-0000-0000-0000-000000000000/"
    assert run_in_own_loop(websocket_outcome(path, [], subprotocols)) == 4404


def test_resume_on_the_all_videos_socket_replays_nothing_of_another_users_video(websocket_world):
    """Naming another user's video in a resume map must not leak its events or its snapshot."""
    from tests.notifications.helpers import emit

    foreign = VideoFactory()
    emit(foreign.pk, progress_percentage=50)
    _, subprotocols = websocket_scope_for("key", websocket_world)

    async def resume() -> list[dict]:
        from mediaplatform.asgi import application

        communicator = WebsocketCommunicator(application, "/ws/videos/", subprotocols=subprotocols)
        await communicator.connect(timeout=10)
        try:
            received = [await communicator.receive_json_from(timeout=10)]  # subscribed
            await communicator.send_json_to({"type": "resume", "last_seq": {str(foreign.pk): 0}})
            while received[-1].get("type") != "resumed":
                received.append(await communicator.receive_json_from(timeout=10))
            return received
        finally:
            await communicator.disconnect()

    received = run_in_own_loop(resume())
    assert received[-1] == {"type": "resumed", "replayed": 0}
    assert not [message for message in received if message.get("video_id") == str(foreign.pk)]


def test_password_guessing_at_the_token_endpoint_is_rate_limited(db, settings):
    settings.API_RATE_LIMITS = {"key": "1000/min", "user": "1000/min", "anon": "3/min"}
    user = UserFactory()
    client = Client(REMOTE_ADDR="203.0.113.9")  # an address of its own: its counter starts at zero
    statuses = [
        client.post("/api/v1/auth/token/", {"username": user.username, "password": f"guess-{attempt}"}).status_code
        for attempt in range(5)
    ]
    assert 429 in statuses, statuses


def test_another_users_deleted_video_reads_as_missing_not_gone(world):
    """410 is for the owner (and staff): to anyone else a deleted video must look like one that never was."""
    from videos.services.deletion import video_soft_delete

    video_id = world["objects"]["video_id"]
    video_soft_delete(video_id=video_id, actor=world["owner"])
    other, owner = client_for("other", world), client_for("owner", world)
    for path in (f"/api/v1/videos/{video_id}/", f"/api/media/status/{video_id}", f"/videos/{video_id}/"):
        assert other.get(path).status_code == 404, path
    assert owner.get(f"/api/v1/videos/{video_id}/").status_code == 410
    assert other.delete(f"/api/v1/videos/{video_id}/").status_code == 404
    assert other.delete(f"/api/media/{video_id}").status_code == 404


def test_a_deactivated_user_loses_every_credential(world):
    """Session, token and API key all stop working once the account is deactivated."""
    owner = world["owner"]
    session, key = client_for("owner", world), client_for("key", world)
    token = Client(HTTP_AUTHORIZATION=f"Token {TokenFactory(user=owner).key}")
    for client in (session, key, token):  # each used once first: a remembered API key must be dropped too
        assert client.get("/api/v1/videos/").status_code == 200
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    assert session.get("/api/v1/videos/").status_code == 401
    assert session.get("/").status_code == 302
    assert token.get("/api/v1/videos/").status_code == 401
    assert key.get("/api/v1/videos/").status_code == 401
