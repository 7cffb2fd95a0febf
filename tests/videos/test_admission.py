"""Back-pressure on uploads: an owner with too many videos in the pipeline is told to come back later."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from tests.factories import UserFactory, VideoFactory
from videos.models import Video
from videos.services.creation import VideoRejected, video_create

URL = "/api/v1/videos/"


def stored_files(root) -> set:
    return {path for path in root.rglob("*") if path.is_file()}


@pytest.mark.django_db
def test_an_upload_over_the_in_flight_limit_answers_429_and_stores_nothing(api_client, video_path, settings):
    settings.VIDEO_MAX_IN_FLIGHT_PER_USER = 2
    settings.VIDEO_IN_FLIGHT_RETRY_AFTER_SECONDS = 17
    VideoFactory(owner=api_client.user, workflow_state="processing")
    VideoFactory(owner=api_client.user, workflow_state="uploaded")
    VideoFactory(owner=api_client.user, workflow_state="completed")  # finished work does not count
    VideoFactory(owner=api_client.user, workflow_state="failed")
    before_rows, before_files = Video.objects.count(), stored_files(settings.MEDIA_ROOT)

    response = api_client.post(
        URL, {"file": SimpleUploadedFile("street.mp4", video_path.read_bytes())}, format="multipart"
    )

    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == "too_many_in_flight"
    assert "limit is 2" in error["message"]
    assert response["Retry-After"] == "17"
    assert Video.objects.count() == before_rows
    assert stored_files(settings.MEDIA_ROOT) == before_files


@pytest.mark.django_db
def test_the_limit_is_per_owner_and_zero_means_none(api_client, video_path, settings):
    settings.VIDEO_MAX_IN_FLIGHT_PER_USER = 1
    VideoFactory(workflow_state="processing")  # someone else's
    content = video_path.read_bytes()
    response = api_client.post(URL, {"file": SimpleUploadedFile("a.mp4", content)}, format="multipart")
    assert response.status_code == 201, response.content

    settings.VIDEO_MAX_IN_FLIGHT_PER_USER = 0
    response = api_client.post(URL, {"file": SimpleUploadedFile("b.mp4", content)}, format="multipart")
    assert response.status_code == 201, response.content


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_cannot_overshoot_the_limit(video_path, settings):
    settings.VIDEO_MAX_IN_FLIGHT_PER_USER = 3
    owner = UserFactory()
    content = video_path.read_bytes()

    def upload(index: int) -> str:
        try:
            video_create(owner=owner, uploaded_file=SimpleUploadedFile(f"clip{index}.mp4", content), enqueue=False)
            return "accepted"
        except VideoRejected as exc:
            return exc.code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(upload, range(8)))

    assert sorted(outcomes) == ["accepted"] * 3 + ["too_many_in_flight"] * 5
    assert Video.objects.filter(owner=owner).count() == 3
