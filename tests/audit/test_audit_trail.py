"""Every change leaves a row saying who, from where, under which request; nobody can rewrite them."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from audit.models import AuditLogEntry, StorageOperation
from tests.factories import UserFactory, VideoFactory

pytestmark = pytest.mark.django_db


def test_an_api_upload_is_audited_with_actor_address_agent_and_request_id(api_client, video_path):
    response = api_client.post(
        "/api/v1/videos/",
        {"file": SimpleUploadedFile("a.mp4", video_path.read_bytes())},
        format="multipart",
        HTTP_USER_AGENT="pytest-agent/1.0",
        HTTP_X_REQUEST_ID="req-audit-0001",
    )

    assert response.status_code == 201
    assert response["X-Request-ID"] == "req-audit-0001"
    rows = AuditLogEntry.objects.filter(request_id="req-audit-0001")
    assert {"video.create", "video.transition", "job.create"} <= set(rows.values_list("action", flat=True))
    for row in rows:
        assert row.actor == api_client.user
        assert (row.ip_address, row.user_agent, row.actor_label) == ("127.0.0.1", "pytest-agent/1.0", "token")
    upload = StorageOperation.objects.get(request_id="req-audit-0001")
    assert (upload.operation, upload.success, upload.size_bytes) == ("upload", True, video_path.stat().st_size)
    assert upload.duration_ms >= 0


def test_a_request_id_is_made_when_the_client_sends_none_or_a_bad_one(client):
    made = client.get("/accounts/login/")["X-Request-ID"]
    assert len(made) == 32
    assert client.get("/accounts/login/", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"] != "bad id"


def test_sign_ins_and_failed_sign_ins_are_audited(client):
    user = UserFactory()
    client.post("/accounts/login/", {"username": user.username, "password": "wrong"})
    client.post("/accounts/login/", {"username": user.username, "password": "correct-horse-battery"})

    failed = AuditLogEntry.objects.get(action="auth.sign_in_failed")
    assert failed.new_values == {"username": user.username}
    assert "wrong" not in str(failed.new_values)
    assert AuditLogEntry.objects.get(action="auth.sign_in").actor == user


def management_forms(page: str) -> dict[str, str]:
    """The inline formsets' management fields, as the change page renders them."""
    return dict(re.findall(r'name="([\w-]+-(?:TOTAL|INITIAL|MIN_NUM|MAX_NUM)_FORMS)"[^>]*value="(\d*)"', page))


def test_admin_changes_are_audited(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    video = VideoFactory(workflow_state="completed", title="before")
    client.force_login(staff)

    change_page = client.get(f"/admin/videos/video/{video.pk}/change/").content.decode()
    form = {"owner": video.owner_id, "title": "after", "source_url": "", "priority": "normal"}
    form |= management_forms(change_page)
    response = client.post(f"/admin/videos/video/{video.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[-1500:]
    row = AuditLogEntry.objects.get(action="admin.change", object_id=str(video.pk))
    assert row.actor == staff and row.new_values["title"] == "after"


def test_the_audit_api_is_for_staff_only_and_filters(api_client):
    staff = UserFactory(is_staff=True)
    client = APIClient()
    client.force_authenticate(staff)
    assert client.post("/api/v1/audit/").status_code == 405, "read-only"
    AuditLogEntry.objects.create(action="video.create", object_type="videos.Video", object_id="x1", reason="first")
    AuditLogEntry.objects.create(action="job.create", object_type="processing.ProcessingJob", object_id="x2")

    assert api_client.get("/api/v1/audit/").status_code == 403
    listing = client.get("/api/v1/audit/", {"action": "video.create"})
    assert listing.status_code == 200
    assert [row["object_id"] for row in listing.json()["results"]] == ["x1"]
    assert client.get("/api/v1/audit/", {"search": "first"}).json()["count"] == 1
    assert client.delete("/api/v1/audit/").status_code == 405


def test_audit_rows_cannot_be_changed_or_deleted_in_the_admin(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    entry = AuditLogEntry.objects.create(action="video.create", object_type="videos.Video", object_id="x")
    page = client.get(f"/admin/audit/auditlogentry/{entry.pk}/change/").content.decode()
    assert 'name="action"' not in page
    assert client.post(f"/admin/audit/auditlogentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditLogEntry.objects.filter(pk=entry.pk).exists()
