"""Reads of videos and their results, scoped to what a user may see."""

from datetime import datetime, tzinfo

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, QuerySet

from mediaplatform.sql import sql_column
from videos.models import Video, sees_every_video


def video_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Video]:
    """The user's own videos, newest first, without soft-deleted ones (staff too see only their own here)."""
    return Video.objects.live().filter(owner=user).order_by("-created_at")


def video_get_for_user(*, user: AbstractBaseUser, video_id) -> Video:
    """A video the user may see (their own; any for staff). Raises Video.DoesNotExist otherwise."""
    return Video.objects.live().visible_to(user).get(pk=video_id)


def visible_to_sql(*, user: AbstractBaseUser, alias: str) -> tuple[str | None, list]:
    """VideoQuerySet.visible_to for hand-written SQL: a condition on the video table named `alias` and its
    parameters, or (None, []) when the user sees every video."""
    if sees_every_video(user):
        return None, []
    return f"{alias}.{sql_column(Video, 'owner')} = %s", [user.pk]


def api_datetime(value: datetime | str | None, zone: tzinfo) -> str | None:
    """A timestamp as DRF's DateTimeField renders it: ISO 8601 in the current time zone, "Z" for UTC."""
    if not value:
        return None
    if isinstance(value, str):  # from a nested JSON row
        value = datetime.fromisoformat(value)
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def video_visibility(*, user: AbstractBaseUser, video_id) -> str | None:
    """ "live" or "deleted" for a video the user may see (deleted ones included); None otherwise.

    Another user's video reads as None, exactly like one that never existed.
    """
    row = Video.objects.visible_to(user).filter(pk=video_id).values_list("deleted_at", flat=True)
    if not row:
        return None
    return "deleted" if row[0] is not None else "live"


def user_can_watch_video(*, user: AbstractBaseUser, video_id) -> bool:
    """Whether the user may follow the live video: False alike for another user's video and for none."""
    return Video.objects.live().visible_to(user).filter(pk=video_id).exists()


def video_stats(*, user: AbstractBaseUser, created_from, created_to, own_only: bool = False) -> dict:
    """The dashboard figures over videos created in [from, to): own videos, all for staff unless `own_only`.

    Videos per state, average processing time and objects detected.
    """
    from django.db.models import Avg, Max, Q, Sum

    from videos.models import WorkflowState

    queryset = Video.objects.live().visible_to(user).filter(created_at__gte=created_from, created_at__lt=created_to)
    if own_only:
        queryset = queryset.filter(owner=user)
    per_state = {state: Count("id", filter=Q(workflow_state=state)) for state in WorkflowState.values}
    row = queryset.aggregate(
        total_videos=Count("id"),
        avg_processing_time=Avg("total_processing_seconds", filter=Q(total_processing_seconds__gt=0)),
        total_objects_detected=Sum("objects_detected_count"),
        last_updated=Max("updated_at"),
        **{f"state_{state}": expression for state, expression in per_state.items()},
    )
    return {
        "from": created_from,
        "to": created_to,
        "total_videos": row["total_videos"],
        "videos_per_state": {state: row[f"state_{state}"] for state in WorkflowState.values},
        "avg_processing_time_seconds": row["avg_processing_time"],
        "total_objects_detected": row["total_objects_detected"] or 0,
        "last_updated": row["last_updated"],
    }


# GET /api/media/history: the count and one page in one statement ------------------------------------------
#
# Built by hand rather than through the ORM: compiling the two querysets (count, and the page with its
# latest-completion subquery) cost more Python than the rest of the request. The filters are few and fixed, every
# value goes in as a parameter, and the column to sort by comes from a fixed map, never from the request.
