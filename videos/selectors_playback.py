"""What a player needs to show a video: which file to load, its poster and its seek-bar thumbnails.

The same fields come out of a Video and out of the raw columns the API's one-query detail reads, so both paths
give one shape (`playback_fields`).
"""

import json
import mimetypes
from pathlib import PurePosixPath

from django.urls import reverse

from videos import media_store
from videos.media_signing import signed_media_url
from videos.models import PlaybackKind, Video

# The columns `playback_fields_from_columns` reads, for hand-written SQL.
PLAYBACK_COLUMNS = (
    "file",
    "playback_kind",
    "playback_reason",
    "playback_time_offset",
    "rendition",
    "rendition_rotation",
    "poster",
    "thumbnails_sprite",
    "thumbnails_index",
)
WAITING_REASON = "The video has not been checked for playback yet; the original is offered meanwhile."


def derived_file_url(video_id, name: str) -> str | None:
    """The permission-checked URL of one of the video's derived files (the name changes with the content)."""
    if not name:
        return None
    return reverse("video-derived-file", args=[video_id, PurePosixPath(name).name])


def player_url(name: str) -> str | None:
    """What a player loads: a short-lived signed URL served without asking Django again. From the object store,
    the object's presigned URL (the store answers the ranges); from the filesystem, one that nginx checks and
    serves by itself (videos.media_signing)."""
    if not name:
        return None
    content_type = mimetypes.guess_type(name)[0] or ""
    return media_store.presigned_url(name, content_type=content_type) or signed_media_url(name)


def playback_fields_from_columns(video_id, columns: dict) -> dict:
    """`playback`, `poster_url` and `thumbnails` of a video, from its PLAYBACK_COLUMNS' values."""
    original_url = reverse("video-file", args=[video_id]) if columns["file"] else None
    kind = columns["playback_kind"] or PlaybackKind.ORIGINAL
    if kind == PlaybackKind.RENDITION:
        url = player_url(columns["rendition"])
    elif kind == PlaybackKind.ORIGINAL:
        url = player_url(columns["file"])
    else:
        url = None
    if url is None:
        kind = PlaybackKind.NONE
    reason = columns["playback_reason"] if kind != PlaybackKind.ORIGINAL else ""
    if not columns["playback_kind"] and original_url:
        reason = WAITING_REASON
    if kind == PlaybackKind.NONE and not reason:
        reason = "This video has no stored file to play."
    playback = {
        "kind": str(kind),
        "url": url,
        "reason": reason,
        "time_offset": columns["playback_time_offset"] or 0.0,
        "rotation_applied": columns["rendition_rotation"] if kind == PlaybackKind.RENDITION else 0,
        "checked": bool(columns["playback_kind"]),
        "download_url": original_url,
    }
    index = columns["thumbnails_index"] or {}
    if isinstance(index, str):  # raw SQL hands jsonb over as text
        index = json.loads(index)
    sprite_url = player_url(columns["thumbnails_sprite"])
    thumbnails = None
    if sprite_url and index.get("times"):
        thumbnails = {"sprite_url": sprite_url, **index}
    return {
        "playback": playback,
        "poster_url": player_url(columns["poster"]),
        "thumbnails": thumbnails,
    }


def playback_fields(video: Video) -> dict:
    """`playback`, `poster_url` and `thumbnails` of a video."""
    columns = {name: getattr(video, name) for name in PLAYBACK_COLUMNS}
    for name in ("file", "rendition", "poster", "thumbnails_sprite"):
        columns[name] = columns[name].name if columns[name] else ""
    return playback_fields_from_columns(video.pk, columns)
