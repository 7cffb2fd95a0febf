"""The media analysis API: analyze, status, history and delete under /api/media/."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import StorageOperation
from processing.models import ProcessingJob
from processing.services.retention import retention_cleanup
from tests.factories import ProcessingJobFactory, TokenFactory, VideoFactory, add_detections
from videos.models import MediaAnalysisRequest, Video
from videos.services.media_analysis import media_analysis_fetch, media_analysis_fetches_requeue

pytestmark = pytest.mark.django_db


def analyze(client, **fields):
    return client.post("/api/media/analyze", fields, format="json")


def test_analyze_stores_the_request_and_queues_its_download_without_fetching(
    api_client, http_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = analyze(
            api_client,
            prompt="What is happening in this video?",
            media_url=f"{http_server}/clip.mp4",
            media_type="video",
            config={"confidence": 0.5},
            options={"include_detections": True},
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"analysis_id", "status", "estimated_time", "message"}
    assert body["status"] == "pending" and body["estimated_time"] > 0
    assert f"/api/media/status/{body['analysis_id']}" in body["message"]
    request = MediaAnalysisRequest.objects.get(analysis_id=body["analysis_id"])
    assert request.prompt.startswith("What") and request.analysis_options == {"include_detections": True}
    assert request.run_options == {"confidence": 0.5} and request.fetch_finished_at is None
    assert request.fetch_task_id and request.fetch_attempts == 1 and request.owner == api_client.user
    # Nothing was fetched within the request: the video has no file yet, and one task was handed to the broker.
    video = Video.objects.get(pk=body["analysis_id"])
    assert video.workflow_state == "initializing" and not video.file
    assert not StorageOperation.objects.exists()
    assert len(callbacks) == 1

    status = api_client.get(f"/api/media/status/{body['analysis_id']}").json()
    assert status["status"] == "pending" and status["media_type"] == "video"
    assert status["source_url"] == f"{http_server}/clip.mp4"
    assert status["result_summary"] is None and status["error_message"] is None


def test_the_download_task_stores_the_media_and_makes_the_run_the_request_asked_for(api_client, http_server, settings):
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    body = analyze(
        api_client,
        prompt="Count the people and bicycles, and the drones",
        media_url=f"{http_server}/clip.mp4",
        media_type="video",
        config={"frame_step": 2, "track": True},
    ).json()
    request = MediaAnalysisRequest.objects.get(analysis_id=body["analysis_id"])
    assert request.prompt_classes == ["person", "bicycle"] and request.unmatched_prompt_words == ["drones"]

    assert media_analysis_fetch(analysis_id=body["analysis_id"], token=request.fetch_task_id) == "stored"

    video = Video.objects.get(pk=body["analysis_id"])
    assert video.workflow_state == "uploaded" and video.file and video.mime_type == "video/mp4"
    assert video.original_filename == "clip.mp4"
    job = ProcessingJob.objects.get(video=video)
    assert (job.frame_step, job.track, job.classes) == (2, True, ["bicycle", "person"])
    request.refresh_from_db()
    assert request.fetch_finished_at is not None
    # A second delivery of the same task, or one holding an old token, changes nothing.
    assert media_analysis_fetch(analysis_id=body["analysis_id"], token=request.fetch_task_id) == "skipped"
    assert media_analysis_fetch(analysis_id=body["analysis_id"], token="stale") == "skipped"
    assert ProcessingJob.objects.filter(video=video).count() == 1


@pytest.mark.parametrize(
    ("path", "networks", "reason"),
    [
        ("/notes.txt", ["127.0.0.0/8"], "does not serve a video container"),
        ("/missing", ["127.0.0.0/8"], "answered HTTP 404"),
        ("/clip.mp4", [], "may not be sent to"),
        ("/metadata", ["127.0.0.0/8"], "may not be sent to"),
    ],
)
def test_a_failed_download_fails_the_analysis_with_its_reason(
    api_client, http_server, settings, path, networks, reason
):
    settings.URL_IMPORT_ALLOWED_NETWORKS = networks
    response = analyze(api_client, prompt="cars", media_url=f"{http_server}{path}", media_type="video")
    assert response.status_code == 202, response.content
    analysis_id = response.json()["analysis_id"]
    token = MediaAnalysisRequest.objects.get(analysis_id=analysis_id).fetch_task_id

    assert media_analysis_fetch(analysis_id=analysis_id, token=token) == "failed"

    status = api_client.get(f"/api/media/status/{analysis_id}").json()
    assert status["status"] == "failed"
    assert reason in status["error_message"], status["error_message"]
    assert not Video.objects.get(pk=analysis_id).file


def test_lost_downloads_are_sent_again_then_failed(api_client, settings, django_capture_on_commit_callbacks):
    settings.URL_IMPORT_TIMEOUT_SECONDS = 5
    body = analyze(api_client, prompt="", media_url="http://example.invalid/a.mp4", media_type="video").json()
    request = MediaAnalysisRequest.objects.get(analysis_id=body["analysis_id"])
    first_token = request.fetch_task_id
    assert media_analysis_fetches_requeue() == []  # just queued: not lost yet

    later = timezone.now() + timedelta(seconds=70)
    with django_capture_on_commit_callbacks() as callbacks:
        assert media_analysis_fetches_requeue(now=later) == [body["analysis_id"]]
    assert len(callbacks) == 1
    request.refresh_from_db()
    assert request.fetch_attempts == 2 and request.fetch_task_id != first_token
    assert media_analysis_fetch(analysis_id=body["analysis_id"], token=first_token) == "skipped"

    media_analysis_fetches_requeue(now=later + timedelta(seconds=70))
    with django_capture_on_commit_callbacks(execute=True):
        media_analysis_fetches_requeue(now=later + timedelta(seconds=140))
    status = api_client.get(f"/api/media/status/{body['analysis_id']}").json()
    assert status["status"] == "failed" and "lost 3 times" in status["error_message"]
    assert media_analysis_fetches_requeue(now=later + timedelta(seconds=300)) == []


def test_analyze_over_the_in_flight_limit_answers_429_with_retry_after(api_client, http_server, settings):
    settings.VIDEO_MAX_IN_FLIGHT_PER_USER = 1
    VideoFactory(owner=api_client.user, workflow_state="processing")
    response = analyze(api_client, prompt="?", media_url=f"{http_server}/clip.mp4", media_type="video")
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "too_many_in_flight"
    assert response["Retry-After"] == str(settings.VIDEO_IN_FLIGHT_RETRY_AFTER_SECONDS)
    assert not MediaAnalysisRequest.objects.exists()


@pytest.mark.parametrize("media_type", ["audio", "document"])
def test_audio_and_documents_are_refused_with_422_naming_what_is_supported(api_client, media_type):
    response = analyze(api_client, media_url="https://example.com/a.mp3", media_type=media_type, prompt="x")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert media_type in error["message"] and "image, unknown, video" in error["message"]
    assert not Video.objects.exists()


@pytest.mark.parametrize(
    ("config", "options", "named"),
    [
        ({"temperature": 0.7}, {}, "'temperature'"),
        ({"model": "gpt-4o"}, {}, "gpt-4o"),
        ({"confidence": 3}, {}, "confidence"),
        ({"frame_step": 0}, {}, "frame_step"),
        ({"classes": ["unicorn"]}, {}, "unicorn"),
        ({}, {"transcribe_audio": True}, "'transcribe_audio'"),
        ({}, {"include_detections": "yes"}, "include_detections"),
    ],
)
def test_config_and_options_are_read_and_a_bad_one_is_a_422_naming_it(api_client, config, options, named):
    response = analyze(
        api_client, media_url="https://example.com/a.mp4", media_type="video", config=config, options=options
    )
    assert response.status_code == 422, response.content
    assert named in response.json()["error"]["message"]
    assert not Video.objects.exists() and not MediaAnalysisRequest.objects.exists()


def test_missing_fields_400_and_bad_values_422(api_client):
    missing = analyze(api_client, prompt="no url")
    assert missing.status_code == 400
    assert "media_url" in missing.json()["error"]["message"]
    assert analyze(api_client, media_url="https://example.com/a.mp4", media_type="hologram").status_code == 422
    assert analyze(api_client, media_url="https://e.com/a.mp4", media_type="video", config="x").status_code == 422
    not_http = analyze(api_client, media_url="file:///etc/passwd", media_type="video")
    assert not_http.status_code == 400 and not_http.json()["error"]["code"] == "invalid_source_url"


def test_the_status_answers_the_prompt(api_client):
    video = VideoFactory(owner=api_client.user, workflow_state="completed", objects_detected_count=5)
    MediaAnalysisRequest.objects.create(
        video=video,
        prompt="how many people and dogs? any zebras or drones?",
        requested_media_type="video",
        prompt_classes=["person", "dog", "zebra"],
        unmatched_prompt_words=["drones"],
        analysis_options={"include_detections": True},
    )
    job = ProcessingJobFactory(video=video, status="completed", finished_at=timezone.now(), track=True)
    names = {0: "person", 1: "car", 16: "dog"}
    add_detections(
        job,
        [
            (3, 0, 0.9, (0, 0, 10, 10), 1),
            (5, 0, 0.8, (0, 0, 10, 10), 1),
            (9, 0, 0.7, (5, 5, 20, 20), 2),
            (7, 16, 0.6, (1, 1, 4, 4), 3),
            (8, 1, 0.9, (1, 1, 4, 4), 4),
        ],
        class_names=names,
    )

    summary = api_client.get(f"/api/media/status/{video.pk}").json()["result_summary"]

    prompt = summary["prompt"]
    assert prompt["asked_classes"] == ["person", "dog", "zebra"] and prompt["unmatched_words"] == ["drones"]
    assert prompt["answers"]["person"] == {
        "detections": 3,
        "frames": 3,
        "first_seen_seconds": 0.3,
        "last_seen_seconds": 0.9,
        "tracks": 2,
    }
    assert prompt["answers"]["dog"]["tracks"] == 1 and prompt["answers"]["dog"]["first_seen_seconds"] == 0.7
    assert prompt["answers"]["zebra"] == {
        "detections": 0,
        "frames": 0,
        "first_seen_seconds": None,
        "last_seen_seconds": None,
        "tracks": 0,
    }
    assert "car" not in prompt["answers"] and prompt["tracked"] is True
    assert [d["class_name"] for d in summary["detections"]] == ["person", "person", "dog", "person"]


def test_a_deleted_analysis_answers_410_while_its_tombstone_is_kept(api_client, settings):
    video = VideoFactory(owner=api_client.user, workflow_state="completed")
    MediaAnalysisRequest.objects.create(video=video, prompt="cars", requested_media_type="image")
    assert api_client.delete(f"/api/media/{video.pk}").status_code == 204
    assert MediaAnalysisRequest.objects.get(analysis_id=video.pk).deleted_at is not None
    Video.objects.filter(pk=video.pk).update(deleted_at=timezone.now() - timedelta(days=30))

    report = retention_cleanup()

    assert str(video.pk) in report.deleted_videos[f"deleted more than {settings.RETENTION_PURGE_DELETED_DAYS} days ago"]
    assert not Video.objects.filter(pk=video.pk).exists()
    assert api_client.get(f"/api/media/status/{video.pk}").status_code == 410
    assert api_client.delete(f"/api/media/{video.pk}").status_code == 410
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Token {TokenFactory().key}")
    assert stranger.get(f"/api/media/status/{video.pk}").status_code == 404


def test_an_analysis_retention_removed_unasked_answers_410_too(api_client, settings):
    video = VideoFactory(owner=api_client.user, workflow_state="failed")
    MediaAnalysisRequest.objects.create(video=video, prompt="cars", requested_media_type="video")
    Video.objects.filter(pk=video.pk).update(updated_at=timezone.now() - timedelta(days=400))

    retention_cleanup()

    assert not Video.objects.filter(pk=video.pk).exists()
    assert api_client.get(f"/api/media/status/{video.pk}").status_code == 410


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
    MediaAnalysisRequest.objects.create(video=failed, prompt="a still", requested_media_type="image")
    images = api_client.get("/api/media/history", {"media_type": "image"}).json()
    assert [(row["analysis_id"], row["media_type"]) for row in images["data"]] == [(str(failed.pk), "image")]
    assert api_client.get("/api/media/history", {"media_type": "video"}).json()["pagination"]["total"] == 5
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


def test_the_download_task_stores_into_the_object_store_and_waits_out_a_store_out_of_reach(
    api_client, http_server, settings, s3_media, video_path, tmp_path
):
    from videos import media_store

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    body = analyze(api_client, prompt="cars", media_url=f"{http_server}/clip.mp4", media_type="video").json()
    request = MediaAnalysisRequest.objects.get(analysis_id=body["analysis_id"])
    reachable = settings.STORAGES
    options = {**reachable["default"]["OPTIONS"], "endpoint_url": "http://127.0.0.1:9"}
    settings.STORAGES = {**reachable, "default": {**reachable["default"], "OPTIONS": options}}

    # Not the analysis's fault: it stays pending (the lost-download sweep sends the fetch again), not failed.
    with pytest.raises(media_store.MediaStoreUnavailable):
        media_analysis_fetch(analysis_id=body["analysis_id"], token=request.fetch_task_id)
    assert Video.objects.get(pk=body["analysis_id"]).workflow_state != "failed"

    settings.STORAGES = reachable
    assert media_analysis_fetch(analysis_id=body["analysis_id"], token=request.fetch_task_id) == "stored"
    video = Video.objects.get(pk=body["analysis_id"])
    with media_store.open_for_reading(video.file.name) as stored:
        assert stored.read() == video_path.read_bytes()
    stored_keys = s3_media.keys()
    assert f"{s3_media.prefix}/{video.file.name}" in stored_keys
    assert not any(path.is_file() for path in (tmp_path / "media").rglob("*"))
