from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditLogEntry, StorageOperation
from mediaplatform.outbound import address_allowed
from processing.models import ProcessingErrorLog
from tests.factories import VideoFactory
from videos.models import Video, VideoStateTransition

pytestmark = pytest.mark.django_db

URL = "/api/v1/videos/"


def test_list_filters_by_state_media_type_dates_and_title(api_client):
    owner = api_client.user
    old = VideoFactory(owner=owner, title="harbour at dawn", workflow_state="completed", mime_type="video/mp4")
    Video.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    VideoFactory(owner=owner, title="street crossing", workflow_state="failed", mime_type="video/webm")
    new = VideoFactory(owner=owner, title="harbour at night", workflow_state="completed", mime_type="video/mp4")

    def ids(**params):
        response = api_client.get(URL, params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids(state="completed") == [str(new.pk), str(old.pk)]
    assert len(ids(state="completed,failed")) == 3
    assert len(ids(media_type="video/webm")) == 1
    assert len(ids(media_type="video")) == 3
    assert ids(search="HARBOUR", ordering="created_at") == [str(old.pk), str(new.pk)]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert str(old.pk) not in ids(created_from=since)
    assert ids(created_to=since) == [str(old.pk)]


@pytest.mark.parametrize(
    "params",
    [{"state": "exploded"}, {"ordering": "password"}, {"created_from": "yesterday"}, {"per_page": "x"}],
)
def test_bad_list_parameters_answer_400(api_client, params):
    response = api_client.get(URL, params)
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_per_page_is_capped_at_100(api_client):
    VideoFactory.create_batch(3, owner=api_client.user)
    assert api_client.get(URL, {"per_page": 1000}).status_code == 200


def test_detail_shows_timeline_and_latest_errors(api_client):
    video = VideoFactory(owner=api_client.user, workflow_state="failed")
    VideoStateTransition.objects.create(video=video, from_state="uploaded", to_state="failed", transition="fail")
    ProcessingErrorLog.objects.create(
        video=video, stage="inference", error_type="resource", message="out of memory", recovery_strategy="retry"
    )
    body = api_client.get(f"{URL}{video.pk}/").json()
    assert body["state"] == "failed"
    assert [t["to_state"] for t in body["timeline"]] == ["failed"]
    assert body["timeline"][0]["created_at"].endswith("Z")  # rendered like every other timestamp
    assert body["latest_errors"][0]["message"] == "out of memory"
    assert "progress_percentage" in body and "latest_job" in body


def test_soft_delete_then_410_everywhere(api_client):
    video = VideoFactory(owner=api_client.user, workflow_state="completed")
    assert api_client.delete(f"{URL}{video.pk}/").status_code == 204
    video.refresh_from_db()
    assert video.deleted_at is not None  # the row and its results are kept
    for path in ("", "detections/", "jobs/", "errors/"):
        response = api_client.get(f"{URL}{video.pk}/{path}")
        assert response.status_code == 410, path
        assert response.json()["error"]["code"] == "gone"
    again = api_client.delete(f"{URL}{video.pk}/")
    assert again.status_code == 410
    assert api_client.get(URL).json()["count"] == 0
    assert AuditLogEntry.objects.filter(action="video.delete", object_id=str(video.pk)).count() == 1


def test_deleting_a_processing_video_stops_it(api_client):
    video = VideoFactory(owner=api_client.user, workflow_state="processing")
    assert api_client.delete(f"{URL}{video.pk}/").status_code == 204
    video.refresh_from_db()
    assert video.workflow_state == "failed" and video.deleted_at is not None


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.0.1", False),
        ("172.16.5.4", False),
        ("169.254.169.254", False),
        ("fd00:ec2::254", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        ("100.64.0.1", False),
        ("240.0.0.1", False),
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
    ],
)
def test_source_url_address_policy(address, allowed):
    assert address_allowed(address) is allowed


def test_loopback_source_url_is_refused_by_default(api_client, http_server):
    response = api_client.post(URL, {"source_url": f"{http_server}/clip.mp4"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "source_url_refused"
    assert not Video.objects.exists()


@pytest.mark.parametrize("url", ["ftp://example.com/a.mp4", "file:///etc/passwd", "http://user:pw@example.com/"])
def test_non_http_source_urls_are_refused(api_client, url):
    response = api_client.post(URL, {"source_url": url}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_source_url"


def test_source_url_import_follows_checked_redirects(api_client, http_server, settings):
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    response = api_client.post(URL, {"source_url": f"{http_server}/hop", "title": "fetched"}, format="json")
    assert response.status_code == 201, response.content
    video = Video.objects.get(pk=response.json()["id"])
    assert video.source_url == f"{http_server}/hop"
    assert video.workflow_state == "uploaded" and video.file_hash and video.original_filename == "clip.mp4"
    download = StorageOperation.objects.get(operation="download")
    assert (download.success, download.size_bytes, download.path) == (True, video.size_bytes, f"{http_server}/hop")


def test_redirect_to_the_metadata_address_is_refused(api_client, http_server, settings):
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8", "169.254.0.0/16"]
    response = api_client.post(URL, {"source_url": f"{http_server}/metadata"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "source_url_refused"
    assert not Video.objects.exists()


def test_source_url_that_is_not_a_video_is_refused(api_client, http_server, settings):
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    response = api_client.post(URL, {"source_url": f"{http_server}/notes.txt"}, format="json")
    assert response.status_code == 415
    missing = api_client.post(URL, {"source_url": f"{http_server}/gone"}, format="json")
    assert missing.status_code == 422
    assert not Video.objects.exists()
    failed = StorageOperation.objects.filter(operation="download", success=False)
    assert failed.count() == 2 and all(op.error_message for op in failed)


def test_source_url_over_the_size_limit_is_refused(api_client, http_server, settings):
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.VIDEO_MAX_UPLOAD_BYTES = 1000
    response = api_client.post(URL, {"source_url": f"{http_server}/clip.mp4"}, format="json")
    assert response.status_code == 413
    assert not Video.objects.exists()


def test_the_url_import_has_its_own_json_operation(api_client, http_server, settings):
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    response = api_client.post(
        "/api/v1/videos/import/", {"source_url": f"{http_server}/clip.mp4", "frame_step": 2}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["latest_job"]["frame_step"] == 2
    assert Video.objects.get(pk=response.json()["id"]).source_url == f"{http_server}/clip.mp4"

    missing = api_client.post("/api/v1/videos/import/", {"title": "no url"}, format="json")
    assert missing.status_code == 400
    assert "source_url" in missing.json()["error"]["details"]
    form = api_client.post("/api/v1/videos/import/", {"source_url": f"{http_server}/clip.mp4"}, format="multipart")
    assert form.status_code == 415
