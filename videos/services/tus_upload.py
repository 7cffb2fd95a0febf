"""Resumable uploads by the tus 1.0 protocol (https://tus.io/protocols/resumable-upload), README "tus uploads".

The protocol's requests read and write the same upload sessions as the older chunked endpoints
(`videos.services.chunked_upload`): one folder per upload on disk, its offset the size of the bytes received,
an exclusive lock per request that writes (a second writer gets 409), the per-user limits on open sessions,
and `chunked_upload_sweep`, run by the daily retention cleanup, removing sessions past their expiry. When the
last byte is in, the file becomes a video through `video_create`, like every upload.

This module adds what tus itself defines: the version handshake, Upload-Metadata (base64 values naming the
file, the title and the first run's options), Upload-Checksum (sha256) and Upload-Expires.
"""

import base64
import binascii
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from videos.models import Video
from videos.runs import video_runs
from videos.services.chunked_upload import (
    UPLOAD_SESSION_MAX_AGE,
    UploadRefused,
    UploadSession,
    chunked_upload_append,
    chunked_upload_cancel,
    chunked_upload_expires_at,
    chunked_upload_get,
    chunked_upload_start,
)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "creation-with-upload", "termination", "expiration", "checksum")
TUS_CHECKSUM_ALGORITHMS = ("sha256",)
TUS_CONTENT_TYPE = "application/offset+octet-stream"

# The run options Upload-Metadata may carry, as the upload form and the videos API name them.
RUN_OPTION_KEYS = ("model", "classes", "confidence", "frame_step", "start_frame", "end_frame", "max_fps", "track")
# Upload-Metadata is a header: bounded like one (nginx and gunicorn refuse longer header lines anyway).
MAX_METADATA_CHARS = 8192
_METADATA_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,100}")


def _invalid(message: str) -> UploadRefused:
    return UploadRefused(code="invalid", message=message)


def tus_max_size() -> int:
    return settings.VIDEO_MAX_UPLOAD_BYTES


def tus_metadata_parse(raw: str | None) -> dict[str, str]:
    """Upload-Metadata (`key base64value,key,...`) as text; a malformed header is refused (400) by name."""
    if not raw or not raw.strip():
        return {}
    if len(raw) > MAX_METADATA_CHARS:
        raise _invalid(f"Upload-Metadata may be at most {MAX_METADATA_CHARS} characters.")
    values: dict[str, str] = {}
    for pair in raw.split(","):
        parts = pair.strip().split(" ")
        key = parts[0]
        if not _METADATA_KEY.fullmatch(key) or len(parts) > 2:
            raise _invalid("Upload-Metadata must be comma-separated pairs of a key and a base64 value.")
        if key in values:
            raise _invalid(f"Upload-Metadata names {key!r} twice.")
        try:
            values[key] = base64.b64decode(parts[1], validate=True).decode() if len(parts) == 2 else ""
        except (binascii.Error, UnicodeDecodeError):
            raise _invalid(f"Upload-Metadata's value of {key!r} is not base64-encoded UTF-8 text.")
    return values


def tus_checksum_parse(raw: str | None) -> bytes | None:
    """Upload-Checksum (`sha256 <base64 digest>`) as the digest's bytes; None without the header."""
    if raw is None:
        return None
    algorithm, _, encoded = raw.strip().partition(" ")
    if algorithm.lower() not in TUS_CHECKSUM_ALGORITHMS:
        raise _invalid(f"Upload-Checksum's algorithm must be one of: {', '.join(TUS_CHECKSUM_ALGORITHMS)}.")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != 32:
        raise _invalid("Upload-Checksum's sha256 digest must be 32 bytes, base64-encoded.")
    return digest


def tus_run_options(metadata: dict[str, str]) -> dict[str, str]:
    """The first run's options named in the metadata, as text the run engine checks like a form's values."""
    return {key: metadata[key] for key in RUN_OPTION_KEYS if metadata.get(key, "") != ""}


@dataclass(frozen=True)
class TusUploadState:
    session: UploadSession
    expires_at: float  # epoch seconds

    @property
    def offset(self) -> int:
        return self.session.offset


def _state(session: UploadSession) -> TusUploadState:
    return TusUploadState(session=session, expires_at=chunked_upload_expires_at(upload_id=session.id))


def _expired() -> UploadRefused:
    return UploadRefused(code="expired", message="This upload has expired; start it again.", status_code=410)


def tus_upload_status(*, owner: AbstractBaseUser, upload_id) -> TusUploadState:
    """The owner's upload with its offset and expiry; another user's reads as missing (404), an expired one 410."""
    state = _state(chunked_upload_get(owner=owner, upload_id=upload_id))
    if state.expires_at <= time.time():
        raise _expired()
    return state


def tus_upload_create(*, owner: AbstractBaseUser, length: int, metadata: dict[str, str]) -> TusUploadState:
    """Open an upload of `length` bytes named by its metadata; bad run options are refused before any byte."""
    run_options = tus_run_options(metadata)
    video_runs().options_check(options=run_options)
    session = chunked_upload_start(
        owner=owner,
        filename=metadata.get("filename") or metadata.get("name") or "",
        size=length,
        title=metadata.get("title", ""),
        run_options=run_options,
    )
    return _state(session)


def tus_upload_append(
    *,
    owner: AbstractBaseUser,
    upload_id,
    offset: int,
    read: Callable[[int], bytes],
    length: int,
    checksum: bytes | None = None,
) -> tuple[TusUploadState, Video | None]:
    """Append the request's bytes at `offset` (the whole remaining file may come in one request).

    Returns the upload's new state and, when these bytes completed it, the video made from it.
    """
    tus_upload_status(owner=owner, upload_id=upload_id)  # an expired upload takes no more bytes
    session, video = chunked_upload_append(
        owner=owner,
        upload_id=upload_id,
        offset=offset,
        read=read,
        length=length,
        max_length=tus_max_size(),
        expected_sha256=checksum,
    )
    if video is not None:  # the session is gone with its folder: it expires when it was last touched
        return TusUploadState(session=session, expires_at=time.time() + UPLOAD_SESSION_MAX_AGE), video
    return _state(session), None


# A client cancels by aborting its PATCH and sending DELETE at once: the PATCH's request is still writing
# until the server reads the end of its cut body, which takes well under this.
TERMINATION_WAIT_SECONDS = 10.0


def tus_upload_terminate(*, owner: AbstractBaseUser, upload_id) -> None:
    chunked_upload_cancel(owner=owner, upload_id=upload_id, wait_seconds=TERMINATION_WAIT_SECONDS)
