"""GET /api/v1/jobs/<id>/detections/summary/: where each class and each track shows up in a run."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from processing.selectors_detections import MAX_TRACKS_LISTED
from tests.factories import ProcessingJobFactory, VideoFactory, add_detections

pytestmark = pytest.mark.django_db

NAMES = {0: "person", 2: "car"}


@pytest.fixture
def tracked_job(api_client):
    video = VideoFactory(owner=api_client.user, workflow_state="completed", width=200, height=100, fps=10)
    job = ProcessingJobFactory(video=video, track=True, status="completed")
    rows = [
        (2, 0, 0.9, (10, 20, 50, 80), 1),
        (3, 0, 0.35, (12, 22, 52, 82), 1),
        (5, 2, 0.8, (100, 10, 180, 60), 2),
        (9, 2, 0.7, (104, 12, 184, 62), 2),
        (9, 0, 0.6, (14, 24, 54, 84), 1),
        (7, 2, 0.5, (20, 20, 40, 40)),  # a box no track claimed
    ]
    add_detections(job, rows, class_names=NAMES)
    return job


def summary(client, job, query=""):
    response = client.get(f"/api/v1/jobs/{job.pk}/detections/summary/{query}")
    assert response.status_code == 200, response.content
    return response.json()


def test_each_class_and_track_with_first_and_last_seen(api_client, tracked_job):
    body = summary(api_client, tracked_job)
    assert body["boxes"] == 6 and body["tracked"] is True
    assert [(c["class_name"], c["count"], c["first_frame"], c["last_frame"]) for c in body["classes"]] == [
        ("car", 3, 5, 9),
        ("person", 3, 2, 9),
    ]
    person = body["classes"][1]
    assert person["first_seconds"] == 0.2 and person["last_seconds"] == 0.9 and person["max_confidence"] == 0.9
    assert [
        (t["track_id"], t["class_name"], t["count"], t["first_frame"], t["last_frame"]) for t in body["tracks"]
    ] == [
        (1, "person", 3, 2, 9),
        (2, "car", 2, 5, 9),
    ]
    assert body["tracks_total"] == 2


def test_the_confidence_floor_counts_only_the_boxes_above_it(api_client, tracked_job):
    body = summary(api_client, tracked_job, "?min_confidence=0.4")
    person = next(c for c in body["classes"] if c["class_name"] == "person")
    assert (person["count"], person["first_frame"]) == (2, 2)
    assert body["boxes"] == 5 and body["min_confidence"] == 0.4


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan", "abc", "1e400"])
def test_an_out_of_range_floor_is_a_400_with_a_message(api_client, tracked_job, value):
    response = api_client.get(f"/api/v1/jobs/{tracked_job.pk}/detections/summary/?min_confidence={value}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert "min_confidence" in error["message"]


def test_someone_elses_run_is_not_found(api_client):
    job = ProcessingJobFactory(video=VideoFactory(workflow_state="completed"), status="completed")
    response = api_client.get(f"/api/v1/jobs/{job.pk}/detections/summary/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_thousands_of_boxes_are_summed_in_the_database_and_the_track_list_is_bounded(api_client):
    video = VideoFactory(owner=api_client.user, workflow_state="completed", width=640, height=480, fps=25)
    job = ProcessingJobFactory(video=video, track=True, status="completed")
    tracks = MAX_TRACKS_LISTED + 20
    rows = [
        (frame, frame % 2 * 2, 0.5, (1, 1, 9, 9), track)
        for track in range(1, tracks + 1)
        for frame in (track, track + 3)
    ]
    add_detections(job, rows, class_names=NAMES)
    with CaptureQueriesContext(connection) as queries:
        body = summary(api_client, job)
    aggregates = [q["sql"] for q in queries.captured_queries if "GROUP BY" in q["sql"]]
    assert len(aggregates) == 2, aggregates
    assert body["boxes"] == 2 * tracks
    assert len(body["tracks"]) == MAX_TRACKS_LISTED and body["tracks_total"] == tracks
    assert body["tracks"][0]["track_id"] == 1 and body["tracks"][0]["last_frame"] == 4
