"""Where media lives, and the few things the platform does with it beyond Django's storage API.

Media (originals, renditions, posters, thumbnails, annotated videos, model weights) is stored through
`default_storage`: the local filesystem under MEDIA_ROOT, or an S3-compatible object store (settings
`MEDIA_STORAGE`). This module is the one place that knows which, so no other code builds a filesystem path to
media. Names are storage names ("videos/ab/<id>.mp4"), the same on both backends.

- `local_copy(name)`: a path a decoder can open for the length of a `with` block. On the filesystem it is the
  stored file itself; from the object store it is a scratch copy (streamed, multipart ranged reads) that is
  removed when the block ends, and by `scratch_sweep()` when the process that made it was killed.
- `store_file(source=..., name=...)`: puts a finished local file under a name (a rename on the filesystem, a
  streamed multipart upload to the object store).
- `presigned_url(name)`: the object store's short-lived URL for a browser (None on the filesystem, where
  nginx serves signed URLs itself: videos/media_signing.py).
- `iter_stored(prefix)`: every stored name under a prefix, with its size, for orphan sweeps and migrations.

Failures reaching the object store raise `MediaStoreUnavailable` (a resource error: worth retrying), an object
that is not there raises `MediaObjectMissing` (retrying will not help).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, default_storage, storages

logger = logging.getLogger(__name__)

COPY_CHUNK_BYTES = 8 * 1024 * 1024
# S3 refuses presigned URLs valid for longer than a week.
S3_LONGEST_EXPIRY = 7 * 24 * 3600
SCRATCH_PREFIX = "job"


class MediaStoreError(Exception):
    """Something went wrong between the platform and where its media lives."""


class MediaStoreUnavailable(MediaStoreError):
    """The store could not be reached or answered with a server error; the same call may work later."""


class MediaObjectMissing(MediaStoreError, FileNotFoundError):
    """No object under that name: retrying will not bring it back."""


class ScratchSpaceExhausted(MediaStoreError):
    """The local scratch disk has no room for a copy of this object."""


@dataclass(frozen=True)
class StoredObject:
    name: str
    size: int
    modified: float  # seconds since the epoch


def media_storage() -> Storage:
    return default_storage


def uses_object_store(storage: Storage | None = None) -> bool:
    """True when media lives in an S3-compatible object store, not on this host's filesystem."""
    return not isinstance(storage or storages["default"], FileSystemStorage)


def backend_label(storage: Storage | None = None) -> str:
    return "s3" if uses_object_store(storage) else "local"


def filesystem_path(name: str) -> Path | None:
    """The stored file's path when media is on this host's filesystem; None for the object store."""
    if uses_object_store():
        return None
    return Path(default_storage.path(name))


def _object_key(storage: Storage, name: str) -> str:
    from storages.utils import clean_name

    return storage._normalize_name(clean_name(name))


@contextlib.contextmanager
def translated_errors(name: str = "") -> Iterator[None]:
    """Turn the object store client's errors into MediaStoreUnavailable / MediaObjectMissing."""
    try:
        yield
    except MediaStoreError:
        raise
    except FileNotFoundError as exc:
        raise MediaObjectMissing(f"no stored object {name!r}") from exc
    except Exception as exc:
        translated = _translate(exc, name)
        if translated is None:
            raise
        raise translated from exc


def _translate(exc: Exception, name: str) -> MediaStoreError | None:
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - the filesystem backend needs no boto
        return None
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in {"404", "NoSuchKey", "NotFound"} or status == 404:
            return MediaObjectMissing(f"no stored object {name!r}")
        if status >= 500 or code in {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}:
            return MediaStoreUnavailable(f"object store error {code or status} for {name!r}")
        return None
    if isinstance(exc, BotoCoreError | OSError | socket.timeout):
        return MediaStoreUnavailable(f"object store unreachable for {name!r}: {type(exc).__name__}: {exc}")
    return None


def exists(name: str) -> bool:
    with translated_errors(name):
        return bool(name) and default_storage.exists(name)


def size(name: str) -> int:
    with translated_errors(name):
        return default_storage.size(name)


def delete(name: str) -> None:
    """Remove a stored object; one already gone is not an error."""
    with translated_errors(name):
        default_storage.delete(name)


def open_for_reading(name: str):
    """A binary file object over the stored bytes (streamed from the object store)."""
    with translated_errors(name):
        return default_storage.open(name, "rb")


def sha256_of(name: str) -> str:
    digest = hashlib.sha256()
    with translated_errors(name):
        if uses_object_store():
            body = _s3_object(name).get()["Body"]
            try:
                for chunk in body.iter_chunks(COPY_CHUNK_BYTES):
                    digest.update(chunk)
            finally:
                body.close()
        else:
            with default_storage.open(name, "rb") as handle:
                while chunk := handle.read(COPY_CHUNK_BYTES):
                    digest.update(chunk)
    return digest.hexdigest()


def _s3_storage():
    return storages["default"]


def _s3_object(name: str):
    storage = _s3_storage()
    return storage.bucket.Object(_object_key(storage, name))


def _transfer_config():
    from boto3.s3.transfer import TransferConfig

    # Multipart, ranged and parallel: neither side ever holds a whole video in memory.
    return TransferConfig(multipart_threshold=16 * 1024**2, multipart_chunksize=16 * 1024**2, max_concurrency=4)


def scratch_root() -> Path:
    root = Path(settings.MEDIA_SCRATCH_DIR)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _scratch_folder() -> Path:
    folder = scratch_root() / f"{SCRATCH_PREFIX}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    folder.mkdir(mode=0o700)
    return folder


def _ensure_scratch_room(needed: int) -> None:
    free = shutil.disk_usage(scratch_root()).free
    if free - needed < settings.MEDIA_SCRATCH_MIN_FREE_BYTES:
        raise ScratchSpaceExhausted(
            f"a {needed:,}-byte copy would leave {max(free - needed, 0):,} bytes free on the scratch disk "
            f"(MEDIA_SCRATCH_MIN_FREE_BYTES={settings.MEDIA_SCRATCH_MIN_FREE_BYTES:,})"
        )


@contextlib.contextmanager
def scratch_folder() -> Iterator[Path]:
    """An empty local folder for this block's working files, removed however the block ends."""
    folder = _scratch_folder()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def local_copy(name: str) -> Iterator[Path]:
    """A local path holding the stored object `name` for the length of the block.

    On the filesystem that is the stored file (nothing is copied); from the object store it is a scratch copy,
    downloaded with ranged multipart reads and removed when the block ends, whether it ends well or not.
    """
    if not name:
        raise MediaObjectMissing("no stored object named")
    path = filesystem_path(name)
    if path is not None:
        if not path.is_file():
            raise MediaObjectMissing(f"no stored object {name!r}")
        yield path
        return
    with scratch_folder() as folder:
        target = folder / Path(name).name
        with translated_errors(name):
            stored = _s3_object(name)
            stored.load()
            _ensure_scratch_room(stored.content_length)
            stored.download_file(str(target), Config=_transfer_config())
        yield target


def store_file(*, source: Path, name: str, content_type: str = "", move: bool = True) -> str:
    """Put the local file `source` under the storage name `name`, replacing what was there; returns `name`.

    On the filesystem it is renamed into place (copied when `move` is false); to the object store it is
    uploaded in parts, then the local file is removed when `move` is true.
    """
    path = filesystem_path(name)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if move:
            try:
                os.replace(source, path)
            except OSError:  # another filesystem: copy, then remove
                shutil.copyfile(source, path)
                Path(source).unlink(missing_ok=True)
        else:
            temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
            shutil.copyfile(source, temporary)
            os.replace(temporary, path)
        _apply_file_mode(path)
        return name
    extra = {"ContentType": content_type} if content_type else {}
    with translated_errors(name):
        _s3_object(name).upload_file(str(source), ExtraArgs=extra or None, Config=_transfer_config())
    if move:
        Path(source).unlink(missing_ok=True)
    return name


def store_stream(*, stream, name: str, content_type: str = "") -> str:
    """Put a readable binary stream under `name` (replacing what was there) without holding it in memory."""
    path = filesystem_path(name)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        with open(temporary, "wb") as handle:
            shutil.copyfileobj(stream, handle, COPY_CHUNK_BYTES)
        os.replace(temporary, path)
        _apply_file_mode(path)
        return name
    extra = {"ContentType": content_type} if content_type else {}
    with translated_errors(name):
        _s3_object(name).upload_fileobj(stream, ExtraArgs=extra or None, Config=_transfer_config())
    return name


def _apply_file_mode(path: Path) -> None:
    mode = settings.FILE_UPLOAD_PERMISSIONS
    if mode is not None:
        os.chmod(path, mode)


def presigned_url(
    name: str,
    *,
    download_name: str = "",
    content_type: str = "",
    expires_seconds: int | None = None,
    stable: bool = True,
) -> str | None:
    """A short-lived URL the browser can fetch (ranges included) from the object store; None on the filesystem.

    Signing is local arithmetic: no request reaches the store. The URL's host is MEDIA_S3_PUBLIC_ENDPOINT_URL
    when set, so a store on an internal network can be reached by its public name. A `stable` URL is the same
    for a whole MEDIA_SIGNED_URL_WINDOW_SECONDS window (a page's player and poster stay cached); a redirect's
    target, used once, is not (`stable=False`) and lives exactly `expires_seconds`.
    """
    if not uses_object_store():
        return None
    storage = _signing_storage()
    parameters = {}
    if download_name:
        safe = download_name.replace('"', "").replace("\\", "")
        parameters["ResponseContentDisposition"] = f'attachment; filename="{safe}"'
    if content_type:
        parameters["ResponseContentType"] = content_type
    lifetime = expires_seconds or settings.MEDIA_SIGNED_URL_SECONDS
    window = settings.MEDIA_SIGNED_URL_WINDOW_SECONDS
    if window <= 0 or not stable:
        return storage.url(name, parameters=parameters or None, expire=lifetime)
    # Signed as at the start of the current window and valid for one window more than asked: the URL is the same
    # for every request in the window (so browsers and proxies cache what it names) and never lives less than
    # `lifetime` from now.
    now = time.time()
    signed_at = now - now % window
    with _signing_time(datetime.fromtimestamp(signed_at, tz=UTC)):
        return storage.url(name, parameters=parameters or None, expire=min(lifetime + window, S3_LONGEST_EXPIRY))


_pinned_signing_time: ContextVar[datetime | None] = ContextVar("pinned_signing_time", default=None)


@contextlib.contextmanager
def _signing_time(moment: datetime) -> Iterator[None]:
    """Sign the presigned URLs made in this block as at `moment` (botocore reads its clock while signing)."""
    _install_signing_clock()
    token = _pinned_signing_time.set(moment)
    try:
        yield
    finally:
        _pinned_signing_time.reset(token)


def _install_signing_clock() -> None:
    import botocore.auth

    if getattr(botocore.auth.get_current_datetime, "pinnable", False):
        return
    unpinned = botocore.auth.get_current_datetime

    def current_datetime(remove_tzinfo: bool = True) -> datetime:
        pinned = _pinned_signing_time.get()
        if pinned is None:
            return unpinned(remove_tzinfo)
        return pinned.replace(tzinfo=None) if remove_tzinfo else pinned

    current_datetime.pinnable = True
    botocore.auth.get_current_datetime = current_datetime


@cache
def _public_signing_storage(endpoint_url: str):
    from storages.backends.s3 import S3Storage

    options = dict(settings.STORAGES["default"].get("OPTIONS", {}))
    options["endpoint_url"] = endpoint_url
    return S3Storage(**options)


def _signing_storage():
    public = settings.MEDIA_S3_PUBLIC_ENDPOINT_URL
    if public and public != settings.STORAGES["default"].get("OPTIONS", {}).get("endpoint_url"):
        return _public_signing_storage(public)
    return _s3_storage()


def iter_stored(prefix: str = "") -> Iterator[StoredObject]:
    """Every stored object whose name starts with `prefix` (a folder such as "videos/"), with its size."""
    prefix = prefix.strip("/")
    if not uses_object_store():
        root = Path(settings.MEDIA_ROOT)
        base = root / prefix if prefix else root
        if not base.exists():
            return
        for folder, _directories, files in os.walk(base):
            for file_name in files:
                path = Path(folder) / file_name
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                yield StoredObject(name=path.relative_to(root).as_posix(), size=stat.st_size, modified=stat.st_mtime)
        return
    storage = _s3_storage()
    location = storage.location.strip("/")
    key_prefix = "/".join(part for part in (location, prefix) if part)
    if key_prefix:
        key_prefix += "/"
    with translated_errors(prefix):
        paginator = storage.connection.meta.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=storage.bucket_name, Prefix=key_prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                name = key[len(location) + 1 :] if location else key
                yield StoredObject(name=name, size=int(item["Size"]), modified=item["LastModified"].timestamp())


def check_reachable() -> tuple[bool, str]:
    """Whether the store answers, for health checks: the filesystem's folder is writable, the bucket exists."""
    if not uses_object_store():
        root = Path(settings.MEDIA_ROOT)
        ok = root.is_dir() and os.access(root, os.W_OK)
        return ok, str(root) if ok else f"{root} is not a writable folder"
    try:
        storage = _s3_storage()
        with translated_errors(""):
            storage.connection.meta.client.head_bucket(Bucket=storage.bucket_name)
    except Exception as exc:  # a health check reports, it does not raise
        return False, f"{type(exc).__name__}: {exc}"
    return True, f"s3://{_s3_storage().bucket_name}"


def scratch_sweep() -> int:
    """Remove scratch folders left by processes on this host that no longer run (a killed worker's copies)."""
    root = Path(settings.MEDIA_SCRATCH_DIR)
    if not root.is_dir():
        return 0
    host = socket.gethostname()
    removed = 0
    for folder in root.iterdir():
        parts = folder.name.split("-")
        if len(parts) < 4 or parts[0] != SCRATCH_PREFIX or "-".join(parts[1:-2]) != host:
            continue
        try:
            pid = int(parts[-2])
        except ValueError:
            continue
        if pid == os.getpid() or process_alive(pid):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
        logger.info("removed scratch folder %s left by process %s", folder, pid)
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (one we may not signal counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
