"""Small hostile inputs through the real views: each gets a clear 4xx with the error body and changes nothing.

Deeply nested JSON, numbers of thousands of digits, integers past their column, dates at the ends of the
calendar, absurd Range headers, malformed ids in admin URLs. Before these were handled, each answered 500
(RecursionError, ValueError from int(), IntegrityError, OverflowError, ValidationError).
"""

import io
import json
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authtoken.models import Token
from rest_framework.parsers import JSONParser
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.models import ApiKey
from audit.models import AuditLogEntry
from mediaplatform.api.parsers import BoundedJSONParser
from notifications.models import WebhookEndpoint
from processing.models import Detection, ProcessingJob
from tests.factories import ProcessingJobFactory, UserFactory, VideoFactory, add_detections
from videos.models import Video

pytestmark = pytest.mark.django_db

FIVE_THOUSAND_DIGITS = "9" * 5000
DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000


def stored_rows() -> dict:
    """What a refused request must leave as it was."""
    return {
        model.__name__: model.objects.count()
        for model in (Video, ProcessingJob, Detection, ApiKey, Token, WebhookEndpoint, AuditLogEntry)
    }


def assert_error_body(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert error["code"] and error["message"] and isinstance(error["details"], dict)
    return error


@pytest.fixture
def anonymous():
    return APIClient()


@pytest.fixture
def owned_video(user):
    return VideoFactory(owner=user, workflow_state="completed", width=64, height=48, frame_count=None)


# Deeply nested JSON ---------------------------------------------------------------------------------------------

JSON_ENDPOINTS = [
    ("anonymous", "/api/v1/auth/token/"),
    ("user", "/api/media/analyze"),
    ("user", "/api/v1/uploads/"),
    ("user", "/api/v1/videos/"),
    ("user", "/api/v1/videos/{video}/jobs/"),
    ("user", "/api/v1/api-keys/"),
    ("user", "/api/v1/webhooks/"),
]


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
@pytest.mark.parametrize(("principal", "path"), JSON_ENDPOINTS)
def test_deeply_nested_json_is_refused_with_400(principal, path, body, api_client, anonymous, owned_video):
    client = api_client if principal == "user" else anonymous
    before = stored_rows()

    response = client.post(path.format(video=owned_video.pk), body, content_type="application/json")

    error = assert_error_body(response, 400)
    assert error["code"] == "parse_error" and "nested deeper" in error["message"]
    assert stored_rows() == before


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('{"filename": "a.mp4", "size": ' + FIVE_THOUSAND_DIGITS + "}", "too long"),
        ('{"filename": "a.mp4", "size": 1e400}', "too large"),
        ('{"filename": "a.mp4", "size": NaN}', "not a JSON number"),
        ('{"filename": "a.mp4", "size": -Infinity}', "not a JSON number"),
        ("[" * 65 + "]" * 65, "nested deeper"),
    ],
)
def test_json_numbers_no_column_holds_are_refused_with_400(api_client, body, words):
    before = stored_rows()
    response = api_client.post("/api/v1/uploads/", body, content_type="application/json")
    error = assert_error_body(response, 400)
    assert words in error["message"]
    assert stored_rows() == before


def test_json_nested_as_deep_as_allowed_is_read(api_client):
    config = json.dumps({"filename": "a.mp4", "size": 10, "extra": [[[[[[[[[[[]]]]]]]]]]]})
    assert api_client.post("/api/v1/uploads/", config, content_type="application/json").status_code == 201


def test_a_json_body_past_the_size_limit_is_refused(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    before = stored_rows()
    body = json.dumps({"filename": "a.mp4", "size": 10, "title": "x" * 1000})
    response = api_client.post("/api/v1/uploads/", body, content_type="application/json")
    assert response.status_code in (400, 413)
    assert stored_rows() == before


def _routes(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def test_every_api_view_reads_json_with_the_bounded_parser():
    """A view naming DRF's JSONParser (directly or through a parent such as ObtainAuthToken) would bring back
    the RecursionError on a deep body."""
    unbounded = []
    for route, callback in _routes(get_resolver().url_patterns):
        view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if not (isinstance(view_class, type) and issubclass(view_class, APIView)):
            continue
        initkwargs = getattr(callback, "view_initkwargs", None) or getattr(callback, "initkwargs", {})
        parsers = initkwargs.get("parser_classes", view_class.parser_classes)
        for parser in parsers:
            if issubclass(parser, JSONParser) and not issubclass(parser, BoundedJSONParser):
                unbounded.append((route, parser.__name__))
    assert not unbounded


# Integers bounded by their columns ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"start_frame": 1000000000000}', "start_frame"),
        ('{"end_frame": 1e12}', "end_frame"),
        ('{"start_frame": 2147483648}', "start_frame"),
        ('{"frame_step": 1000000000000}', "frame_step"),
        ('{"start_frame": -1}', "start_frame"),
        ('{"end_frame": ' + "9" * 4000 + "}", "end_frame"),
        ('{"max_fps": 1e308}', "max_fps"),
        ('{"model": "' + "m" * 5000 + '"}', "model"),
    ],
)
def test_run_options_past_their_columns_are_refused_naming_the_field(api_client, owned_video, body, field):
    before = stored_rows()
    response = api_client.post(f"/api/v1/videos/{owned_video.pk}/jobs/", body, content_type="application/json")
    error = assert_error_body(response, 400)
    assert field in error["details"] and error["message"].startswith(field)
    assert stored_rows() == before


def test_the_largest_start_frame_a_column_holds_is_accepted(api_client, owned_video):
    response = api_client.post(f"/api/v1/videos/{owned_video.pk}/jobs/", {"start_frame": 2**31 - 1}, format="json")
    assert response.status_code == 201, response.content[:300]
    assert ProcessingJob.objects.get(pk=response.json()["id"]).start_frame == 2**31 - 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/uploads/", {"filename": "a.mp4", "size": 10, "frame_step": 10**12}),
        ("/api/v1/videos/", {"source_url": "http://example.com/a.mp4", "frame_step": 10**12}),
    ],
)
def test_upload_options_past_their_columns_are_refused(api_client, path, body):
    before = stored_rows()
    error = assert_error_body(api_client.post(path, body, format="json"), 400)
    assert "frame_step" in error["details"]
    assert stored_rows() == before


@pytest.mark.parametrize("start", [str(10**12), FIVE_THOUSAND_DIGITS, "-1", "1e3", "٣"])
def test_the_players_detection_reads_refuse_a_start_past_any_frame(client, owned_video, start):
    client.force_login(owned_video.owner)
    response = client.get(f"/videos/{owned_video.pk}/detections.json", {"start": start})
    error = assert_error_body(response, 400)
    assert "start" in error["message"]


@pytest.mark.parametrize("page", [FIVE_THOUSAND_DIGITS, "9" * 1001])
def test_history_pages_of_thousands_of_digits_are_refused_with_422(api_client, page):
    assert_error_body(api_client.get("/api/media/history", {"page": page}), 422)


@pytest.mark.parametrize("params", [{"page": FIVE_THOUSAND_DIGITS}, {"per_page": FIVE_THOUSAND_DIGITS}])
def test_video_list_pages_of_thousands_of_digits_are_not_a_server_error(api_client, params):
    response = api_client.get("/api/v1/videos/", params)
    assert response.status_code < 500


# Dates at the ends of the calendar ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"to": "0001-01-01T00:00:00Z"},
        {"to": "0001-01-01T23:59:59Z"},
        {"from": "9999-12-31T23:59:59Z"},
        {"from": "0001-01-01T00:00:00Z", "to": "0001-01-01T00:00:00Z"},
        {"to": "0001-01-01T00:00:00+01:00"},
        {"from": "9999-12-31T23:59:59-01:00"},
        {"from": "10000-01-01T00:00:00Z"},
    ],
)
def test_stats_windows_off_the_calendar_are_refused_with_400(api_client, params):
    error = assert_error_body(api_client.get("/api/v1/stats/", params), 400)
    assert error["message"]


def test_stats_over_the_whole_calendar_are_answered(api_client):
    VideoFactory(owner=api_client.user)
    response = api_client.get("/api/v1/stats/", {"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"})
    assert response.status_code == 200 and response.json()["total_videos"] == 1
    assert api_client.get("/api/v1/stats/", {"to": "0001-01-02T00:00:00Z"}).status_code == 200


# Range headers --------------------------------------------------------------------------------------------------

FILE_BYTES = bytes(range(256)) * 4


@pytest.fixture
def stored_video(client, user):
    video = VideoFactory(owner=user, workflow_state="completed", mime_type="video/mp4")
    video.file.save(f"{video.pk}.mp4", ContentFile(FILE_BYTES), save=True)
    client.force_login(user)
    return video


@pytest.mark.parametrize(
    ("range_header", "status", "first", "last"),
    [
        (f"bytes={FIVE_THOUSAND_DIGITS}-", 416, None, None),
        (f"bytes={FIVE_THOUSAND_DIGITS}-{FIVE_THOUSAND_DIGITS}", 416, None, None),
        (f"bytes=0-{FIVE_THOUSAND_DIGITS}", 206, 0, len(FILE_BYTES) - 1),
        (f"bytes=10-{'0' * 4990}{FIVE_THOUSAND_DIGITS}", 206, 10, len(FILE_BYTES) - 1),
        (f"bytes=-{FIVE_THOUSAND_DIGITS}", 206, 0, len(FILE_BYTES) - 1),
        (f"bytes={'0' * 5000}5-9", 206, 5, 9),
        ("bytes=٣-9", 416, None, None),
    ],
)
def test_range_headers_with_thousands_of_digits_are_answered(client, stored_video, range_header, status, first, last):
    response = client.get(f"/videos/{stored_video.pk}/file", headers={"Range": range_header})
    assert response.status_code == status
    if status == 416:
        assert response["Content-Range"] == f"bytes */{len(FILE_BYTES)}"
    else:
        assert response["Content-Range"] == f"bytes {first}-{last}/{len(FILE_BYTES)}"
        assert b"".join(response.streaming_content) == FILE_BYTES[first : last + 1]


# Reference annotations ------------------------------------------------------------------------------------------

BIG = '"@BIG@"'  # replaced by the raw literal: json.dumps cannot write an int of 5,000 digits


def coco_text(*, image=None, category=None, annotation=None, big: str = FIVE_THOUSAND_DIGITS) -> str:
    document = {
        "images": [{"id": 1, "file_name": "frame_000001.jpg", **(image or {})}],
        "categories": [{"id": 1, "name": "box", **(category or {})}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], **(annotation or {})}],
    }
    return json.dumps(document).replace(BIG, big)


def import_reference(client, video, text: str, name: str = "reference.json", **fields):
    upload = SimpleUploadedFile(name, text.encode())
    return client.post(f"/api/v1/videos/{video.pk}/ground-truth/", {"file": upload, **fields}, format="multipart")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (coco_text(image={"file_name": f"frame_{FIVE_THOUSAND_DIGITS}.jpg"}), {"path": "images[0].file_name"}),
        (coco_text(image={"file_name": f"frame_{'9' * 4000}.jpg"}), {"path": "images[0].file_name"}),
        (coco_text(image={"file_name": "frame_2147483648.jpg"}), {"path": "images[0].file_name"}),
        (coco_text(image={"frame_index": "@BIG@"}), {"path": "images[0].frame_index"}),
        (coco_text(image={"frame_index": 2**31}), {"path": "images[0]"}),
        (coco_text(image={"id": "@BIG@"}), {"path": "images[0].id"}),
        (coco_text(category={"id": "@BIG@"}), {"path": "categories[0].id"}),
        (coco_text(category={"id": 2**40}), {"path": "categories[0].id"}),
        (coco_text(annotation={"category_id": "@BIG@"}), {"path": "annotations[0].category_id"}),
        (coco_text(annotation={"image_id": "@BIG@"}), {"path": "annotations[0].image_id"}),
        (coco_text(annotation={"track_id": 10**12}), {"path": "annotations[0].attributes.track_id"}),
        (coco_text(annotation={"attributes": {"track_id": "@BIG@"}}), {"path": "annotations[0].attributes.track_id"}),
        (coco_text(annotation={"bbox": [1, 1, "@BIG@", 5]}), {"path": "annotations[0].bbox"}),
        (coco_text(category={"name": "b" * 101}), {"path": "categories[0].name"}),
        (coco_text(category={"name": "\n\x00\u200b"}), {"path": "categories[0].name"}),
        (coco_text(annotation={"bbox": [1, 1, "@BIG@", 5]}, big="1e400"), {}),
        ('{"images": ' + DEEP_ARRAY + "}", {}),
    ],
)
def test_coco_entries_no_column_holds_are_refused_naming_the_entry(api_client, owned_video, text, where):
    before = stored_rows()
    error = assert_error_body(import_reference(api_client, owned_video, text), 400)
    assert error["code"] == "invalid_reference"
    assert where.items() <= error["details"].items(), error
    assert len(error["message"]) < 400
    assert stored_rows() == before


@pytest.mark.parametrize(
    ("text", "classes", "field"),
    [
        ("9" * 300 + ",1,1,1,5,5,1,1\n", "box", "frame"),
        (FIVE_THOUSAND_DIGITS + ",1,1,1,5,5,1,1\n", "box", "frame"),
        ("2147483649,1,1,1,5,5,1,1\n", "box", "frame"),
        ("1,1000000000000,1,1,5,5,1,1\n", "box", "id"),
        ("1,1,1,1,5,5,1,1000000000000\n", "box", "class"),
        ("1,1,1,1,5,5,1,1\n", '{"1": ' + "[" * 9000 + "]" * 9000 + "}", "classes"),
        ("1,1,1,1,5,5,1,1\n", '{"1": "box", "' + FIVE_THOUSAND_DIGITS + '": "car"}', "classes"),
        ("1,1,1,1,5,5,1,1\n", '{"1": "box", "2": ' + FIVE_THOUSAND_DIGITS + "}", "classes"),
        ("1,1,1,1,5,5,1,1\n", '{"1": "box", "2": "' + "c" * 101 + '"}', "classes"),
        ("1,1,1,1,5,5,1,1\n", "box,\u200b", "classes"),
    ],
)
def test_mot_values_no_column_holds_are_refused_naming_the_line(api_client, owned_video, text, classes, field):
    before = stored_rows()
    response = import_reference(api_client, owned_video, text, name="reference.csv", classes=classes)
    error = assert_error_body(response, 400)
    assert error["code"] == "invalid_reference" and error["details"]["field"] == field
    assert len(error["message"]) < 400
    assert stored_rows() == before


def test_control_characters_are_stripped_from_imported_class_names(api_client, owned_video):
    coco = import_reference(api_client, owned_video, coco_text(category={"name": "bo\nx\x00\u200b\u2029"}))
    assert coco.status_code == 201, coco.content[:300]
    assert list(Detection.objects.filter(job_id=coco.json()["id"]).values_list("class_name", flat=True)) == ["box"]

    mot = import_reference(
        api_client,
        owned_video,
        "1,1,1,1,5,5,1,1\n1,2,1,1,5,5,1,2\n",
        name="r.csv",
        classes='{"1": "car\\r\\n", "2": "b\\tus"}',
    )
    assert mot.status_code == 201, mot.content[:300]
    names = Detection.objects.filter(job_id=mot.json()["id"]).values_list("class_name", flat=True)
    assert sorted(names) == ["bus", "car"]


def test_the_yolo_export_writes_one_class_per_line_even_for_names_stored_with_newlines(api_client, owned_video):
    job = ProcessingJobFactory(video=owned_video, status="completed")
    add_detections(
        job,
        [(0, 0, 0.9, (1, 1, 5, 5)), (0, 1, 0.8, (2, 2, 6, 6)), (1, 2, 0.7, (3, 3, 7, 7))],
        class_names={0: "car\nbus", 1: "\x1b", 2: "person\r\u2028"},
    )

    response = api_client.get(f"/api/v1/jobs/{job.pk}/export/yolo/")

    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.read("classes.txt").decode().splitlines() == ["carbus", "class_1", "person"]
    data_yaml = archive.read("data.yaml").decode()
    assert "  0: 'carbus'\n  1: 'class_1'\n  2: 'person'\n" in data_yaml


# Admin URLs -----------------------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize("object_id", ["not-a-uuid", "1", "%00", FIVE_THOUSAND_DIGITS, "a/b/c"])
def test_an_admin_transition_url_with_a_malformed_id_answers_404(staff_client, object_id):
    video = VideoFactory(workflow_state="failed")
    response = staff_client.post(f"/admin/videos/video/{object_id}/transition/retry/")
    assert response.status_code == 404
    video.refresh_from_db()
    assert video.workflow_state == "failed"


@pytest.mark.parametrize(
    "path",
    [
        "/admin/videos/video/not-a-uuid/change/",
        "/admin/videos/video/not-a-uuid/history/",
        "/admin/videos/video/not-a-uuid/delete/",
        "/admin/processing/processingjob/not-a-uuid/change/",
        "/admin/processing/processingerrorlog/not-a-number/change/",
        "/admin/processing/detectormodel/not-a-number/change/",
    ],
)
def test_admin_pages_with_a_malformed_id_are_not_a_server_error(staff_client, path):
    assert staff_client.get(path).status_code in (302, 404)


@pytest.mark.parametrize("number", [str(2**31), str(10**19), FIVE_THOUSAND_DIGITS])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/models/{}/"),
        ("delete", "/api/v1/api-keys/{}/"),
        ("get", "/api/v1/webhooks/{}/"),
        ("get", "/api/v1/webhooks/{}/deliveries/"),
    ],
)
def test_integer_ids_past_their_column_in_urls_answer_404(api_client, method, path, number):
    before = stored_rows()
    response = getattr(api_client, method)(path.format(number))
    assert response.status_code == 404, response.content[:300]
    assert stored_rows() == before
