"""Resumable uploads in chunks (a small tus-like protocol), state kept on disk.

Each upload session is a folder MEDIA_ROOT/uploads/<id>/ with `session.json` (owner, file name, declared
size, title, frame step, creation time) and `data`, the bytes received so far. The offset is the size of
`data` on disk, so whatever reached the disk counts and nothing else: after a dropped connection the
client asks for the offset (HEAD) and sends the rest from there. Appends to one session are serialised
with an exclusive lock on the folder's `lock` file, so two clients can never interleave bytes. When the
last byte arrives, the assembled file goes through `video_create` like any upload, and the folder is removed.
Sessions untouched for UPLOAD_SESSION_MAX_AGE are removed by `chunked_upload_sweep`.
"""

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile

from videos.models import Video
from videos.services.creation import VideoRejected, clean_filename, video_create

logger = logging.getLogger(__name__)

MAX_CHUNK_BYTES = 64 * 1024 * 1024
UPLOAD_SESSION_MAX_AGE = 24 * 3600
_BLOCK = 1024 * 1024


class UploadRefused(Exception):
    """A request about an upload session refused; `status_code` is the HTTP answer."""

    def __init__(self, *, code: str, message: str, status_code: int = 400, offset: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status_code = status_code
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
    offset: int = 0  # not stored: the size of `data` on disk

    def to_json(self) -> str:
        values = asdict(self)
        values.pop("offset")
        return json.dumps(values)


def _root() -> Path:
    return Path(settings.MEDIA_ROOT) / "uploads"


def _folder(upload_id: str) -> Path:
    try:
        canonical = str(uuid.UUID(str(upload_id)))
    except ValueError:
        raise UploadRefused(code="not_found", message="No such upload.", status_code=404)
    return _root() / canonical


def chunked_upload_start(
    *, owner: AbstractBaseUser, filename: str, size: int, title: str = "", frame_step: int | None = None
) -> UploadSession:
    """Open a session for `size` bytes; nothing is stored but the session file."""
    if size <= 0:
        raise UploadRefused(code="empty_file", message="Upload-Length must be a positive number of bytes.")
    if size > settings.VIDEO_MAX_UPLOAD_BYTES:
        raise UploadRefused(
            code="file_too_large",
            message=f"The file is larger than the limit of {settings.VIDEO_MAX_UPLOAD_BYTES} bytes.",
            status_code=413,
        )
    chunked_upload_sweep()
    session = UploadSession(
        id=str(uuid.uuid4()),
        owner_id=owner.pk,
        filename=clean_filename(filename or ""),
        size=size,
        title=(title or "")[:255],
        frame_step=frame_step,
    )
    folder = _folder(session.id)
    folder.mkdir(parents=True)
    (folder / "data").touch()
    _write_session(folder, session)
    return session


def _write_session(folder: Path, session: UploadSession) -> None:
    temporary = folder / "session.json.tmp"
    temporary.write_text(session.to_json())
    os.replace(temporary, folder / "session.json")


def chunked_upload_get(*, owner: AbstractBaseUser, upload_id) -> UploadSession:
    """The owner's session with its current offset; another user's reads as missing."""
    folder = _folder(upload_id)
    try:
        values = json.loads((folder / "session.json").read_text())
        offset = (folder / "data").stat().st_size
    except (OSError, ValueError):
        raise UploadRefused(code="not_found", message="No such upload.", status_code=404)
    if values.get("owner_id") != owner.pk:
        raise UploadRefused(code="not_found", message="No such upload.", status_code=404)
    return UploadSession(**values, offset=offset)


@contextmanager
def _locked(folder: Path):
    with open(folder / "lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def chunked_upload_append(
    *,
    owner: AbstractBaseUser,
    upload_id,
    offset: int,
    read: Callable[[int], bytes],
    length: int,
) -> tuple[UploadSession, Video | None]:
    """Append `length` bytes, read in blocks from `read`, at `offset`; on the last byte create the video.

    Refuses with 409 (and the current offset) when `offset` is not where the data ends.
    Returns the session and, when this chunk completed the file, the new video.
    """
    if length > MAX_CHUNK_BYTES:
        raise UploadRefused(
            code="chunk_too_large", message=f"A chunk may be at most {MAX_CHUNK_BYTES} bytes.", status_code=413
        )
    session = chunked_upload_get(owner=owner, upload_id=upload_id)
    folder = _folder(session.id)
    with _locked(folder):
        data_path = folder / "data"
        if not data_path.exists():
            raise UploadRefused(code="not_found", message="No such upload.", status_code=404)
        current = data_path.stat().st_size
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
        with open(data_path, "ab") as handle:
            remaining = length
            while remaining > 0:
                block = read(min(_BLOCK, remaining))
                if not block:
                    break  # the client went away: what reached the disk counts
                handle.write(block)
                remaining -= len(block)
            handle.flush()
            os.fsync(handle.fileno())
        session.offset = data_path.stat().st_size
        if session.offset < session.size:
            return session, None
        video = _finish(owner=owner, folder=folder, session=session)
    shutil.rmtree(folder, ignore_errors=True)
    return session, video


def _finish(*, owner: AbstractBaseUser, folder: Path, session: UploadSession) -> Video:
    data_path = folder / "data"
    digest = hashlib.sha256()
    with open(data_path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    with open(data_path, "rb") as handle:
        uploaded = UploadedFile(file=handle, name=session.filename, size=session.size)
        uploaded.sha256 = digest.hexdigest()
        try:
            return video_create(owner=owner, uploaded_file=uploaded, title=session.title, frame_step=session.frame_step)
        except VideoRejected:
            shutil.rmtree(folder, ignore_errors=True)  # the content is refused for good: nothing to resume
            raise


def chunked_upload_cancel(*, owner: AbstractBaseUser, upload_id) -> None:
    session = chunked_upload_get(owner=owner, upload_id=upload_id)
    shutil.rmtree(_folder(session.id), ignore_errors=True)


def chunked_upload_sweep(*, max_age_seconds: float = UPLOAD_SESSION_MAX_AGE) -> int:
    """Remove sessions whose data has not changed for `max_age_seconds`; returns how many."""
    removed = 0
    cutoff = time.time() - max_age_seconds
    if not _root().exists():
        return 0
    for folder in _root().iterdir():
        try:
            touched = max((folder / name).stat().st_mtime for name in ("session.json", "data"))
        except (OSError, ValueError):
            touched = 0
        if touched < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
