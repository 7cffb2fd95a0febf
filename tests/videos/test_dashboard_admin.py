"""The admin's transition actions and buttons go through the services and respect the state machine."""

import pytest
from django.contrib.messages import get_messages

from processing.models import JobStatus
from tests.factories import ProcessingJobFactory, UserFactory, VideoFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_retry_action_requeues_failed_videos_and_refuses_the_others(staff):
    failed = ProcessingJobFactory(video__workflow_state="failed", status=JobStatus.FAILED)
    completed = VideoFactory(workflow_state="completed", title="finished one")
    response = staff.post(
        "/admin/videos/video/",
        {"action": "retry_videos", "_selected_action": [failed.video_id, completed.pk]},
        follow=True,
    )
    failed.refresh_from_db()
    assert failed.status == JobStatus.QUEUED and failed.retry_count == 1
    messages = texts(response)
    assert any("queued for retry" in m for m in messages)
    assert any("finished one" in m and "Only a failed video can be retried" in m for m in messages)


def test_archive_and_cancel_actions(staff):
    done = VideoFactory(workflow_state="completed")
    running = ProcessingJobFactory(video__workflow_state="processing", status=JobStatus.QUEUED)
    staff.post("/admin/videos/video/", {"action": "archive_videos", "_selected_action": [done.pk]})
    staff.post("/admin/videos/video/", {"action": "cancel_videos", "_selected_action": [running.video_id]})
    done.refresh_from_db()
    running.refresh_from_db()
    assert done.workflow_state == "archived"
    assert running.status == JobStatus.CANCELLED and running.video.workflow_state == "failed"


def test_change_page_buttons_post_one_transition(staff):
    video = VideoFactory(workflow_state="completed")
    page = staff.get(f"/admin/videos/video/{video.pk}/change/").content.decode()
    assert f"/admin/videos/video/{video.pk}/transition/archive/" in page
    assert "stage timeline" in page.lower()
    url = f"/admin/videos/video/{video.pk}/transition/retry/"
    assert staff.get(url).status_code == 405
    response = staff.post(url, follow=True)
    assert any("Only a failed video can be retried" in m for m in texts(response))
    response = staff.post(f"/admin/videos/video/{video.pk}/transition/archive/", follow=True)
    video.refresh_from_db()
    assert video.workflow_state == "archived"
    assert response.redirect_chain[-1][0] == f"/admin/videos/video/{video.pk}/change/"


def test_video_list_filters_by_owner_and_searches_the_hash(staff):
    video = VideoFactory(file_hash="ab" * 32, title="hashed")
    VideoFactory(title="other")
    page = staff.get("/admin/videos/video/", {"q": "abab"}).content.decode()
    assert "hashed" in page and ">other<" not in page
    page = staff.get("/admin/videos/video/", {"owner__id__exact": video.owner_id}).content.decode()
    assert "hashed" in page


def test_job_admin_actions_act_on_the_video(staff):
    job = ProcessingJobFactory(video__workflow_state="failed", status=JobStatus.FAILED)
    staff.post("/admin/processing/processingjob/", {"action": "retry_videos", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_non_staff_cannot_use_the_transition_url(client):
    video = VideoFactory(workflow_state="completed")
    client.force_login(video.owner)
    response = client.post(f"/admin/videos/video/{video.pk}/transition/archive/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    video.refresh_from_db()
    assert video.workflow_state == "completed"
