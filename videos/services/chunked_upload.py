"""Resumable uploads in chunks (a small tus-like protocol), state kept on disk.

Each upload session is a folder UPLOAD_STAGING_DIR/<id>/ on this host's disk (never in media) with
`session.json` (owner, file name, declared size, title, frame step, creation time), `data`, the bytes received
so far, and `lock`. The offset is the
size of `data` on disk, so whatever reached the disk counts and nothing else: after a dropped connection the
client asks for the offset (HEAD) and sends the rest from there.

Every change to a session (an append, the finish, a cancel, the sweep) happens under an exclusive lock on its
`lock` file, taken without waiting: a second request while one holds it is refused with 409 `upload_busy`
instead of interleaving bytes, or removing the folder under an append that is still writing. Whoever holds
the lock reads the session again first, so a request that lost the race to a finish or a cancel finds it
gone (404). When the last byte arrives, the assembled file goes through `video_create` like any upload, which
moves `data` into the media store once (a rename on the same filesystem, a streamed multipart upload to the
object store), and the folder is removed, still under the lock. A finished upload refused for now (429, the
owner's in-flight limit; 503, a media store out of reach) is kept: the client finishes it after Retry-After with
an empty PATCH at the final offset.

Each user may hold UPLOAD_MAX_OPEN_SESSIONS_PER_USER sessions declaring UPLOAD_MAX_OPEN_BYTES_PER_USER bytes
in all. Sessions untouched for UPLOAD_SESSION_MAX_AGE are removed by `chunked_upload_sweep`.

The standard tus protocol (`videos.services.tus_upload`) keeps its uploads as these same sessions.
"""

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from mediaplatform.advisory_locks import AdvisoryLock, advisory_xact_lock
from mediaplatform.service_errors import ServiceError
from videos.models import Video
from videos.services.creation import LocalFileUpload, VideoRejected, clean_filename, video_create

logger = logging.getLogger(__name__)

MAX_CHUNK_BYTES = 64 * 1024 * 1024
UPLOAD_SESSION_MAX_AGE = 24 * 3600
_BLOCK = 1024 * 1024
# A request that finds the session busy may try again at once: the other one is mid-chunk.
_BUSY_RETRY_AFTER_SECONDS = 1
_LOCK_POLL_SECONDS = 0.05


class UploadRefused(ServiceError):
    """A request about an upload session refused; `offset`, when known, is where the client resumes."""

    def __init__(
        self,
        *,
        code: str,
        message: str,
        status_code: int = 400,
        offset: int | None = None,
        retry_after: int | None = None,
    ):
        details = {"offset": offset} if offset is not None else {}
        super().__init__(message, code=code, status_code=status_code, details=details, retry_after=retry_after)
        self.offset = offset


@dataclass
class UploadSession:
    id: str
    owner_id: int
    filename: str
    size: int
    title: str = ""
    frame_step: int | None = None
    created_at: float = field(default_factory=time.time)
    # The first run's options as the request named them (`videos.runs`); checked when the session opened.
    run_options: dict = field(default_factory=dict)
    offset: int = 0  # not stored: the size of `data` on disk

    def to_json(self) -> str:
        values = asdict(self)
        values.pop("offset")
        return json.dumps(values)


def _root() -> Path:
    return Path(settings.UPLOAD_STAGING_DIR)


def _missing() -> UploadRefused:
    return UploadRefused(
        code="not_found", message="No such upload (it may have been finished, cancelled or expired).", status_code=404
    )


def _folder(upload_id: str) -> Path:
    try:
        canonical = str(uuid.UUID(str(upload_id)))
    except ValueError:
        raise _missing()
    return _root() / canonical


def _session_folders() -> Iterator[Path]:
    if not _root().exists():
        return
    for folder in _root().iterdir():
        try:
            uuid.UUID(folder.name)
        except ValueError:
            continue
        yield folder


def _read_session(folder: Path) -> UploadSession:
    """The session stored in `folder` with its current offset; OSError or ValueError when it is gone."""
    values = json.loads((folder / "session.json").read_text())
    offset = (folder / "data").stat().st_size
    return UploadSession(**values, offset=offset)


def _admit_session(*, owner: AbstractBaseUser, size: int) -> None:
    """Refuse a new session (429) while the owner's open ones reach the session or declared-bytes limit."""
    max_sessions = settings.UPLOAD_MAX_OPEN_SESSIONS_PER_USER
    max_bytes = settings.UPLOAD_MAX_OPEN_BYTES_PER_USER
    if not max_sessions and not max_bytes:
        return
    open_sizes = []
    for folder in _session_folders():
        try:
            session = _read_session(folder)
        except (OSError, ValueError, TypeError):
            continue  # finished or cancelled meanwhile
        if session.owner_id == owner.pk:
            open_sizes.append(session.size)
    if max_sessions and len(open_sizes) >= max_sessions:
        message = (
            f"You already have {len(open_sizes)} resumable uploads open (the limit is {max_sessions}); "
            "finish or cancel one (DELETE its URL), or wait for abandoned ones to expire."
        )
    elif max_bytes and sum(open_sizes) + size > max_bytes:
        message = (
            f"Your open resumable uploads declare {sum(open_sizes):,} bytes; {size:,} more would pass the limit "
            f"of {max_bytes:,}. Finish or cancel one first."
        )
    else:
        return
    logger.warning("upload session refused for user %s: %s open, %s bytes", owner.pk, len(open_sizes), sum(open_sizes))
    raise UploadRefused(
        code="too_many_uploads",
        message=message,
        status_code=429,
        retry_after=settings.UPLOAD_SESSIONS_RETRY_AFTER_SECONDS,
    )


def chunked_upload_start(
    *,
    owner: AbstractBaseUser,
    filename: str,
    size: int,
    title: str = "",
    frame_step: int | None = None,
    run_options: dict | None = None,
) -> UploadSession:
    """Open a session for `size` bytes; nothing is stored but the session folder."""
    if size <= 0:
        raise UploadRefused(code="empty_file", message="Upload-Length must be a positive number of bytes.")
    if size > settings.VIDEO_MAX_UPLOAD_BYTES:
        raise UploadRefused(
            code="file_too_large",
            message=f"The file is larger than the limit of {settings.VIDEO_MAX_UPLOAD_BYTES} bytes.",
            status_code=413,
        )
    chunked_upload_sweep()
    with transaction.atomic():
        # Concurrent starts by one owner are counted one after the other, so none slips past the limits.
        advisory_xact_lock(AdvisoryLock.UPLOAD_SESSIONS, owner.pk)
        _admit_session(owner=owner, size=size)
        session = UploadSession(
            id=str(uuid.uuid4()),
            owner_id=owner.pk,
            filename=clean_filename(filename or ""),
            size=size,
            title=(title or "")[:255],
            frame_step=frame_step,
            run_options=dict(run_options or {}),
        )
        folder = _folder(session.id)
        folder.mkdir(parents=True)
        (folder / "lock").touch()
        (folder / "data").touch()
        _write_session(folder, session)
    return session


def _write_session(folder: Path, session: UploadSession) -> None:
    temporary = folder / "session.json.tmp"
    temporary.write_text(session.to_json())
    os.replace(temporary, folder / "session.json")


def chunked_upload_get(*, owner: AbstractBaseUser, upload_id) -> UploadSession:
    """The owner's session with its current offset; another user's reads as missing."""
    try:
        session = _read_session(_folder(upload_id))
    except (OSError, ValueError, TypeError):
        raise _missing()
    if session.owner_id != owner.pk:
        raise _missing()
    return session


def _open_lock(folder: Path) -> int | None:
    """A descriptor of the session's lock file, or None when the session folder is gone."""
    try:
        return os.open(folder / "lock", os.O_RDWR)
    except FileNotFoundError:
        pass
    if not (folder / "session.json").exists():
        return None
    try:  # a session opened before sessions had their lock file from the start
        return os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:
        return None


def _flock_within(descriptor: int, wait_seconds: float) -> None:
    """Take the exclusive lock, trying for up to `wait_seconds`; BlockingIOError if it stays held."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(_LOCK_POLL_SECONDS)


@contextmanager
def _session_locked(
    *, owner: AbstractBaseUser, upload_id, wait_seconds: float = 0.0
) -> Iterator[tuple[Path, UploadSession]]:
    """The owner's session, read under its exclusive lock; 409 `upload_busy` while another request holds it
    (after waiting up to `wait_seconds` for it)."""
    chunked_upload_get(owner=owner, upload_id=upload_id)  # another user's session reads as missing, never busy
    folder = _folder(upload_id)
    descriptor = _open_lock(folder)
    if descriptor is None:
        raise _missing()
    try:
        try:
            _flock_within(descriptor, wait_seconds)
        except BlockingIOError:
            try:
                offset = (folder / "data").stat().st_size
            except OSError:
                offset = None
            raise UploadRefused(
                code="upload_busy",
                message="Another request is writing to this upload; ask for its offset (HEAD) and resume from there.",
                status_code=409,
                offset=offset,
                retry_after=_BUSY_RETRY_AFTER_SECONDS,
            )
        # Read under the lock: the request that held it before may have finished or cancelled the upload.
        session = chunked_upload_get(owner=owner, upload_id=upload_id)
        yield folder, session
    finally:
        os.close(descriptor)  # releases the lock


def chunked_upload_append(
    *,
    owner: AbstractBaseUser,
    upload_id,
    offset: int,
    read: Callable[[int], bytes],
    length: int,
    max_length: int = MAX_CHUNK_BYTES,
    expected_sha256: bytes | None = None,
) -> tuple[UploadSession, Video | None]:
    """Append `length` bytes, read in blocks from `read`, at `offset`; on the last byte create the video.

    Refuses with 409 (and the current offset) when `offset` is not where the data ends or another request
    is writing to the session. Returns the session and, when this chunk completed the file, the new video.
    An empty chunk at the final offset finishes an upload whose video was refused for now (429).

    With `expected_sha256` (the chunk's digest as the client computed it) a chunk that arrives incomplete or
    with another digest is taken back off the file (460 `checksum_mismatch`): the offset stays where it was.
    """
    if length > max_length:
        raise UploadRefused(
            code="chunk_too_large", message=f"A chunk may be at most {max_length} bytes.", status_code=413
        )
    with _session_locked(owner=owner, upload_id=upload_id) as (folder, session):
        current = session.offset
        if offset != current:
            raise UploadRefused(
                code="offset_mismatch",
                message=f"Upload-Offset {offset} does not match the {current} bytes received; resume from there.",
                status_code=409,
                offset=current,
            )
        if current + length > session.size:
            raise UploadRefused(
                code="too_much_data",
                message=f"The chunk goes past the declared Upload-Length of {session.size} bytes.",
                offset=current,
            )
        data_path = folder / "data"
        chunk_digest = hashlib.sha256()
        with open(data_path, "ab") as handle:
            remaining = length
            while remaining > 0:
                try:
                    block = read(min(_BLOCK, remaining))
                except OSError:  # the server's reader gives up on a body cut short
                    block = b""
                if not block:
                    break  # the client went away: what reached the disk counts
                handle.write(block)
                chunk_digest.update(block)
                remaining -= len(block)
            if expected_sha256 is not None and (remaining or chunk_digest.digest() != expected_sha256):
                # Unverified bytes never count: the client sends the whole chunk again from `current`.
                handle.truncate(current)
                handle.flush()
                os.fsync(handle.fileno())
                logger.warning("upload %s: chunk at %s refused, checksum mismatch", session.id, current)
                raise UploadRefused(
                    code="checksum_mismatch",
                    message="The chunk's SHA-256 does not match Upload-Checksum (or it arrived incomplete); "
                    f"send it again from offset {current}.",
                    status_code=460,
                    offset=current,
                )
            handle.flush()
            os.fsync(handle.fileno())
        session.offset = data_path.stat().st_size
        if session.offset < session.size:
            return session, None
        # A file sent whole in this one request was hashed on its way in: no second read of it.
        file_sha256 = chunk_digest.hexdigest() if current == 0 else None
        return session, _finish(owner=owner, folder=folder, session=session, file_sha256=file_sha256)


def _finish(*, owner: AbstractBaseUser, folder: Path, session: UploadSession, file_sha256: str | None = None) -> Video:
    """Create the video from the complete file and remove the session (the caller holds its lock)."""
    data_path = folder / "data"
    if file_sha256 is None:
        digest = hashlib.sha256()
        with open(data_path, "rb") as handle:
            for block in iter(lambda: handle.read(_BLOCK), b""):
                digest.update(block)
        file_sha256 = digest.hexdigest()
    with LocalFileUpload(path=data_path, name=session.filename, size=session.size, sha256=file_sha256) as uploaded:
        try:
            video = video_create(
                owner=owner,
                uploaded_file=uploaded,
                title=session.title,
                frame_step=session.frame_step,
                job_options=session.run_options or None,
            )
        except VideoRejected as exc:
            if exc.retry_after is None:
                shutil.rmtree(folder, ignore_errors=True)  # the content is refused for good: nothing to resume
                raise
            # Refused for now (too many videos in flight): the bytes stay until the session expires.
            raise UploadRefused(
                code=exc.code,
                message=f"{exc.message} The uploaded file is kept: after Retry-After, send PATCH with "
                f"Upload-Offset: {session.size} and an empty body to finish it.",
                status_code=exc.status_code,
                offset=session.size,
                retry_after=exc.retry_after,
            )
    shutil.rmtree(folder, ignore_errors=True)
    return video


def chunked_upload_cancel(*, owner: AbstractBaseUser, upload_id, wait_seconds: float = 0.0) -> None:
    """Remove the session; with `wait_seconds`, a request still writing to it (one whose client has just
    aborted it to cancel, say) is given that long to notice and let go before the answer is 409."""
    with _session_locked(owner=owner, upload_id=upload_id, wait_seconds=wait_seconds) as (folder, _session):
        shutil.rmtree(folder, ignore_errors=True)


def chunked_upload_sweep(*, max_age_seconds: float = UPLOAD_SESSION_MAX_AGE) -> int:
    """Remove sessions whose data has not changed for `max_age_seconds`; returns how many.

    A session another request holds is in use, whatever its age, and is left alone.
    """
    removed = 0
    cutoff = time.time() - max_age_seconds
    for folder in _session_folders():
        if _last_touched(folder) >= cutoff:
            continue
        descriptor = _open_lock(folder)
        if descriptor is None:  # a folder left without its session file
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
            continue
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            if _last_touched(folder) < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        finally:
            os.close(descriptor)
    return removed


def chunked_upload_expires_at(*, upload_id, max_age_seconds: float = UPLOAD_SESSION_MAX_AGE) -> float:
    """When the session becomes removable by `chunked_upload_sweep` if nothing is appended before (epoch seconds)."""
    return _last_touched(_folder(upload_id)) + max_age_seconds


def _last_touched(folder: Path) -> float:
    try:
        return max((folder / name).stat().st_mtime for name in ("session.json", "data"))
    except (OSError, ValueError):
        return 0
