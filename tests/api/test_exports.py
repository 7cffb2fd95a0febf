import csv
import io
import json
import zipfile

import pytest

from processing.models import Detection
from tests.factories import ProcessingJobFactory, VideoFactory, add_detections

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(api_client):
    video = VideoFactory(owner=api_client.user, workflow_state="completed", width=200, height=100)
    job = ProcessingJobFactory(video=video, track=True, status="completed")
    rows = [
        (0, 0, 0.9, (10, 20, 50, 80), 1),
        (0, 2, 0.8, (100, 10, 180, 60), 2),
        (3, 0, 0.7, (12, 22, 52, 82), 1),
    ]
    add_detections(job, rows, class_names={0: "person", 2: "car"})
    return job


def body(response) -> bytes:
    assert response.status_code == 200, getattr(response, "content", b"")
    assert response.streaming
    return b"".join(response.streaming_content)


def test_coco_export(api_client, job):
    data = json.loads(body(api_client.get(f"/api/v1/jobs/{job.pk}/export/coco/")))
    assert {c["name"]: c["id"] for c in data["categories"]} == {"person": 1, "car": 3}
    assert [i["frame_index"] for i in data["images"]] == [0, 3]
    assert data["images"][0]["width"] == 200
    first = data["annotations"][0]
    assert first["bbox"] == [10, 20, 40, 60] and first["category_id"] == 1 and first["image_id"] == 1
    assert first["attributes"] == {"track_id": 1}
    assert len(data["annotations"]) == 3


def test_yolo_export_is_a_zip_of_labels_and_names(api_client, job):
    response = api_client.get(f"/api/v1/jobs/{job.pk}/export/yolo/")
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    assert sorted(archive.namelist()) == [
        "classes.txt",
        "data.yaml",
        "labels/frame_000000.txt",
        "labels/frame_000003.txt",
    ]
    assert archive.read("classes.txt").decode().splitlines() == ["person", "class_1", "car"]
    lines = archive.read("labels/frame_000000.txt").decode().splitlines()
    assert lines[0] == "0 0.150000 0.500000 0.200000 0.600000"
    assert lines[1].startswith("2 ")


def test_mot_export_carries_track_ids(api_client, job):
    rows = list(csv.reader(io.StringIO(body(api_client.get(f"/api/v1/jobs/{job.pk}/export/mot/")).decode())))
    assert rows[0] == ["1", "1", "10.00", "20.00", "40.00", "60.00", "0.9000", "-1", "-1", "-1"]
    assert [r[1] for r in rows] == ["1", "2", "1"]
    assert rows[2][0] == "4"


def test_mot_export_untracked_uses_minus_one(api_client, job):
    Detection.objects.filter(job=job).update(track_id=None)
    rows = list(csv.reader(io.StringIO(body(api_client.get(f"/api/v1/jobs/{job.pk}/export/mot/")).decode())))
    assert {r[1] for r in rows} == {"-1"}


def test_unknown_format_and_other_users_run(api_client, job):
    assert api_client.get(f"/api/v1/jobs/{job.pk}/export/pascal/").status_code == 404
    other = ProcessingJobFactory()
    assert api_client.get(f"/api/v1/jobs/{other.pk}/export/coco/").status_code == 404


def test_export_of_an_empty_run(api_client, job):
    Detection.objects.filter(job=job).delete()
    data = json.loads(body(api_client.get(f"/api/v1/jobs/{job.pk}/export/coco/")))
    assert data["annotations"] == [] and data["images"] == []
    assert zipfile.ZipFile(io.BytesIO(body(api_client.get(f"/api/v1/jobs/{job.pk}/export/yolo/")))).testzip() is None
