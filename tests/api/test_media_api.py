"""The media analysis API: analyze, status, history and delete under /api/media/."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import ProcessingJobFactory, VideoFactory
from videos.models import MediaAnalysisRequest, Video

pytestmark = pytest.mark.django_db


def analyze(client, **fields):
    return client.post("/api/media/analyze", fields, format="json")


def test_analyze_queues_a_video_and_answers_202(api_client, http_server, settings):
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    response = analyze(
        api_client,
        prompt="What is happening in this video?",
        media_url=f"{http_server}/clip.mp4",
        media_type="video",
        config={"model": "gpt-4o"},
        options={"extract_frames": True},
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"analysis_id", "status", "estimated_time", "message"}
    assert body["status"] == "pending" and body["estimated_time"] > 0
    assert f"/api/media/status/{body['analysis_id']}" in body["message"]
    request = MediaAnalysisRequest.objects.get(video_id=body["analysis_id"])
    assert request.prompt.startswith("What") and request.analysis_options == {"extract_frames": True}

    status = api_client.get(f"/api/media/status/{body['analysis_id']}").json()
    assert status["status"] == "pending" and status["media_type"] == "video"
    assert status["source_url"] == f"{http_server}/clip.mp4"
    assert status["result_summary"] is None and status["error_message"] is None


def test_analyze_over_the_in_flight_limit_answers_429_with_retry_after(api_client, http_server, settings):
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.VIDEO_MAX_IN_FLIGHT_PER_USER = 1
    VideoFactory(owner=api_client.user, workflow_state="processing")
    response = analyze(api_client, prompt="?", media_url=f"{http_server}/clip.mp4", media_type="video")
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "too_many_in_flight"
    assert response["Retry-After"] == str(settings.VIDEO_IN_FLIGHT_RETRY_AFTER_SECONDS)
    assert not MediaAnalysisRequest.objects.exists()


@pytest.mark.parametrize("media_type", ["audio", "document"])
def test_audio_and_documents_are_refused_with_422(api_client, media_type):
    response = analyze(api_client, media_url="https://example.com/a.mp3", media_type=media_type, prompt="x")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert not Video.objects.exists()


def test_missing_fields_400_and_bad_values_422(api_client):
    missing = analyze(api_client, prompt="no url")
    assert missing.status_code == 400
    assert "media_url" in missing.json()["error"]["message"]
    assert analyze(api_client, media_url="https://example.com/a.mp4", media_type="hologram").status_code == 422
    assert analyze(api_client, media_url="https://e.com/a.mp4", media_type="video", config="x").status_code == 422


def test_status_codes_of_status_and_delete(api_client):
    assert api_client.get("/api/media/status/not-a-uuid").status_code == 400
    assert api_client.delete("/api/media/not-a-uuid").status_code == 400
    assert api_client.get(f"/api/media/status/{uuid.uuid4()}").status_code == 404
    assert api_client.delete(f"/api/media/{uuid.uuid4()}").status_code == 404
    others = VideoFactory()
    assert api_client.get(f"/api/media/status/{others.pk}").status_code == 404
    assert api_client.delete(f"/api/media/{others.pk}").status_code == 404

    video = VideoFactory(owner=api_client.user, workflow_state="completed", objects_detected_count=3)
    ProcessingJobFactory(video=video, status="completed", finished_at=timezone.now())
    status = api_client.get(f"/api/media/status/{video.pk}").json()
    assert status["status"] == "completed" and status["progress"] == 100
    assert status["completed_at"] and status["result_summary"]["objects_detected"] == 3
    assert api_client.delete(f"/api/media/{video.pk}").status_code == 204
    assert api_client.get(f"/api/media/status/{video.pk}").status_code == 410
    assert api_client.delete(f"/api/media/{video.pk}").status_code == 410


def test_history_filters_sorts_and_paginates(api_client):
    owner = api_client.user
    done = VideoFactory.create_batch(3, owner=owner, workflow_state="completed")
    VideoFactory(owner=owner, workflow_state="processing")
    failed = VideoFactory(owner=owner, workflow_state="failed")
    old = VideoFactory(owner=owner, workflow_state="uploaded")
    Video.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=5))
    VideoFactory(workflow_state="completed")  # someone else's

    body = api_client.get("/api/media/history", {"per_page": 2}).json()
    assert body["pagination"] == {"page": 1, "per_page": 2, "total": 6, "total_pages": 3}
    assert set(body["data"][0]) == {"analysis_id", "status", "media_type", "prompt", "created_at", "completed_at"}

    completed = api_client.get("/api/media/history", {"status": "completed"}).json()
    assert {row["analysis_id"] for row in completed["data"]} == {str(v.pk) for v in done}
    assert api_client.get("/api/media/history", {"status": "failed"}).json()["data"][0]["analysis_id"] == str(failed.pk)
    assert api_client.get("/api/media/history", {"media_type": "audio"}).json()["pagination"]["total"] == 0
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert api_client.get("/api/media/history", {"date_from": since}).json()["pagination"]["total"] == 5
    oldest = api_client.get("/api/media/history", {"sort_by": "created_at", "order": "asc"}).json()
    assert oldest["data"][0]["analysis_id"] == str(old.pk)
    assert oldest["data"][0]["status"] == "pending"


@pytest.mark.parametrize("page", [4, 1_000_001, 16002361560751021009928192])
def test_a_page_past_the_end_is_empty_and_still_tells_the_total(api_client, page):
    VideoFactory(owner=api_client.user, workflow_state="completed")

    response = api_client.get("/api/media/history", {"page": page, "per_page": 100})

    assert response.status_code == 200, response.content
    assert response.json()["data"] == []
    assert response.json()["pagination"]["total"] == 1


@pytest.mark.parametrize(
    "params", [{"per_page": 101}, {"page": 0}, {"sort_by": "password"}, {"order": "up"}, {"date_from": "soon"}]
)
def test_history_refuses_bad_parameters_with_422(api_client, params):
    response = api_client.get("/api/media/history", params)
    assert response.status_code == 422
    assert response.json()["error"]["message"]


def test_media_api_needs_credentials(client):
    assert client.get("/api/media/history").status_code in (401, 403)
