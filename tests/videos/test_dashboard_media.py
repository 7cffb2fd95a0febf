"""The video page, its file with HTTP range requests, and its detections packed per frame."""

import pytest
from django.core.files.base import ContentFile

from audit.models import StorageOperation
from processing.models import Detection
from tests.factories import ProcessingJobFactory, UserFactory, VideoFactory
from videos.views_media import RangeNotSatisfiable, parse_byte_range

pytestmark = pytest.mark.django_db

CONTENT = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture
def stored_video(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    video = VideoFactory(workflow_state="completed", mime_type="video/mp4")
    video.file.save("clip.mp4", ContentFile(CONTENT), save=True)
    return video


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 10239)),
        ("bytes=-100", (10140, 10239)),
        ("bytes=10000-99999", (10000, 10239)),
        ("bytes=-99999", (0, 10239)),
        ("items=0-5", None),
        ("bytes=0-1,5-6", None),
    ],
)
def test_parse_byte_range(header, expected):
    assert parse_byte_range(header, len(CONTENT)) == expected


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=5-2", "bytes=abc", "bytes=-0", "bytes=-"])
def test_parse_byte_range_refuses_what_cannot_be_satisfied(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_byte_range(header, len(CONTENT))


def test_owner_gets_the_whole_file_with_accept_ranges(client, stored_video):
    client.force_login(stored_video.owner)
    response = client.get(f"/videos/{stored_video.pk}/file")
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(len(CONTENT))
    assert response["Content-Type"] == "video/mp4"
    assert body(response) == CONTENT
    assert StorageOperation.objects.filter(video_id=stored_video.pk, operation="access", success=True).count() == 1


def test_a_range_is_answered_206_with_content_range(client, stored_video):
    client.force_login(stored_video.owner)
    response = client.get(f"/videos/{stored_video.pk}/file", HTTP_RANGE="bytes=1000-1999")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 1000-1999/{len(CONTENT)}"
    assert response["Content-Length"] == "1000"
    assert body(response) == CONTENT[1000:2000]

    suffix = client.get(f"/videos/{stored_video.pk}/file", HTTP_RANGE="bytes=-10")
    assert suffix.status_code == 206 and body(suffix) == CONTENT[-10:]
    # Only the viewing from the first byte is recorded, not every range the player asks for.
    assert StorageOperation.objects.filter(video_id=stored_video.pk, operation="access").count() == 0


def test_an_unsatisfiable_range_is_answered_416(client, stored_video):
    client.force_login(stored_video.owner)
    response = client.get(f"/videos/{stored_video.pk}/file", HTTP_RANGE=f"bytes={len(CONTENT)}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(CONTENT)}"


def test_head_tells_the_size_without_a_body(client, stored_video):
    client.force_login(stored_video.owner)
    response = client.head(f"/videos/{stored_video.pk}/file")
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(CONTENT))
    assert response.content == b""


def test_only_the_owner_or_staff_may_watch(client, stored_video):
    url = f"/videos/{stored_video.pk}/file"
    assert client.get(url).status_code == 302  # to the sign-in page
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    client.force_login(UserFactory(is_staff=True))
    assert client.get(url, HTTP_RANGE="bytes=0-9").status_code == 206


def test_writing_to_the_file_url_is_refused(client, stored_video):
    client.force_login(stored_video.owner)
    assert client.post(f"/videos/{stored_video.pk}/file").status_code == 405


def test_video_page_renders_for_its_owner_only(client):
    job = ProcessingJobFactory(video__workflow_state="completed", status="completed")
    video = job.video
    client.force_login(video.owner)
    page = client.get(f"/videos/{video.pk}/").content.decode()
    assert video.title in page
    assert f"/api/v1/jobs/{job.pk}/export/coco/" in page
    assert "js/video_page.js" in page
    assert 'data-action="run"' in page
    client.force_login(UserFactory())
    assert client.get(f"/videos/{video.pk}/").status_code == 404


def test_detections_are_packed_per_frame_in_chunks(client, settings):
    job = ProcessingJobFactory(video__workflow_state="completed", status="completed")
    rows = [(0, "car", 0.9), (0, "person", 0.4), (2, "car", 0.7), (1600, "dog", 0.5)]
    Detection.objects.bulk_create(
        Detection(
            job=job,
            frame_index=f,
            timestamp_seconds=f / 10,
            class_id=0,
            class_name=c,
            confidence=p,
            x1=1,
            y1=2,
            x2=30,
            y2=40,
        )
        for f, c, p in rows
    )
    client.force_login(job.video.owner)
    url = f"/videos/{job.video_id}/detections.json"
    first = client.get(url).json()
    assert first["job_id"] == str(job.pk)
    assert set(first["frames"]) == {"0", "2"}
    assert first["next_frame"] == 1500
    car = first["classes"].index("car")
    assert first["frames"]["2"] == [[1.0, 2.0, 30.0, 40.0, car, 0.7, None]]
    second = client.get(url, {"start": first["next_frame"]}).json()
    assert second["classes"] == ["dog"] and second["next_frame"] is None
    assert client.get(url, {"start": "-1"}).status_code == 400
    assert client.get(url, {"job": "nope"}).status_code == 400
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
