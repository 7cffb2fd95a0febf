"""What the video page says, rendered by the server: a failure in plain words with Retry only where it can help,
a cancel with what it kept, the run's confidence floor on the slider, its speed, stage names people read."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from processing.models import ErrorType, ProcessingErrorLog, RecoveryStrategy
from processing.services.stages import stages_initialise
from tests.factories import ProcessingJobFactory, VideoFactory

pytestmark = pytest.mark.django_db


def render(client, video) -> str:
    client.force_login(video.owner)
    response = client.get(f"/videos/{video.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def tag(html: str, marker: str) -> str:
    """The opening tag that carries `marker` (an id or a data attribute), to check its attributes."""
    match = re.search(rf"<[a-z]+[^>]*{re.escape(marker)}[^>]*>", html)
    assert match, f"no element with {marker}"
    return match.group(0)


def failed_video(error_type, strategy, code, message):
    video = VideoFactory(workflow_state="failed", width=320, height=240, fps=10, last_error_message=message)
    ProcessingJobFactory(video=video, status="failed")
    ProcessingErrorLog.objects.create(
        video=video,
        stage="validation",
        error_type=error_type,
        error_code=code,
        message=message,
        recovery_strategy=strategy,
    )
    return video


def test_an_unreadable_file_says_why_and_offers_no_retry(client):
    video = failed_video(
        ErrorType.FILE_CORRUPTION, RecoveryStrategy.USER_NOTIFICATION, "undecodable", "avcodec: -1094995529"
    )
    html = render(client, video)
    assert "The video could not be decoded: the file is damaged" in html
    assert "Retrying would fail the same way" in html
    retry = tag(html, 'data-action="retry"')
    assert " disabled" in retry and " hidden" in retry
    assert " hidden" not in tag(html, 'id="failure-banner"')


def test_a_failure_a_retry_can_cure_keeps_the_retry_button(client):
    video = failed_video(ErrorType.NETWORK_TIMEOUT, RecoveryStrategy.RETRY, "timeout", "TimeoutError: redis")
    html = render(client, video)
    assert "A connection inside the platform kept timing out." in html
    retry = tag(html, 'data-action="retry"')
    assert " disabled" not in retry and " hidden" not in retry


def test_a_cancelled_run_reads_cancelled_with_what_it_kept(client):
    video = VideoFactory(workflow_state="failed", cancelled_at=timezone.now(), width=320, height=240, fps=10)
    ProcessingJobFactory(video=video, status="cancelled", processed_frames=12, total_frames=30, detections_count=1)
    html = render(client, video)
    assert 'class="badge state-cancelled">cancelled<' in html
    assert "Cancelled: 12 frames processed of 30, 1 detection kept." in html
    assert 'id="objects-label">Objects kept<' in html
    assert " hidden" in tag(html, 'id="failure-banner"')
    assert " hidden" in tag(html, 'id="errors-card"')


def test_the_slider_starts_at_the_runs_floor_and_the_speed_is_computed(client):
    video = VideoFactory(workflow_state="completed", width=320, height=240, fps=10)
    started = timezone.now() - timedelta(seconds=4)
    job = ProcessingJobFactory(
        video=video,
        status="completed",
        config={"confidence": 0.4},
        processed_frames=30,
        detections_count=2,
        started_at=started,
        finished_at=started + timedelta(seconds=4),
    )
    stages_initialise(job=job)
    html = render(client, video)
    assert 'value="0.40"' in tag(html, 'id="confidence"')
    assert '<dd id="fig-speed">7.5</dd>' in html
    assert "Ground truth</span>" in html and "ground_truth</span>" not in html


def test_nothing_to_play_hides_the_player_exports_and_validation(client):
    video = VideoFactory(workflow_state="failed")
    ProcessingJobFactory(video=video, status="failed")
    html = render(client, video)
    for marker in ('id="player-card"', 'id="exports"', 'id="evaluation"'):
        assert " hidden" in tag(html, marker), marker
