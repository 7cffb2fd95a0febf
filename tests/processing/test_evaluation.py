"""Evaluating a run against the video's ground-truth run, through the API."""

import pytest
from rest_framework.test import APIClient

from processing.models import Evaluation
from processing.services.evaluation import evaluation_run
from tests.factories import ProcessingJobFactory, UserFactory, VideoFactory, add_detections

pytestmark = pytest.mark.django_db

CLASSES = ["disc", "box"]


@pytest.fixture
def runs(api_client):
    video = VideoFactory(owner=api_client.user, workflow_state="completed")
    truth = ProcessingJobFactory(video=video, status="completed")
    predicted = ProcessingJobFactory(video=video, status="completed")
    add_detections(
        truth,
        class_names=CLASSES,
        rows=[(0, 0, 1.0, (0, 0, 10, 10)), (1, 1, 1.0, (20, 20, 40, 40)), (2, 0, 1.0, (5, 5, 15, 15))],
    )
    # Two hits, one miss (frame 2), one false positive (frame 3).
    add_detections(
        predicted,
        class_names=CLASSES,
        rows=[(0, 0, 0.9, (0, 0, 10, 10)), (1, 1, 0.8, (21, 20, 40, 40)), (3, 0, 0.7, (50, 50, 60, 60))],
    )
    return truth, predicted


def test_a_run_is_scored_against_the_ground_truth(api_client, runs):
    truth, predicted = runs
    url = f"/api/v1/jobs/{predicted.pk}/evaluation/"
    assert api_client.post(url).status_code == 409, "no ground truth marked yet"
    assert api_client.post(f"/api/v1/jobs/{truth.pk}/ground-truth/").status_code == 200

    queued = api_client.post(url)
    assert queued.status_code == 202 and queued.json()["status"] == "pending"
    evaluation_run(evaluation_id=queued.json()["id"])  # what the worker's task does

    body = api_client.get(url).json()
    assert body["status"] == "completed"
    assert body["precision"] == pytest.approx(2 / 3) and body["recall"] == pytest.approx(2 / 3)
    per_class = {row["class_name"]: row for row in body["report"]["per_class"]}
    assert per_class["box"]["recall"] == 1.0 and per_class["box"]["ap50"] == pytest.approx(1.0)
    assert (per_class["disc"]["true_positives"], per_class["disc"]["false_negatives"]) == (1, 1)
    assert len(per_class["disc"]["precision_at_recall"]) == 101
    assert api_client.post(f"/api/v1/jobs/{truth.pk}/evaluation/").status_code == 409, "not against itself"


def test_evaluations_are_private(api_client, runs):
    _, predicted = runs
    stranger = APIClient()
    stranger.force_authenticate(UserFactory())
    assert stranger.get(f"/api/v1/jobs/{predicted.pk}/evaluation/").status_code == 404
    assert not Evaluation.objects.exists()
