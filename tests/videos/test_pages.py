"""The dashboard, the admin and the schema render for the people meant to see them."""

import pytest

from processing.models import ProcessingErrorLog
from tests.factories import ProcessingJobFactory, UserFactory, VideoFactory
from videos.services.transitions import video_transition

pytestmark = pytest.mark.django_db


def test_dashboard_requires_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_dashboard_lists_only_the_users_videos(client):
    user = UserFactory()
    mine = VideoFactory(owner=user, title="harbour at dawn", workflow_state="completed")
    VideoFactory(title="someone else's clip")
    client.force_login(user)

    page = client.get("/").content.decode()

    assert "harbour at dawn" in page
    assert "someone else" not in page
    assert f'data-video-id="{mine.pk}"' in page
    assert "js/dashboard.js" in page


def test_sign_in_page_signs_in(client):
    user = UserFactory()
    response = client.post("/accounts/login/", {"username": user.username, "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_lists_videos_jobs_errors_audit_and_outbox(staff_client):
    job = ProcessingJobFactory(video__workflow_state="processing")
    video_transition(video_id=job.video_id, transition_name="fail", reason="disk gone")
    ProcessingErrorLog.objects.create(
        video=job.video,
        job=job,
        stage="inference",
        error_type="internal_error",
        message="boom",
        recovery_strategy="manual_intervention",
    )
    for path in [
        "/admin/videos/video/",
        f"/admin/videos/video/{job.video_id}/change/",
        "/admin/processing/processingjob/",
        f"/admin/processing/processingjob/{job.pk}/change/",
        "/admin/processing/processingerrorlog/",
        "/admin/audit/auditlogentry/",
        "/admin/notifications/outboxevent/",
    ]:
        assert staff_client.get(path).status_code == 200, path


def test_admin_shows_the_state_read_only(staff_client):
    video = VideoFactory(workflow_state="completed")
    page = staff_client.get(f"/admin/videos/video/{video.pk}/change/").content.decode()
    assert 'name="workflow_state"' not in page
    assert "Completed" in page


def test_openapi_schema_describes_the_video_endpoints(staff_client):
    response = staff_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/videos/", "/api/v1/videos/{video_id}/", "/api/v1/videos/{video_id}/detections/"} <= set(paths)
