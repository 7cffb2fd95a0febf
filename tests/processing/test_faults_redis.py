"""Redis restarted while videos are processed: none is left in a live state, every terminal event arrives.

Redis is the broker and the channel layer. A restart without persistence forgets the queued
messages of the videos waiting behind the one being processed, and cuts every subscriber.
The platform runs here on a private Redis (the shared one serves everyone else); the test
plays celery beat by sending the two sweeps (stuck jobs, pending events) every second, and a
client per video follows it over a websocket as the dashboard does.
"""

import threading
import time

import pytest
import requests
from celery import Celery

from notifications.models import EventType, OutboxEvent, OutboxStatus
from processing.models import ProcessingJob
from processing.services.sweeps import broker_process_video_job_ids, stuck_jobs_requeue
from tests import faults, live
from tests.factories import ProcessingJobFactory, TokenFactory
from tests.notifications.helpers import FollowingClient, token_protocols
from tests.processing.running import settle
from tests.videofiles import write_test_video
from videos.models import LIVE_STATES, Video

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

TERMINAL = (EventType.PROCESSING_COMPLETED, EventType.PROCESSING_FAILED)


class Follower(threading.Thread):
    def __init__(self, url: str, subprotocols: list[str]):
        super().__init__(daemon=True)
        self.client = FollowingClient(url=url, subprotocols=subprotocols)
        self.failure: BaseException | None = None

    def run(self):
        try:
            self.client.follow_until_terminal(timeout=240)
        except BaseException as exc:  # reported by the test
            self.failure = exc


def beat_tick(broker: Celery) -> None:
    broker.send_task("processing.tasks.requeue_stuck_jobs", queue="default")
    broker.send_task("notifications.tasks.deliver_pending_events", queue="default")


def test_a_redis_restart_leaves_no_video_stuck_and_delivers_every_terminal_event(tmp_path):
    token = TokenFactory()
    # Different lengths: different content, so no upload reuses another's result.
    clips = [write_test_video(tmp_path / f"clip{n}.mp4", seconds=3 + n, fps=10) for n in range(3)]

    with faults.private_redis() as redis, faults.processes() as started:
        env = {**redis.env(), "STUCK_JOB_SECONDS": "5"}
        web, server = faults.start_web("web-redis-restart", env=env)
        started.append(web)
        started.append(live.start_celery_worker("worker-redis-restart", extra_env=env))
        video_ids = []
        for clip in clips:
            with clip.open("rb") as handle:
                response = requests.post(
                    f"http://{server}/api/v1/videos/",
                    headers={"Authorization": f"Token {token.key}"},
                    files={"file": (clip.name, handle, "video/mp4")},
                    timeout=60,
                )
            assert response.status_code == 201, response.text
            video_ids.append(response.json()["id"])
        followers = [Follower(f"ws://{server}/ws/videos/{video_id}/", token_protocols(token)) for video_id in video_ids]
        for follower in followers:
            follower.start()

        faults.wait_until(
            lambda: ProcessingJob.objects.filter(video_id__in=video_ids, processed_frames__gte=4).exists(),
            timeout=180,
            what="the first video's inference",
            logs=started,
        )
        waiting_at_restart = ProcessingJob.objects.filter(video_id__in=video_ids, status="queued").count()
        redis.restart()
        restarted_at = time.monotonic()

        broker = Celery("beat-for-the-test", broker=redis.env()["CELERY_BROKER_URL"], set_as_current=False)
        try:

            def all_settled() -> bool:
                beat_tick(broker)
                time.sleep(1)
                live_left = Video.objects.filter(pk__in=video_ids, workflow_state__in=LIVE_STATES).exists()
                # A terminal event whose send failed while Redis was down goes out at its next retry, after its
                # backoff; its follower may have had it sooner, replayed from the outbox on reconnecting.
                unsent = OutboxEvent.objects.filter(
                    video_id__in=video_ids, event_type__in=TERMINAL, status=OutboxStatus.PENDING
                ).exists()
                return not live_left and not unsent and not any(follower.is_alive() for follower in followers)

            faults.wait_until(all_settled, timeout=240, what="every video to finish and be followed", logs=started)
        finally:
            broker.close()
        settled_seconds = time.monotonic() - restarted_at

    states = dict(Video.objects.filter(pk__in=video_ids).values_list("pk", "workflow_state"))
    terminal_rows = list(OutboxEvent.objects.filter(video_id__in=video_ids, event_type__in=TERMINAL))
    print(
        f"{waiting_at_restart} queued video(s) lost their message at the restart; all settled "
        f"{settled_seconds:.1f}s later: {sorted(states.values())}; terminal events "
        f"{[(e.event_type, e.status) for e in terminal_rows]}; client reconnects "
        f"{[f.client.reconnects for f in followers]}"
    )
    assert waiting_at_restart >= 1, "the restart hit videos waiting in the queue"
    assert set(states.values()) == {"completed"}, "no video stuck in a live state"
    assert sorted(str(e.video_id) for e in terminal_rows) == sorted(video_ids), "one terminal event per video"
    assert all(e.status == OutboxStatus.SENT for e in terminal_rows), "each went out on the channel layer"
    for follower, video_id in zip(followers, video_ids, strict=True):
        assert follower.failure is None, f"{video_id}: {follower.failure!r}"
        last = follower.client.events[-1]
        assert last["event_type"] == "processing_completed" and last["video_id"] == video_id


def test_the_sweep_queues_again_a_waiting_job_whose_message_the_broker_lost_and_only_that_one():
    lost = ProcessingJobFactory(status="queued", video__workflow_state="uploaded")
    ProcessingJob.objects.filter(pk=lost.pk).update(created_at="2000-01-01T00:00:00Z")

    first = stuck_jobs_requeue(stale_after_seconds=60)
    assert first == [lost.pk], "its message was nowhere in the broker: queued again"

    # The suite's live worker, when one runs, may be taking the message: between its pop from the queue
    # and its entry in the unacknowledged set the message is briefly in neither (a second requeue then
    # would be a harmless duplicate: a run is guarded by its lock and status). Let it settle first.
    def message_settled() -> bool:
        still_queued = ProcessingJob.objects.filter(pk=lost.pk, status="queued").exists()
        return not still_queued or str(lost.pk) in broker_process_video_job_ids()

    faults.wait_until(message_settled, timeout=30, what="the requeued message to reach the queue or a worker")
    second = stuck_jobs_requeue(stale_after_seconds=60)
    assert second == [], "now its message waits in the queue (or a worker has it): left alone"
    # The suite's live worker may take that message now; let the job finish (here, or in that worker)
    # before the database is flushed under it.
    settle(lost.pk)
