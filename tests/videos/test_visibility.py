"""Who may see a video: one rule (VideoQuerySet.visible_to), for videos, their jobs and hand-written SQL."""

import pytest
from django.db import connection
from django.utils import timezone

from processing.models import ProcessingJob
from tests.factories import ProcessingJobFactory, UserFactory, VideoFactory
from videos.models import Video
from videos.selectors import visible_to_sql

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    alice, bob, staff = UserFactory(), UserFactory(), UserFactory(is_staff=True)
    alices = VideoFactory(owner=alice)
    alices_deleted = VideoFactory(owner=alice, deleted_at=timezone.now())
    bobs = VideoFactory(owner=bob)
    jobs = {video.pk: ProcessingJobFactory(video=video) for video in (alices, alices_deleted, bobs)}
    return {
        "alice": alice,
        "bob": bob,
        "staff": staff,
        "alices": alices,
        "alices_deleted": alices_deleted,
        "bobs": bobs,
        "jobs": jobs,
    }


@pytest.mark.parametrize(
    ("who", "visible", "live"),
    [
        ("alice", {"alices", "alices_deleted"}, {"alices"}),
        ("bob", {"bobs"}, {"bobs"}),
        ("staff", {"alices", "alices_deleted", "bobs"}, {"alices", "bobs"}),
    ],
)
def test_staff_see_every_video_and_others_their_own_deleted_ones_kept_until_live_drops_them(world, who, visible, live):
    user = world[who]
    names = {name: world[name].pk for name in ("alices", "alices_deleted", "bobs")}
    seen = set(Video.objects.visible_to(user).values_list("pk", flat=True))
    seen_live = set(Video.objects.live().visible_to(user).values_list("pk", flat=True))
    assert seen == {names[name] for name in visible}
    assert seen_live == {names[name] for name in live}

    jobs_seen = set(ProcessingJob.objects.visible_to(user).values_list("video_id", flat=True))
    assert jobs_seen == seen, "a job is visible exactly when its video is"

    condition, params = visible_to_sql(user=user, alias="v")
    sql = f"SELECT v.id FROM {Video._meta.db_table} v" + (f" WHERE {condition}" if condition else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert {row[0] for row in cursor.fetchall()} == seen, "the SQL form says the same as the queryset"


def test_a_user_without_videos_sees_none(world):
    newcomer = UserFactory()
    assert not Video.objects.visible_to(newcomer).exists()
    assert not ProcessingJob.objects.visible_to(newcomer).exists()
