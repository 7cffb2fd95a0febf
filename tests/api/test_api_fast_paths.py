"""The API's hot reads (video detail, history) and API-key authentication: lean paths, same contract.

The detail and history bodies are built straight from one query each; these tests hold them to the serializers
that document them (field for field, value for value), to a query budget, and the API-key cache to its
revocation bound.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import QueryDict
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from accounts import authentication
from accounts.models import ApiKey
from accounts.services.api_keys import api_key_create
from processing.media_api import HistoryQuerySerializer, history_query
from processing.models import JobStage, ProcessingErrorLog, ProcessingJob
from processing.selectors import HISTORY_PAGE_COLUMNS, analysis_history_page, video_detail_for_user
from processing.selectors import video_with_runs_for_user as video_get_for_user
from processing.serializers import VideoDetailSerializer
from tests.factories import ProcessingJobFactory, TokenFactory, UserFactory, VideoFactory
from videos.models import MediaAnalysisRequest, Video, VideoStateTransition
from videos.services.media_analysis import STATES_FOR_STATUS

pytestmark = pytest.mark.django_db

VIDEOS = "/api/v1/videos/"
HISTORY = "/api/media/history"


@pytest.fixture(autouse=True)
def fresh_key_cache():
    authentication.forget_all()
    yield
    authentication.forget_all()


def serializer_body(user, video) -> dict:
    """What VideoDetailSerializer (the documented schema) renders for the video, as a client decodes it."""
    data = VideoDetailSerializer(video_get_for_user(user=user, video_id=video.pk)).data
    return json.loads(JSONRenderer().render(data))


def video_with_everything(owner) -> Video:
    """A video whose detail exercises every kind of value: nulls, decimals, floats, whole-second timestamps."""
    video = VideoFactory(
        owner=owner,
        workflow_state="failed",
        progress_percentage=Decimal("12.5"),
        size_bytes=3_000_000_000,
        duration_seconds=12.345678901234,
        fps=29.97,
        width=1280,
        height=720,
        has_audio=None,
        total_processing_seconds=0.1,
        frames_per_second_processed=1e-07,
        last_error_message="decoder failed",
        source_url="https://example.com/a.mp4",
    )
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # no microseconds: ISO text without a fraction
    older = ProcessingJobFactory(video=video, status="completed", finished_at=started)
    job = ProcessingJobFactory(
        video=video,
        status="failed",
        end_frame=None,
        max_fps=7.5,
        track=True,
        progress_percentage=Decimal("99.99"),
        frames_per_second=31.25,
        estimated_completion_at=timezone.now(),
        peak_memory_mb=1018.4,
        cpu_percent=None,
        reused_from=older,
        started_at=started,
        last_error_message="boom",
    )
    JobStage.objects.create(
        job=job,
        stage="upload",
        status="completed",
        progress_percentage=100,
        started_at=started,
        finished_at=started + timedelta(seconds=1, microseconds=250_000),
    )
    JobStage.objects.create(job=job, stage="inference", status="running", progress_percentage=Decimal("40.1"))
    for source, target in [("uploaded", "validating"), ("validating", "processing"), ("processing", "failed")]:
        VideoStateTransition.objects.create(
            video=video, from_state=source, to_state=target, transition="t", reason=f"to {target}"
        )
    for index in range(7):  # more than the five shown
        ProcessingErrorLog.objects.create(
            video=video,
            job=job if index % 2 else None,
            stage="inference",
            error_type="timeout",
            error_code=f"E{index}",
            message=f"failure {index}",
            recovery_strategy="retry",
        )
    return video


def test_detail_body_equals_the_serializer_field_for_field(api_client):
    video = video_with_everything(api_client.user)
    body = api_client.get(f"{VIDEOS}{video.pk}/").json()
    expected = serializer_body(api_client.user, video)
    assert body == expected
    assert list(body) == list(expected)  # same field order too
    assert list(body["latest_job"]) == list(expected["latest_job"])
    assert len(body["latest_errors"]) == 5 and len(body["timeline"]) == 3
    assert body["latest_job"]["started_at"] == "2026-01-02T03:04:05Z"
    assert body["latest_job"]["stages"][0]["duration_seconds"] == 1.25
    assert body["progress_percentage"] == "12.50"


def test_detail_of_a_fresh_video_equals_the_serializer(api_client):
    video = VideoFactory(owner=api_client.user)
    body = api_client.get(f"{VIDEOS}{video.pk}/").json()
    assert body == serializer_body(api_client.user, video)
    assert body["latest_job"] is None and body["timeline"] == [] and body["latest_errors"] == []


def fast_body(user, video) -> dict:
    """What the one-statement fast path answers for the video, as a client decodes it."""
    return json.loads(JSONRenderer().render(video_detail_for_user(user=user, video_id=video.pk)))


def every_key_path(value, prefix="") -> set[str]:
    """Every key of a decoded body, nested ones as dotted paths (list items share their list's path)."""
    paths = set()
    if isinstance(value, dict):
        for key, item in value.items():
            paths.add(f"{prefix}{key}")
            paths |= every_key_path(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for item in value:
            paths |= every_key_path(item, prefix)
    return paths


def video_in_state(owner, state: str) -> Video:
    """A video in a workflow state, as the pipeline leaves it: runs, stages, timeline and errors to match."""
    started = datetime(2026, 5, 6, 7, 8, 9, 123_456, tzinfo=UTC)
    if state == "fresh":
        return VideoFactory(owner=owner, workflow_state="uploaded")
    if state == "cancelled":
        video = VideoFactory(owner=owner, workflow_state="failed", cancelled_at=started, last_error_message="stop")
        job = ProcessingJobFactory(video=video, status="cancelled", started_at=started, finished_at=started)
    elif state == "imported_reference_newest":
        video = VideoFactory(owner=owner, workflow_state="completed", objects_detected_count=4)
        job = ProcessingJobFactory(video=video, status="completed", started_at=started, finished_at=started)
        ProcessingJobFactory(video=video, origin="import", status="completed", is_ground_truth=True)
    else:
        video = VideoFactory(owner=owner, workflow_state=state, progress_percentage=Decimal("33.33"))
        job_status = {"processing": "running", "completed": "completed", "failed": "failed", "archived": "completed"}
        job = ProcessingJobFactory(
            video=video,
            status=job_status[state],
            started_at=started,
            heartbeat_at=started,
            finished_at=None if state == "processing" else started + timedelta(seconds=3),
        )
    JobStage.objects.create(job=job, stage="inference", status="completed", started_at=started, finished_at=started)
    VideoStateTransition.objects.create(
        video=video, from_state="uploaded", to_state=video.workflow_state, transition="t"
    )
    ProcessingErrorLog.objects.create(video=video, job=job, stage="inference", error_type="timeout", message="m")
    return video


DETAIL_STATES = ["fresh", "processing", "completed", "failed", "cancelled", "archived", "imported_reference_newest"]


@pytest.mark.parametrize("state", DETAIL_STATES)
def test_the_fast_path_and_the_serializer_agree_on_every_field(api_client, state):
    """Any field the serializer (the documented schema) has and the SQL lacks, or renders otherwise, fails here."""
    video = video_in_state(api_client.user, state)
    expected = serializer_body(api_client.user, video)
    body = fast_body(api_client.user, video)
    assert every_key_path(body) == every_key_path(expected)
    for key in expected:
        assert body[key] == expected[key], key
    assert api_client.get(f"{VIDEOS}{video.pk}/").json() == expected


def test_the_fast_path_covers_every_field_the_serializers_declare(api_client):
    """Checked against the serializers' declared fields, so a field added to them needs the SQL to follow."""
    from processing.serializers import JobSummarySerializer, VideoErrorSummarySerializer
    from videos.serializers import StateTransitionSerializer

    body = fast_body(api_client.user, video_with_everything(api_client.user))
    assert list(body) == list(VideoDetailSerializer().fields)
    assert list(body["latest_job"]) == list(JobSummarySerializer().fields)
    assert list(body["timeline"][0]) == list(StateTransitionSerializer().fields)
    assert list(body["latest_errors"][0]) == list(VideoErrorSummarySerializer().fields)


def test_detail_visibility_staff_others_and_deleted(api_client):
    staff = APIClient()
    staff.credentials(HTTP_AUTHORIZATION=f"Token {TokenFactory(user=UserFactory(is_staff=True)).key}")
    mine, theirs = VideoFactory(owner=api_client.user), VideoFactory()
    assert api_client.get(f"{VIDEOS}{theirs.pk}/").status_code == 404
    assert api_client.get(f"{VIDEOS}{uuid.uuid4()}/").status_code == 404
    assert staff.get(f"{VIDEOS}{theirs.pk}/").json()["id"] == str(theirs.pk)
    Video.objects.filter(pk=mine.pk).update(deleted_at=timezone.now())
    assert api_client.get(f"{VIDEOS}{mine.pk}/").status_code == 410


def test_detail_after_a_state_change_is_current(api_client):
    """Nothing is cached: the next read after a transition shows it."""
    from videos.services.transitions import video_transition

    video = VideoFactory(owner=api_client.user, workflow_state="uploaded")
    assert api_client.get(f"{VIDEOS}{video.pk}/").json()["state"] == "uploaded"
    video_transition(video_id=video.pk, transition_name="start_validation", actor=api_client.user)
    body = api_client.get(f"{VIDEOS}{video.pk}/").json()
    assert body["state"] == "validating" and body["timeline"][-1]["to_state"] == "validating"


def test_detail_query_budget(key_client, django_assert_max_num_queries):
    video = video_with_everything(key_client.user)
    with django_assert_max_num_queries(3):  # key look-up, last_used_at write, the detail
        assert key_client.get(f"{VIDEOS}{video.pk}/").status_code == 200
    with django_assert_max_num_queries(1):  # the key is remembered: the detail alone
        assert key_client.get(f"{VIDEOS}{video.pk}/").status_code == 200


def test_history_query_budget(key_client, django_assert_max_num_queries):
    VideoFactory.create_batch(5, owner=key_client.user, workflow_state="completed")
    key_client.get(HISTORY)
    with django_assert_max_num_queries(1):  # count and page together
        body = key_client.get(HISTORY, {"status": "completed", "per_page": 2, "page": 2}).json()
    assert body["pagination"] == {"page": 2, "per_page": 2, "total": 5, "total_pages": 3}
    with django_assert_max_num_queries(0):  # audio is refused when requested: none is ever stored
        assert key_client.get(HISTORY, {"media_type": "audio"}).json()["pagination"]["total"] == 0


def test_history_rows_prompt_completion_deleted_and_past_the_end(api_client):
    owner = api_client.user
    done = VideoFactory(owner=owner, workflow_state="completed")
    MediaAnalysisRequest.objects.create(video=done, prompt="what moves?", requested_media_type="video")
    finished = datetime(2026, 3, 4, 5, 6, 7, 891_000, tzinfo=UTC)
    ProcessingJobFactory(video=done, status="completed", finished_at=finished - timedelta(hours=1))
    ProcessingJobFactory(video=done, status="completed", finished_at=finished)
    ProcessingJobFactory(video=done, status="failed", finished_at=finished + timedelta(hours=1))
    running = VideoFactory(owner=owner, workflow_state="processing")
    ProcessingJobFactory(video=running, status="completed", finished_at=finished)  # an earlier run
    gone = VideoFactory(owner=owner, workflow_state="completed")
    Video.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())

    rows = {row["analysis_id"]: row for row in api_client.get(HISTORY).json()["data"]}
    assert rows[str(done.pk)] == {
        "analysis_id": str(done.pk),
        "status": "completed",
        "media_type": "video",
        "prompt": "what moves?",
        "created_at": done.created_at.isoformat().replace("+00:00", "Z"),
        "completed_at": "2026-03-04T05:06:07.891000Z",
    }
    assert rows[str(running.pk)]["completed_at"] is None and rows[str(running.pk)]["prompt"] == ""
    assert str(gone.pk) not in rows
    deleted = api_client.get(HISTORY, {"status": "deleted"}).json()
    assert [row["analysis_id"] for row in deleted["data"]] == [str(gone.pk)]
    assert deleted["data"][0]["status"] == "deleted"
    past = api_client.get(HISTORY, {"page": 9}).json()
    assert past == {"data": [], "pagination": {"page": 9, "per_page": 20, "total": 2, "total_pages": 1}}


def test_history_sorts_by_status_and_updated_at_with_id_as_tie_break(api_client):
    states = ("failed", "completed", "uploaded")
    videos = [VideoFactory(owner=api_client.user, workflow_state=state) for state in states]
    by_state = api_client.get(HISTORY, {"sort_by": "status", "order": "asc"}).json()["data"]
    assert [row["status"] for row in by_state] == ["completed", "failed", "pending"]
    by_update = api_client.get(HISTORY, {"sort_by": "updated_at", "order": "desc"}).json()["data"]
    assert [row["analysis_id"] for row in by_update] == [str(v.pk) for v in reversed(videos)]


def test_staff_history_lists_everyones(api_client):
    VideoFactory(owner=api_client.user)
    VideoFactory()
    staff = APIClient()
    staff.credentials(HTTP_AUTHORIZATION=f"Token {TokenFactory(user=UserFactory(is_staff=True)).key}")
    assert staff.get(HISTORY).json()["pagination"]["total"] == 2
    assert api_client.get(HISTORY).json()["pagination"]["total"] == 1


def history_page_by_orm(
    user,
    *,
    status=None,
    media_type=None,
    date_from=None,
    date_to=None,
    sort_by="created_at",
    descending=True,
    offset=0,
    limit=20,
) -> tuple[int, list[dict]]:
    """What analysis_history_page answers, said with the ORM: the yardstick for the hand-written statement."""
    videos = Video.objects.visible_to(user)
    if status == "deleted":
        videos = videos.filter(deleted_at__isnull=False)
    else:
        videos = videos.live()
        if status:
            videos = videos.filter(workflow_state__in=[str(state) for state in STATES_FOR_STATUS[status]])
    requested_type = Coalesce(
        Subquery(MediaAnalysisRequest.objects.filter(video=OuterRef("pk")).values("requested_media_type")[:1]),
        Value("video"),
    )
    videos = videos.annotate(media_type=requested_type)
    if media_type:
        videos = videos.filter(media_type=media_type)
    if date_from:
        videos = videos.filter(created_at__gte=date_from)
    if date_to:
        videos = videos.filter(created_at__lte=date_to)
    completed_at = (
        ProcessingJob.objects.filter(video=OuterRef("pk"), status="completed")
        .order_by(F("finished_at").desc(nulls_last=True))
        .values("finished_at")[:1]
    )
    prompt = MediaAnalysisRequest.objects.filter(video=OuterRef("pk")).values("prompt")[:1]
    sign = "-" if descending else ""
    page = (
        videos.annotate(prompt=Subquery(prompt), completed_at=Subquery(completed_at))
        .order_by(f"{sign}{sort_by}", f"{sign}id")
        .values(*HISTORY_PAGE_COLUMNS)[offset : offset + limit]
    )
    return videos.count(), list(page)


@pytest.fixture
def history_world(api_client):
    owner, other = api_client.user, UserFactory()
    finished = datetime(2026, 3, 4, 5, 6, 7, 891_000, tzinfo=UTC)
    for index, state in enumerate(["completed", "failed", "processing", "uploaded", "archived", "completed"] * 3):
        video = VideoFactory(owner=owner if index % 4 else other, workflow_state=state)
        if index % 3 == 0:
            MediaAnalysisRequest.objects.create(
                video=video, prompt=f"prompt {index}", requested_media_type="image" if index % 2 else "video"
            )
        if state in ("completed", "archived"):
            ProcessingJobFactory(video=video, status="completed", finished_at=finished + timedelta(minutes=index))
            ProcessingJobFactory(video=video, status="completed", finished_at=None)
        if index % 5 == 0:
            Video.objects.filter(pk=video.pk).update(deleted_at=timezone.now())
    return {"owner": owner, "staff": UserFactory(is_staff=True)}


@pytest.mark.parametrize("who", ["owner", "staff"])
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"status": "completed"},
        {"status": "deleted"},
        {"status": "pending", "descending": False},
        {"sort_by": "workflow_state", "descending": False, "limit": 4, "offset": 2},
        {"sort_by": "updated_at", "offset": 3, "limit": 5},
        {"date_from": datetime(2000, 1, 1, tzinfo=UTC), "date_to": datetime(2100, 1, 1, tzinfo=UTC)},
        {"offset": 500},
        {"media_type": "video"},
        {"media_type": "image", "status": "completed"},
        {"media_type": "audio"},
    ],
)
def test_history_rows_equal_the_orm_built_equivalent(history_world, who, filters):
    user = history_world[who]
    assert analysis_history_page(user=user, **filters) == history_page_by_orm(user, **filters)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "page=2&per_page=50",
        "status=completed&per_page=20&page=3",
        "status=deleted&media_type=video&sort_by=updated_at&order=asc",
        "page=0007&per_page=100",
        "page=1&page=3",  # the last value counts, as for the serializer
        "date_from=2026-01-01T00:00:00Z&status=failed",
        "date_to=2026-01-01",
        "unrelated=1&sort_by=status",
        "per_page=&status=",  # blank optional values read as absent
    ],
)
def test_history_parameters_read_exactly_like_the_serializer(query):
    params = QueryDict(query)
    serializer = HistoryQuerySerializer(data=params)
    assert serializer.is_valid(), serializer.errors
    assert history_query(params) == dict(serializer.validated_data)


@pytest.mark.parametrize(
    "query",
    ["page=0", "page=-1", "per_page=101", "page=1.5", "status=lost", "order=up", "page=²", "sort_by=id"],
)
def test_bad_history_parameters_answer_the_serializers_422(api_client, query):
    response = api_client.get(f"{HISTORY}?{query}")
    assert response.status_code == 422
    serializer = HistoryQuerySerializer(data=QueryDict(query))
    assert not serializer.is_valid()
    assert response.json()["error"]["details"] == json.loads(JSONRenderer().render(serializer.errors))


# API-key authentication cache ------------------------------------------------------------------------------


def key_client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def clock(monkeypatch):
    """The authentication cache's clock, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(authentication, "clock", lambda: now[0])
    return now


def test_a_remembered_key_costs_no_query(key_client, django_assert_num_queries):
    key_client.get(HISTORY)
    with django_assert_num_queries(1):  # the page; no key look-up
        assert key_client.get(HISTORY).status_code == 200


def test_revoking_through_the_api_takes_effect_at_once(api_client, user):
    row, key = api_key_create(user=user, name="soon revoked")
    client = key_client_for(key)
    assert client.get(HISTORY).status_code == 200  # now remembered
    assert api_client.delete(f"/api/v1/api-keys/{row.pk}/").status_code == 204
    response = client.get(HISTORY)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "The API key is revoked or expired."


def test_revocation_another_process_made_takes_effect_within_the_bound(user, clock, settings):
    """A revocation this process did not see (another server process, SQL): refused once the bound is up."""
    settings.API_KEY_AUTH_CACHE_SECONDS = 5
    row, key = api_key_create(user=user, name="revoked elsewhere")
    client = key_client_for(key)
    assert client.get(HISTORY).status_code == 200
    ApiKey.objects.filter(pk=row.pk).update(revoked_at=timezone.now())  # no signal, like another process
    clock[0] += 4.9
    assert client.get(HISTORY).status_code == 200  # still remembered: the documented staleness
    clock[0] += 0.1
    assert client.get(HISTORY).status_code == 401  # 5 s after it was read: asked again, refused
    clock[0] += 60
    assert client.get(HISTORY).status_code == 401  # refusals are never remembered


def test_deactivating_the_user_or_deleting_the_key_takes_effect_at_once(user):
    _row, key = api_key_create(user=user, name="k")
    client = key_client_for(key)
    assert client.get(HISTORY).status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert client.get(HISTORY).status_code == 401
    user.is_active = True
    user.save(update_fields=["is_active"])
    assert client.get(HISTORY).status_code == 200
    ApiKey.objects.get(key_hash=authentication.api_key_hash(key)).delete()
    assert client.get(HISTORY).status_code == 401


def test_expiry_is_exact_even_while_remembered(user, monkeypatch):
    expires = timezone.now() + timedelta(minutes=10)
    _row, key = api_key_create(user=user, name="short", expires_at=expires)
    client = key_client_for(key)
    assert client.get(HISTORY).status_code == 200
    later = expires + timedelta(microseconds=1)
    monkeypatch.setattr("django.utils.timezone.now", lambda: later)
    assert client.get(HISTORY).status_code == 401


def test_the_cache_can_be_turned_off(key_client, settings, django_assert_num_queries):
    settings.API_KEY_AUTH_CACHE_SECONDS = 0
    key_client.get(HISTORY)
    with django_assert_num_queries(2):  # key look-up and the page
        assert key_client.get(HISTORY).status_code == 200


def test_each_request_gets_its_own_user_instance(user):
    _row, key = api_key_create(user=user, name="k")
    request_users = []
    auth = authentication.ApiKeyAuthentication()

    for _ in range(2):
        request = RequestFactory().get(HISTORY, HTTP_AUTHORIZATION=f"Api-Key {key}")
        authenticated, api_key = auth.authenticate(request)
        request_users.append(authenticated)
        assert authenticated.pk == user.pk and api_key.user is authenticated
    assert request_users[0] is not request_users[1]
