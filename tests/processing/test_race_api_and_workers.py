"""Random API actions racing real workers: no 5xx, no deadlock, no video left live or out of step with its run.

Several clients fire uploads, cancels, retries, archives, new runs and deletes at random moments
of short jobs, through the real web front (nginx, gunicorn), while two real Celery workers run
those jobs. After the queue drains, every video must tell the truth about its runs.
"""

import os
import random
import threading
import time
from collections import Counter

import pytest
import requests
from django.db import connection

from processing.models import JobOrigin, JobStatus, ProcessingJob
from processing.services.jobs import ACTIVE_JOB_STATUSES
from tests import live
from tests.factories import TokenFactory, UserFactory
from tests.videofiles import write_test_video
from videos.models import LIVE_STATES, Video, WorkflowState

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

ACTIONS = 240
CLIENTS = 4
# Upload-heavy, so there is always something at every stage to race with.
WEIGHTS = {"upload": 4, "cancel": 3, "retry": 3, "archive": 1, "run": 3, "delete": 1}


def deadlocks_so_far() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


class RaceClients:
    def __init__(self, base: str, token: str, clips: list[bytes], seed: int):
        self.base = base
        self.token = token
        self.clips = clips
        self.seed = seed
        self.video_ids: list[str] = []
        self.deleted: set[str] = set()
        self.lock = threading.Lock()
        self.answers: Counter = Counter()
        self.server_errors: list[str] = []

    def run(self) -> None:
        threads = [threading.Thread(target=self._client, args=(index,)) for index in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(600)

    def _client(self, index: int) -> None:
        rng = random.Random(self.seed * 100 + index)
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.token}"
        for _ in range(ACTIONS // CLIENTS):
            action = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
            with self.lock:
                # Mostly videos not yet deleted, where every action has something to race with.
                alive = [video_id for video_id in self.video_ids if video_id not in self.deleted]
                pool = alive if alive and rng.random() < 0.85 else self.video_ids
                target = rng.choice(pool) if pool else None
            if action == "upload" or target is None:
                self._upload(session, rng)
            else:
                self._act(session, action, target, rng)
            time.sleep(rng.uniform(0, 0.3))

    def warm_up(self, count: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.token}"
        for content in self.clips[:count]:
            response = session.post(f"{self.base}/videos/", files={"file": ("clip.mp4", content)}, timeout=60)
            assert response.status_code == 201, response.text
            self.video_ids.append(response.json()["id"])
        wait_for_the_queue_to_drain(self.video_ids)

    def _record(self, action: str, response: requests.Response) -> None:
        with self.lock:
            self.answers[(action, response.status_code)] += 1
            if response.status_code >= 500:
                self.server_errors.append(
                    f"{action} {response.request.url}: {response.status_code} {response.text[:300]}"
                )

    def _upload(self, session: requests.Session, rng: random.Random) -> None:
        content = rng.choice(self.clips)  # mostly new content; a repeat takes the reuse path
        response = session.post(f"{self.base}/videos/", files={"file": ("clip.mp4", content)}, timeout=60)
        self._record("upload", response)
        if response.status_code in (201, 202):
            with self.lock:
                self.video_ids.append(response.json()["id"])

    def _act(self, session: requests.Session, action: str, video_id: str, rng: random.Random) -> None:
        url = f"{self.base}/videos/{video_id}/"
        if action == "delete":
            response = session.delete(url, timeout=60)
            if response.status_code in (204, 410):
                with self.lock:
                    self.deleted.add(video_id)
        elif action == "run":
            response = session.post(f"{url}jobs/", json={"frame_step": rng.choice([1, 2, 3])}, timeout=60)
        else:
            response = session.post(f"{url}{action}/", timeout=60)
        self._record(action, response)


def wait_for_the_queue_to_drain(video_ids: list[str], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not ProcessingJob.objects.filter(video_id__in=video_ids, status__in=ACTIVE_JOB_STATUSES).exists():
            return
        time.sleep(0.5)
    active = list(
        ProcessingJob.objects.filter(video_id__in=video_ids, status__in=ACTIVE_JOB_STATUSES).values_list("pk", "status")
    )
    raise AssertionError(f"jobs still active after {timeout}s: {active}")


def disagreement(video: Video) -> str | None:
    """Why the video's state does not agree with its runs, or None when it does."""
    runs = list(video.jobs.filter(origin=JobOrigin.RUN).order_by("created_at"))
    if video.workflow_state in LIVE_STATES:
        return f"live ({video.workflow_state}) with no active run"
    if not runs:
        return "no run at all"
    latest = runs[-1]
    if video.workflow_state == WorkflowState.FAILED:
        if latest.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            return f"failed, but its latest run is {latest.status}"
        if video.cancelled_at is not None and latest.status != JobStatus.CANCELLED:
            return f"cancelled, but its latest run is {latest.status}"
    if video.workflow_state == WorkflowState.COMPLETED and not any(run.status == JobStatus.COMPLETED for run in runs):
        return "completed without a completed run"
    return None


def test_random_api_actions_racing_two_workers_leave_every_video_consistent(
    live_server_process, live_worker_process, tmp_path
):
    seed = int(os.environ.get("RACE_SEED", random.randrange(1_000_000)))
    print(f"RACE_SEED={seed}")
    user = UserFactory()
    clips = [
        write_test_video(
            tmp_path / f"clip{variant}.mp4", seconds=4, fps=10, width=160, height=120, variant=variant
        ).read_bytes()
        for variant in range(40)
    ]
    deadlocks_before = deadlocks_so_far()
    clients = RaceClients(f"http://{live_server_process}/api/v1", TokenFactory(user=user).key, clips, seed)

    second_worker = live.start_celery_worker("racing-worker")
    try:
        # Some finished videos first, so new runs, archives and deletes of finished work race too.
        clients.warm_up(4)
        clients.run()
        wait_for_the_queue_to_drain(clients.video_ids)
    finally:
        second_worker.stop()

    fired = sum(clients.answers.values())
    print(f"actions fired: {fired}; answers: {dict(sorted(clients.answers.items()))}")
    assert fired >= 200
    assert clients.server_errors == []
    time.sleep(1.5)  # a backend reports its statistics within a second of its transaction
    assert deadlocks_so_far() == deadlocks_before, "PostgreSQL detected a deadlock"

    videos = Video.objects.filter(pk__in=clients.video_ids)
    assert videos.count() == len(clients.video_ids)
    inconsistent = {str(video.pk): disagreement(video) for video in videos if disagreement(video)}
    assert inconsistent == {}
    deleted = {str(pk) for pk in videos.filter(deleted_at__isnull=False).values_list("pk", flat=True)}
    assert clients.deleted <= deleted
    session = requests.Session()
    session.headers["Authorization"] = f"Token {clients.token}"
    for video_id in deleted:
        assert session.get(f"{clients.base}/videos/{video_id}/", timeout=30).status_code == 410

    # Nothing is in flight any more, deleted videos included, so the owner's next upload is admitted.
    assert not Video.objects.filter(owner=user, workflow_state__in=LIVE_STATES).exists()
    admitted = session.post(f"{clients.base}/videos/", files={"file": ("clip.mp4", clips[0])}, timeout=60)
    assert admitted.status_code == 201, admitted.text
    wait_for_the_queue_to_drain([admitted.json()["id"]])
