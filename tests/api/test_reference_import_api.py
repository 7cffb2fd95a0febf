"""POST /api/v1/videos/<id>/ground-truth/ (reference import) and GET /api/v1/videos/<id>/evaluations/."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from processing.exports.coco import coco_export
from processing.models import Evaluation, JobOrigin, JobStage, ProcessingJob
from processing.services.evaluation import evaluation_run
from tests.factories import ProcessingJobFactory, TokenFactory, UserFactory, VideoFactory, add_detections

pytestmark = pytest.mark.django_db


@pytest.fixture
def video(api_client):
    return VideoFactory(
        owner=api_client.user, workflow_state="completed", width=200, height=100, fps=10, frame_count=20
    )


@pytest.fixture
def run(video):
    job = ProcessingJobFactory(video=video, status="completed")
    rows = [(f, c, 0.9, (x, 10, x + 30, 60)) for f, c, x in [(0, 0, 10), (3, 1, 50), (7, 0, 100)]]
    add_detections(job, rows, class_names=["box", "disc"])
    return job


def coco_file(job, name="reference.json") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"".join(coco_export(job)), content_type="application/json")


def url(video) -> str:
    return f"/api/v1/videos/{video.pk}/ground-truth/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {TokenFactory(user=user).key}")
    return client


def test_import_evaluate_and_read_back(api_client, video, run):
    answer = api_client.post(url(video), {"file": coco_file(run)}, format="multipart")

    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["origin"] == "import" and body["is_ground_truth"] and body["status"] == "completed"
    assert body["reference"]["boxes"] == 3 and body["reference"]["format"] == "coco"
    assert body["reference"]["classes"] == {"0": "box", "1": "disc"}

    listed = api_client.get(f"/api/v1/videos/{video.pk}/jobs/").json()["results"]
    assert {(job["id"], job["origin"]) for job in listed} == {(str(run.pk), "run"), (body["id"], "import")}
    runs_only = api_client.get(f"/api/v1/videos/{video.pk}/jobs/?origin=run").json()["results"]
    assert [job["id"] for job in runs_only] == [str(run.pk)]
    assert api_client.get(f"/api/v1/videos/{video.pk}/jobs/?origin=both").status_code == 400

    assert api_client.get(f"/api/v1/videos/{video.pk}/evaluations/").json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }
    queued = api_client.post(f"/api/v1/jobs/{run.pk}/evaluation/")
    assert queued.status_code == 202
    evaluation_run(evaluation_id=queued.json()["id"])
    evaluations = api_client.get(f"/api/v1/videos/{video.pk}/evaluations/").json()["results"]
    assert [(e["job_id"], e["reference_job_id"]) for e in evaluations] == [(str(run.pk), body["id"])]
    assert evaluations[0]["precision"] == 1.0 and evaluations[0]["recall"] == 1.0


def test_a_mot_file_with_class_names(api_client, video):
    upload = SimpleUploadedFile("gt.upload", b"1,1,10,10,20,20,1,1,1\n2,1,12,10,20,20,1,1,1\n")
    answer = api_client.post(url(video), {"file": upload, "format": "mot", "classes": "car"}, format="multipart")
    assert answer.status_code == 201, answer.json()
    job = ProcessingJob.objects.get(pk=answer.json()["id"])
    assert set(job.detections.values_list("class_name", "track_id")) == {("car", 1)}


@pytest.mark.parametrize(
    ("content", "fields", "message", "details"),
    [
        (b'{"images": [], "categories": [], "annotations": []}', {}, "no categories", {"path": "categories"}),
        (b"1,1,10,10,20,20,1,9\n", {"format": "mot", "classes": "car"}, "line 1: class 9", {"line": 1}),
        (b"25,1,10,10,20,20,1,1\n", {"format": "mot", "classes": "car"}, "past the video's last frame", {"line": 1}),
        (b"1,1,10,10,20,20,1,1\n", {"format": "mot", "classes": "a,,b"}, "`classes`", {"field": "classes"}),
        (b"\xff\xfe", {}, "not UTF-8", {}),
    ],
)
def test_bad_files_answer_400_with_the_place_and_store_nothing(api_client, video, content, fields, message, details):
    answer = api_client.post(
        url(video), {"file": SimpleUploadedFile("ref.json", content), **fields}, format="multipart"
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_reference" and message in error["message"]
    assert {k: v for k, v in error["details"].items() if k in details} == details
    assert not ProcessingJob.objects.filter(origin=JobOrigin.IMPORT).exists()


def test_missing_file_and_unknown_format_are_form_errors(api_client, video):
    answer = api_client.post(url(video), {}, format="multipart")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid"
    answer = api_client.post(
        url(video), {"file": SimpleUploadedFile("a.json", b"{}"), "format": "xml"}, format="multipart"
    )
    assert answer.status_code == 400 and answer.json()["error"]["message"].startswith("format:")
    answer = api_client.post(url(video), {"file": SimpleUploadedFile("a.json", b"")}, format="multipart")
    assert answer.status_code == 400


def test_a_file_over_the_limit_answers_413(api_client, video, settings):
    settings.REFERENCE_IMPORT_MAX_BYTES = 100
    answer = api_client.post(
        url(video), {"file": SimpleUploadedFile("gt.txt", b"1,1,10,10,20,20,1,1\n" * 10)}, format="multipart"
    )
    assert answer.status_code == 413
    assert answer.json()["error"] == {
        "code": "file_too_large",
        "message": "A reference file may be at most 100 bytes.",
        "details": {"max_bytes": 100},
    }


def test_a_video_still_processing_answers_409(api_client):
    video = VideoFactory(owner=api_client.user, workflow_state="processing")
    answer = api_client.post(url(video), {"file": SimpleUploadedFile("gt.txt", b"1,1,1,1,2,2")}, format="multipart")
    assert answer.status_code == 409
    assert answer.json()["error"]["details"]["state"] == "processing"


def test_roles(video, run, viewer_client):
    # A viewer may read their own video but not import into it.
    own = VideoFactory(owner=viewer_client.user, workflow_state="completed", width=200, height=100)
    answer = viewer_client.post(url(own), {"file": coco_file(run)}, format="multipart")
    assert answer.status_code == 403 and answer.json()["error"]["message"]
    assert viewer_client.get(f"/api/v1/videos/{own.pk}/evaluations/").status_code == 200

    # Another user's video does not exist for them.
    stranger = client_for(UserFactory())
    assert stranger.post(url(video), {"file": coco_file(run)}, format="multipart").status_code == 404
    assert stranger.get(f"/api/v1/videos/{video.pk}/evaluations/").status_code == 404

    # Staff may import for anyone; nobody signed in may not.
    assert APIClient().post(url(video), {"file": coco_file(run)}, format="multipart").status_code in (401, 403)
    staff = client_for(UserFactory(is_staff=True))
    assert staff.post(url(video), {"file": coco_file(run)}, format="multipart").status_code == 201

    # A deleted video is gone.
    VideoFactory._meta.model.objects.filter(pk=video.pk).update(deleted_at=timezone.now())
    assert staff.post(url(video), {"file": coco_file(run)}, format="multipart").status_code == 410
    assert ProcessingJob.objects.filter(origin=JobOrigin.IMPORT).count() == 1


def test_the_endpoints_are_in_the_schema(api_client):
    schema = json.loads(api_client.get("/api/schema/?format=json").content)
    operation = schema["paths"]["/api/v1/videos/{video_id}/ground-truth/"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    properties = schema["components"]["schemas"][form]["properties"]
    assert set(properties) == {"file", "format", "classes"}
    assert "model class id + 1" in properties["classes"]["description"]
    assert "413" in operation["responses"]
    assert "/api/v1/videos/{video_id}/evaluations/" in schema["paths"]
    job = schema["components"]["schemas"]["Job"]["properties"]
    assert "origin" in job and "reference" in job


def test_evaluations_of_the_video_are_listed_newest_first(api_client, video, run):
    reference = ProcessingJobFactory(video=video, status="completed", is_ground_truth=True)
    older = Evaluation.objects.create(job=run, reference_job=reference)
    newer = Evaluation.objects.create(job=run, reference_job=reference)
    Evaluation.objects.create(job=ProcessingJobFactory(status="completed"), reference_job=reference)  # elsewhere
    ids = [e["id"] for e in api_client.get(f"/api/v1/videos/{video.pk}/evaluations/").json()["results"]]
    assert ids == [newer.pk, older.pk]


def test_the_video_page_offers_the_import_to_writers_only(client, video, viewer_client):
    client.force_login(video.owner)
    page = client.get(f"/videos/{video.pk}/").content.decode()
    assert 'id="reference-form"' in page and 'data-can-write="true"' in page
    own = VideoFactory(owner=viewer_client.user, workflow_state="completed")
    client.force_login(viewer_client.user)
    assert 'data-can-write="false"' in client.get(f"/videos/{own.pk}/").content.decode()


def test_an_imported_reference_is_never_the_videos_latest_run_or_its_result(api_client, video, run):
    from processing.selectors import video_latest_job, video_result_job
    from processing.selectors import video_with_runs_for_user as video_get_for_user

    assert api_client.post(url(video), {"file": coco_file(run)}, format="multipart").status_code == 201

    detail = api_client.get(f"/api/v1/videos/{video.pk}/").json()
    assert detail["latest_job"]["id"] == str(run.pk)
    prefetched = video_get_for_user(user=api_client.user, video_id=video.pk)
    assert video_latest_job(video=prefetched) == run
    assert video_latest_job(video=video) == run
    assert video_result_job(video=video) == run  # the boxes the video page draws by default


def test_the_admin_and_the_services_take_the_same_latest_run_as_the_api(api_client, video, run):
    from django.contrib import admin

    from processing.admin import VideoWithRunsAdmin
    from processing.services.jobs import _latest_job_id
    from videos.models import Video

    JobStage.objects.create(job=run, stage="inference", status="completed", progress_percentage=100)
    assert api_client.post(url(video), {"file": coco_file(run)}, format="multipart").status_code == 201
    assert ProcessingJob.objects.filter(video=video).order_by("-created_at").first().origin == JobOrigin.IMPORT

    timeline = str(VideoWithRunsAdmin(Video, admin.site).stage_timeline(video))
    assert "inference" in timeline and "ground_truth" not in timeline
    assert _latest_job_id(video) == run.pk, "retry and resume act on the run, never on the imported reference"
