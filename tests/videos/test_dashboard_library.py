"""The dashboard's library: whose videos, sorting, pages, archived ones, the welcome; rename and bulk actions in
the API; the staff member's own-videos socket; the admin's lists and the periodic task form."""

import json
import re
import uuid

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from audit.models import AuditLogEntry
from mediaplatform.asgi import application
from notifications.groups import ALL_VIDEOS_GROUP, user_group
from processing.models import JobStatus
from tests.event_loops import run_in_own_loop
from tests.factories import ProcessingJobFactory, TokenFactory, UserFactory, VideoFactory
from tests.notifications.helpers import token_protocols
from videos.models import Video

pytestmark = pytest.mark.django_db


def row_ids(response) -> list[str]:
    return re.findall(r'<tr data-video-id="([0-9a-f-]+)"', response.content.decode())


# ---- The page ------------------------------------------------------------------------------------------------


def test_your_videos_are_yours_even_for_staff_and_all_videos_names_the_owners(client):
    staff = UserFactory(is_staff=True, username="reviewer")
    mine = VideoFactory(owner=staff, workflow_state="completed", objects_detected_count=3)
    theirs = VideoFactory(
        owner=UserFactory(username="someone-else"), workflow_state="completed", objects_detected_count=40
    )
    client.force_login(staff)

    own = client.get("/")
    assert row_ids(own) == [str(mine.pk)]
    assert own.context["stats"]["total_videos"] == 1 and own.context["stats"]["total_objects_detected"] == 3
    page = own.content.decode()
    assert "Last 24 hours · your videos" in page and 'data-scope="own"' in page
    assert 'aria-current="page">Your videos' in page and "?view=all" in page

    everyone = client.get("/", {"view": "all"})
    assert set(row_ids(everyone)) == {str(mine.pk), str(theirs.pk)}
    assert everyone.context["stats"]["total_videos"] == 2 and everyone.context["stats"]["total_objects_detected"] == 43
    page = everyone.content.decode()
    assert "Last 24 hours · everyone's videos" in page
    assert '<td class="owner" data-label="Owner">someone-else</td>' in page


def test_a_user_who_is_not_staff_cannot_ask_for_all_videos(client):
    user = UserFactory()
    VideoFactory(owner=user)
    VideoFactory()
    client.force_login(user)
    response = client.get("/", {"view": "all"})
    assert len(row_ids(response)) == 1
    assert "All videos" not in response.content.decode()


def test_columns_sort_both_ways_and_say_so(client):
    user = UserFactory()
    for title in ["bravo", "alpha", "charlie"]:
        VideoFactory(owner=user, title=title)
    client.force_login(user)
    ascending = client.get("/", {"ordering": "title"})
    assert [Video.objects.get(pk=i).title for i in row_ids(ascending)] == ["alpha", "bravo", "charlie"]
    page = ascending.content.decode()
    assert re.search(r'class="col-title" aria-sort="ascending">\s*<a class="sort" href="\?ordering=-title"', page)
    descending = client.get("/", {"ordering": "-title"})
    assert [Video.objects.get(pk=i).title for i in row_ids(descending)] == ["charlie", "bravo", "alpha"]
    assert client.get("/", {"ordering": "duration"}).status_code == 200


def test_the_list_has_pages_instead_of_stopping_at_a_hundred(client):
    user = UserFactory()
    VideoFactory.create_batch(105, owner=user)
    client.force_login(user)
    first = client.get("/")
    assert len(row_ids(first)) == 25
    assert "1–25 of 105 videos · page 1 of 5" in first.content.decode()
    last = client.get("/", {"page": "5"})
    assert len(row_ids(last)) == 5
    seen = set()
    for number in range(1, 6):
        seen.update(row_ids(client.get("/", {"page": str(number)})))
    assert len(seen) == 105
    assert row_ids(client.get("/", {"page": "nonsense"})) == row_ids(first)  # a bad page number: the first


def test_archived_videos_are_hidden_unless_asked_for(client):
    user = UserFactory()
    shown = VideoFactory(owner=user, workflow_state="completed")
    archived = VideoFactory(owner=user, workflow_state="archived")
    client.force_login(user)
    assert row_ids(client.get("/")) == [str(shown.pk)]
    assert set(row_ids(client.get("/", {"archived": "1"}))) == {str(shown.pk), str(archived.pk)}
    assert row_ids(client.get("/", {"state": "archived"})) == [str(archived.pk)]


def test_a_first_visit_gets_the_welcome_instead_of_zero_figures(client):
    user = UserFactory(username="newcomer")
    client.force_login(user)
    page = client.get("/").content.decode()
    assert 'id="welcome"' in page and "python manage.py load_sample_video --owner newcomer" in page
    assert 'id="figures" hidden' in page
    VideoFactory(owner=user)
    page = client.get("/").content.decode()
    assert 'id="welcome"' not in page and 'id="figures" hidden' not in page


def test_rows_read_for_people(client):
    user = UserFactory()
    cancelled = VideoFactory(
        owner=user,
        workflow_state="failed",
        last_error_message="cancelled",
        objects_detected_count=1,
        cancelled_at="2026-01-01T00:00:00Z",
    )
    failed = VideoFactory(owner=user, workflow_state="failed", last_error_message="decoder gave up")
    running = VideoFactory(owner=user, workflow_state="processing", current_stage="ground_truth", duration_seconds=75.4)
    done = VideoFactory(
        owner=user, workflow_state="completed", frames_per_second_processed=31.64, duration_seconds=3725
    )
    client.force_login(user)
    page = client.get("/").content.decode()

    def row(video) -> str:
        return re.search(rf'<tr data-video-id="{video.pk}".*?</tr>', page, re.S).group(0)

    assert '<span class="badge state-cancelled">cancelled</span>' in row(cancelled)
    assert "Kept 1 object found before the cancel" in row(cancelled) and "state-failed" not in row(cancelled)
    assert "decoder gave up" in row(failed) and '<span class="badge state-failed">failed</span>' in row(failed)
    assert '<span class="stage">Ground truth</span>' in row(running)
    assert '<td class="speed" data-label="Frames/s">measuring…</td>' in row(running)
    assert '<td class="duration" data-label="Duration">1:15</td>' in row(running)
    assert '<td class="speed" data-label="Frames/s">31.6</td>' in row(done)
    assert '<td class="duration" data-label="Duration">1:02:05</td>' in row(done)
    assert '<span class="poster-placeholder" aria-hidden="true"></span>' in row(done)


def test_the_sign_in_page_keeps_the_username_after_a_refusal(client):
    user = UserFactory(username="casey")
    page = client.post("/accounts/login/", {"username": user.username, "password": "wrong"}).content.decode()
    assert "did not match" in page
    assert re.search(r'id="id_username"[^>]*value="casey"', page)
    assert re.search(r'id="id_password"[^>]*autofocus', page)


# ---- Rename and bulk actions in the API ------------------------------------------------------------------------


def test_rename_changes_the_title_with_an_audit_row(api_client):
    video = VideoFactory(owner=api_client.user, title="old name")
    response = api_client.patch(f"/api/v1/videos/{video.pk}/", {"title": "  Harbour at dawn "}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Harbour at dawn"
    video.refresh_from_db()
    assert video.title == "Harbour at dawn"
    entry = AuditLogEntry.objects.get(action="video.rename", object_id=str(video.pk))
    assert entry.old_values == {"title": "old name"} and entry.new_values == {"title": "Harbour at dawn"}


def test_rename_refusals(api_client):
    video = VideoFactory(owner=api_client.user)
    too_long = api_client.patch(f"/api/v1/videos/{video.pk}/", {"title": "x" * 256}, format="json")
    assert too_long.status_code == 400 and "title" in too_long.json()["error"]["details"]
    missing = api_client.patch(f"/api/v1/videos/{video.pk}/", {}, format="json")
    assert missing.status_code == 400
    other = VideoFactory()
    assert api_client.patch(f"/api/v1/videos/{other.pk}/", {"title": "mine now"}, format="json").status_code == 404
    deleted = VideoFactory(owner=api_client.user, deleted_at="2026-01-01T00:00:00Z")
    gone = api_client.patch(f"/api/v1/videos/{deleted.pk}/", {"title": "back"}, format="json")
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "gone"


def test_bulk_archive_answers_per_video_and_one_refusal_leaves_the_others_done(api_client):
    owner = api_client.user
    done = VideoFactory(owner=owner, workflow_state="completed")
    failed = VideoFactory(owner=owner, workflow_state="failed")
    running = VideoFactory(owner=owner, workflow_state="processing")
    deleted = VideoFactory(owner=owner, workflow_state="completed", deleted_at="2026-01-01T00:00:00Z")
    someone_elses = VideoFactory(workflow_state="completed")
    unknown = uuid.uuid4()
    ids = [done.pk, running.pk, failed.pk, deleted.pk, someone_elses.pk, unknown, done.pk]
    response = api_client.post(
        "/api/v1/videos/bulk/", {"action": "archive", "ids": [str(i) for i in ids]}, format="json"
    )
    assert response.status_code == 200, response.content
    results = {row["id"]: row for row in response.json()["results"]}
    assert len(response.json()["results"]) == 6  # the repeated id once
    assert results[str(done.pk)]["ok"] and results[str(failed.pk)]["ok"]
    assert (results[str(running.pk)]["status"], results[str(running.pk)]["code"]) == (409, "invalid_transition")
    assert results[str(deleted.pk)]["status"] == 410
    assert results[str(someone_elses.pk)]["status"] == results[str(unknown)]["status"] == 404
    states = dict(Video.objects.filter(pk__in=ids).values_list("pk", "workflow_state"))
    assert states[done.pk] == states[failed.pk] == "archived"
    assert states[running.pk] == "processing" and states[someone_elses.pk] == "completed"


def test_bulk_retry_and_delete(api_client):
    owner = api_client.user
    failed = ProcessingJobFactory(video__owner=owner, video__workflow_state="failed", status=JobStatus.FAILED).video
    completed = VideoFactory(owner=owner, workflow_state="completed")
    retried = api_client.post(
        "/api/v1/videos/bulk/", {"action": "retry", "ids": [str(failed.pk), str(completed.pk)]}, format="json"
    ).json()["results"]
    assert [(row["ok"], row["status"]) for row in retried] == [(True, 202), (False, 409)]
    deleted = api_client.post("/api/v1/videos/bulk/", {"action": "delete", "ids": [str(completed.pk)]}, format="json")
    assert deleted.json()["results"][0]["status"] == 204
    again = api_client.post("/api/v1/videos/bulk/", {"action": "delete", "ids": [str(completed.pk)]}, format="json")
    assert again.json()["results"][0]["status"] == 410
    assert AuditLogEntry.objects.filter(action="video.delete", object_id=str(completed.pk)).count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"action": "explode", "ids": [str(uuid.uuid4())]},
        {"action": "archive", "ids": []},
        {"action": "archive", "ids": ["not-a-uuid"]},
        {"action": "archive", "ids": [str(uuid.uuid4()) for _ in range(101)]},
        {"action": "archive"},
    ],
)
def test_bulk_refuses_a_bad_request_whole(api_client, body):
    response = api_client.post("/api/v1/videos/bulk/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_staff_figures_are_their_own_when_asked(client):
    staff = UserFactory(is_staff=True)
    VideoFactory(owner=staff)
    VideoFactory()
    client.force_login(staff)
    assert client.get("/api/v1/stats/").json()["total_videos"] == 2
    assert client.get("/api/v1/stats/", {"scope": "own"}).json()["total_videos"] == 1
    assert client.get("/api/v1/stats/", {"scope": "nonsense"}).status_code == 400


# ---- The staff member's own-videos socket ----------------------------------------------------------------------


async def first_event(path: str, protocols: list[str], user_id: int) -> dict:
    """One event to every video's group, then one to the user's: the first the socket gets tells its group."""
    communicator = WebsocketCommunicator(application, path, subprotocols=protocols)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    try:
        assert json.loads((await communicator.receive_output(timeout=10))["text"])["event_type"] == "subscribed"
        layer = get_channel_layer()
        await layer.group_send(ALL_VIDEOS_GROUP, {"type": "video.event", "event": {"to": "everyone"}})
        await layer.group_send(user_group(user_id), {"type": "video.event", "event": {"to": "own"}})
        return json.loads((await communicator.receive_output(timeout=10))["text"])
    finally:
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
def test_a_staff_socket_with_scope_own_carries_only_their_videos():
    token = TokenFactory(user__is_staff=True)
    protocols = token_protocols(token)
    assert run_in_own_loop(first_event("/ws/videos/?scope=own", protocols, token.user.pk)) == {"to": "own"}
    assert run_in_own_loop(first_event("/ws/videos/", protocols, token.user.pk)) == {"to": "everyone"}


# ---- Admin -----------------------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_video_list_shows_badges_progress_and_the_error_reason(staff_client):
    VideoFactory(title="Quay", workflow_state="processing", progress_percentage="1.33")
    VideoFactory(title="Broken", workflow_state="failed", last_error_message="decoder gave up on frame 12")
    VideoFactory(
        title="Stopped", workflow_state="failed", last_error_message="cancelled", cancelled_at="2026-01-01T00:00:00Z"
    )
    page = staff_client.get("/admin/videos/video/").content.decode()
    assert '<span class="admin-badge admin-state-processing">Processing</span>' in page
    assert '<span class="admin-badge admin-state-cancelled">Cancelled</span>' in page
    assert '<progress max="100" value="1.33" aria-label="Progress">1%</progress> 1%' in page
    assert "decoder gave up on frame 12" in page
    assert "column-error_reason" in page and "css/admin_video.css" in page and "column-added" in page


def test_admin_periodic_task_form_lists_the_registered_tasks_without_inline_script(staff_client):
    page = staff_client.get("/admin/django_celery_beat/periodictask/add/").content.decode()
    assert '<option value="processing.tasks.process_video">' in page
    assert '<option value="processing.tasks.retention_cleanup">' in page
    for script in re.findall(r"<script\b[^>]*>", page):
        assert "src=" in script or 'type="application/json"' in script, script


def test_admin_periodic_task_change_page_selects_its_registered_task(staff_client):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(
        name="requeue check", task="processing.tasks.requeue_stuck_jobs", interval=every_minute
    )
    page = staff_client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/").content.decode()
    assert '<option value="processing.tasks.requeue_stuck_jobs" selected>' in page
