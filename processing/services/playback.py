"""Making what a video's page plays (a rendition when browsers cannot play the original), its poster and its
seek thumbnails, and recording them on the video.

The files are made outside any transaction (it takes a decode pass) in a scratch folder of the worker's;
recording them puts them in the store under their content-addressed names (a rename on the filesystem, an
upload to the object store: videos.media_store) and updates the video in one transaction, with an audit row and
one storage operation per file written. Files of an earlier recipe are removed once that has committed.
"""

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from audit.models import StorageOperationType
from audit.services import audit_record, storage_operation
from processing.renditions import MadeFiles, RenditionError, make_playback_files, playback_check, recipe_key
from videos import media_store
from videos.models import PlaybackKind, Video
from videos.services.deletion import video_derived_files_remove

logger = logging.getLogger(__name__)

RENDITIONS_DIRECTORY = "renditions"
_CONTENT_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg"}
# A source whose first frame is later than this plays from a rendition, whose timeline starts at 0.
FIRST_TIMESTAMP_TOLERANCE_SECONDS = 0.001


@dataclass
class PreparedPlayback:
    """What one pass made for a video, not yet recorded on it."""

    key: str
    kind: str
    reason: str = ""
    made: MadeFiles | None = None
    names: dict[str, str] = field(default_factory=dict)  # field name -> stored name
    # The scratch folder the files were made in, until they are stored or discarded.
    scratch: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    def discard(self) -> None:
        """Remove what was made but not stored (the run stopped, the recording failed), and its scratch folder.
        Safe after recording: only the empty folder is left then."""
        if self.made is not None:
            for path in self.made.paths():
                path.unlink(missing_ok=True)
        self.scratch.close()

    def made_file(self, field_name: str) -> Path:
        return getattr(self.made, {"rendition": "rendition", "poster": "poster"}.get(field_name, "sprite"))


def derived_directory(video: Video) -> str:
    return f"{RENDITIONS_DIRECTORY}/{video.pk.hex[:2]}/{video.pk}"


def _key_for(video: Video, *, make_rendition: bool) -> str:
    return recipe_key(content_hash=video.file_hash or str(video.pk), make_rendition=make_rendition)


def playback_is_current(*, video: Video) -> bool:
    """Whether the video's recorded playback files were made from its content by this recipe and still exist."""
    if not video.playback_kind:
        return False
    names = video.derived_file_names()
    if video.playback_kind != PlaybackKind.NONE and not names:
        return False
    if any(not media_store.exists(name) for name in names):
        return False
    made_rendition = video.playback_kind == PlaybackKind.RENDITION
    if video.playback_kind == PlaybackKind.NONE:
        return True  # the file did not change: trying again would fail again
    return Path(video.poster.name).name.startswith(_key_for(video, make_rendition=made_rendition))


def playback_files_make(
    *, video: Video, source: Path | None = None, on_frame: Callable[[int], None] | None = None
) -> PreparedPlayback:
    """Check whether browsers play the video's file and make the files its page needs, in a scratch folder.

    `source` is the video's file on this host when the caller holds it already (the pipeline's copy for the
    run); without it the file is fetched for this call. Never raises for what is wrong with the user's file:
    that comes back as kind `none` with the reason. `on_frame` is called with the number of frames done (a long
    video's run keeps its heartbeat with it). Call `discard()` on the result once it is recorded or not wanted.
    """
    if source is None:
        with media_store.local_copy(video.file.name) as fetched:
            return playback_files_make(video=video, source=fetched, on_frame=on_frame)
    scratch = contextlib.ExitStack()
    try:
        prepared = _make(
            video=video,
            source=str(source),
            directory=scratch.enter_context(media_store.scratch_folder()),
            on_frame=on_frame,
        )
    except BaseException:
        scratch.close()
        raise
    if prepared.made is None:
        scratch.close()  # nothing made to keep
    prepared.scratch = scratch
    return prepared


def _make(*, video: Video, source: str, directory: Path, on_frame: Callable[[int], None] | None) -> PreparedPlayback:
    try:
        check = playback_check(source, mime_type=video.mime_type)
    except RenditionError as exc:
        return PreparedPlayback(key="", kind=PlaybackKind.NONE, reason=str(exc))
    late_start = check.first_timestamp > FIRST_TIMESTAMP_TOLERANCE_SECONDS
    make_rendition = not check.playable or late_start or settings.RENDITION_ALWAYS
    key = _key_for(video, make_rendition=make_rendition)
    try:
        made = make_playback_files(
            source,
            directory=directory,
            key=key,
            make_rendition=make_rendition,
            duration_hint=max((video.duration_seconds or 0) - check.first_timestamp, 0.0),
            on_frame=on_frame,
        )
    except RenditionError as exc:
        why = check.reason or "the video could not be read"
        logger.warning("video %s: no playable file could be made (%s): %s", video.pk, why, exc)
        return PreparedPlayback(
            key=key, kind=PlaybackKind.NONE, reason=f"This video cannot be played in the browser ({why}). {exc}"
        )
    names = {"poster": made.poster, "thumbnails_sprite": made.sprite}
    if made.rendition is not None:
        names["rendition"] = made.rendition
    return PreparedPlayback(
        key=key,
        kind=PlaybackKind.RENDITION if make_rendition else PlaybackKind.ORIGINAL,
        reason=check.reason if make_rendition else "",
        made=made,
        names={name: f"{derived_directory(video)}/{_final_name(path)}" for name, path in names.items()},
    )


def _final_name(temporary: Path) -> str:
    return temporary.name.removeprefix(".").removesuffix(".part")


def playback_record(*, video: Video, prepared: PreparedPlayback) -> None:
    """Record the prepared files on the video. Call inside a transaction, with the video locked
    (processing.services.locking); the files made are put in the store under their stored names here."""
    previous = set(video.derived_file_names())
    old_values = {"playback_kind": video.playback_kind, "rendition": video.rendition.name}
    made = prepared.made
    for name, stored in prepared.names.items():
        made_file = prepared.made_file(name)
        if not made_file.exists() and media_store.exists(stored):
            continue  # stored by an earlier try of this transaction (retried after a conflict)
        size = made_file.stat().st_size
        with storage_operation(operation=StorageOperationType.UPLOAD, path=stored, video_id=video.pk, size_bytes=size):
            media_store.store_file(
                source=made_file, name=stored, content_type=_CONTENT_TYPES.get(Path(stored).suffix, "")
            )
    video.playback_kind = prepared.kind
    video.playback_reason = prepared.reason[:300]
    video.playback_time_offset = round(made.first_timestamp, 6) if made is not None else 0.0
    video.rendition.name = prepared.names.get("rendition", "")
    video.rendition_rotation = made.rotation_applied if made is not None and made.rendition else 0
    video.poster.name = prepared.names.get("poster", "")
    video.thumbnails_sprite.name = prepared.names.get("thumbnails_sprite", "")
    video.thumbnails_index = made.thumbnails if made is not None else {}
    video.save(
        update_fields=[
            "playback_kind",
            "playback_reason",
            "playback_time_offset",
            "rendition",
            "rendition_rotation",
            "poster",
            "thumbnails_sprite",
            "thumbnails_index",
            "updated_at",
        ]
    )
    audit_record(
        action="video.playback",
        obj=video,
        old_values=old_values,
        new_values={"playback_kind": video.playback_kind, "rendition": video.rendition.name},
        reason=prepared.reason[:300],
    )
    prepared.scratch.close()  # its files are stored: only the empty folder goes
    stale = sorted(previous - set(video.derived_file_names()))
    if stale:
        transaction.on_commit(lambda: video_derived_files_remove(names=stale, video_id=video.pk))
