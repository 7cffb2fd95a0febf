"""Reads for the dashboard pages: the stored file a user may watch, the home page's figures."""

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from videos.models import Video
from videos.selectors import video_stats


def video_file_for_user(*, user: AbstractBaseUser, video_id) -> Video:
    """The video whose stored file the user may watch (owner or staff, not deleted); Video.DoesNotExist else."""
    videos = Video.objects.live().visible_to(user).filter(pk=video_id)
    return videos.only(
        "id", "file", "mime_type", "owner_id", "size_bytes", "file_hash", "rendition", "poster", "thumbnails_sprite"
    ).get()


def dashboard_figures(*, user: AbstractBaseUser) -> dict:
    """The home page's figures of the last 24 hours (the same numbers as GET /api/v1/stats/)."""
    now = timezone.now()
    return video_stats(user=user, created_from=now - timedelta(hours=24), created_to=now)
