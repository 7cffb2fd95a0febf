"""Reads for the dashboard pages: the stored file a user may watch, the home page's figures and its library."""

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from videos.filters import video_filter
from videos.models import Video, WorkflowState, sees_every_video
from videos.selectors import video_stats


def video_file_for_user(*, user: AbstractBaseUser, video_id) -> Video:
    """The video whose stored file the user may watch (owner or staff, not deleted); Video.DoesNotExist else."""
    videos = Video.objects.live().visible_to(user).filter(pk=video_id)
    return videos.only(
        "id",
        "file",
        "mime_type",
        "owner_id",
        "size_bytes",
        "file_hash",
        "original_filename",
        "rendition",
        "poster",
        "thumbnails_sprite",
    ).get()


def dashboard_figures(*, user: AbstractBaseUser, everyone: bool = False) -> dict:
    """The home page's figures of the last 24 hours (the same numbers as GET /api/v1/stats/): the user's own
    videos, or everyone's when a staff member looks at all videos."""
    now = timezone.now()
    own_only = not (everyone and sees_every_video(user))
    return video_stats(user=user, created_from=now - timedelta(hours=24), created_to=now, own_only=own_only)


def dashboard_library(
    *, user: AbstractBaseUser, everyone: bool = False, filters: dict, include_archived: bool = False
) -> QuerySet[Video]:
    """The videos the library lists: the user's own, or every user's for staff asking for all.

    Archived videos stay out unless asked for, by the switch or by filtering on their state.
    """
    videos = Video.objects.live().select_related("owner")
    videos = videos.visible_to(user) if everyone and sees_every_video(user) else videos.filter(owner=user)
    if not include_archived and WorkflowState.ARCHIVED not in (filters.get("state") or ()):
        videos = videos.exclude(workflow_state=WorkflowState.ARCHIVED)
    return video_filter(videos, filters)


def user_has_videos(*, user: AbstractBaseUser) -> bool:
    """Whether the user ever kept a video here (archived ones count): a first visit shows the welcome."""
    return Video.objects.live().filter(owner=user).exists()
