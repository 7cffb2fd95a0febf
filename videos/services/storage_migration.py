"""Moving the media library from one storage backend to the other (filesystem <-> S3-compatible object store).

The source is the configured default storage; the target is built from settings (`storage_for_backend`): the
object store from MEDIA_S3_* even while MEDIA_STORAGE=local, the filesystem from MEDIA_ROOT. Names are the same
on both backends, so no database row changes: once every object is across, the operator switches MEDIA_STORAGE.

Only referenced objects are copied (the callers say which: videos' originals and playback files here, annotated
videos and model weights from the processing side); what the source holds under the media folders that nothing
refers to is listed as orphans, not copied.

Each object is streamed (a reader hashing what it reads feeds the writer, so neither side is held in memory or
written to a local file first), then read back from the target and its SHA-256 compared with the source's. A
copy never shows up half-written under its final name: the filesystem target writes a hidden `.part` file and
renames it, the object store only makes an object visible once its (multipart) upload completes. A rerun skips
an object the target already holds with the same size and hash, so an interrupted migration resumes where it
stopped. Every copy and source removal is logged as a storage operation.

This module works on two explicit backends at once, below `videos.media_store` (which serves the configured
one): it is part of the storage layer, which is why it may turn a name into a path on the filesystem side.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages

from audit.models import StorageOperationType
from audit.services import storage_operation
from videos import media_store
from videos.media_store import MediaObjectMissing, MediaStoreError, MediaStoreUnavailable
from videos.models import Video

logger = logging.getLogger(__name__)

BACKENDS = ("local", "s3")
VIDEO_MEDIA_FOLDERS = ("videos",)
# After this many objects in a row fail because a store cannot be reached, the rest are not tried: waiting out
# every object's timeouts would only delay the report (and a rerun resumes anyway).
UNREACHABLE_LIMIT = 3


class StorageMigrationRefused(Exception):
    """The migration cannot start as configured (same backend on both sides, no bucket, a store unreachable)."""


@dataclass(frozen=True)
class MediaReference:
    """A stored object some row refers to, and what it is for the report."""

    name: str
    kind: str
    video_id: uuid.UUID | None = None


def video_media_references() -> list[MediaReference]:
    """Every object a video row refers to, soft-deleted videos included (their originals wait for the purge)."""
    references = []
    rows = Video.objects.values_list("pk", "file", "rendition", "poster", "thumbnails_sprite")
    for video_id, *names in rows.iterator(chunk_size=2000):
        for kind, name in zip(("original", "rendition", "poster", "thumbnails"), names, strict=True):
            if name:
                references.append(MediaReference(name=name, kind=kind, video_id=video_id))
    return references


def object_store_from_settings() -> Storage:
    """The S3-compatible store MEDIA_S3_* describe, whatever MEDIA_STORAGE says (the settings' own options)."""
    if not settings.MEDIA_S3_BUCKET:
        raise StorageMigrationRefused("MEDIA_S3_BUCKET is not set: say which bucket (and MEDIA_S3_*) to move to")
    from botocore.config import Config
    from storages.backends.s3 import S3Storage

    return S3Storage(
        bucket_name=settings.MEDIA_S3_BUCKET,
        endpoint_url=settings.MEDIA_S3_ENDPOINT_URL,
        region_name=settings.MEDIA_S3_REGION,
        access_key=settings.MEDIA_S3_ACCESS_KEY_ID,
        secret_key=settings.MEDIA_S3_SECRET_ACCESS_KEY,
        location=settings.MEDIA_S3_PREFIX,
        addressing_style=settings.MEDIA_S3_ADDRESSING_STYLE,
        signature_version="s3v4",
        default_acl=None,
        file_overwrite=True,  # the migration replaces an object that failed its check
        client_config=Config(
            connect_timeout=settings.MEDIA_S3_CONNECT_TIMEOUT_SECONDS,
            read_timeout=settings.MEDIA_S3_READ_TIMEOUT_SECONDS,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": settings.MEDIA_S3_ADDRESSING_STYLE},
            signature_version="s3v4",
        ),
    )


def storage_for_backend(backend: str) -> Storage:
    """The storage a migration writes to: "s3" from MEDIA_S3_*, "local" under MEDIA_ROOT."""
    if backend == "s3":
        return object_store_from_settings()
    if backend == "local":
        return FileSystemStorage(location=settings.MEDIA_ROOT)
    raise StorageMigrationRefused(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")


class HashingReader:
    """A binary stream over another that hashes and counts what passes through, telling `on_bytes` as it goes."""

    def __init__(self, stream, on_bytes: Callable[[int], None] | None = None) -> None:
        self._stream = stream
        self._on_bytes = on_bytes
        self._digest = hashlib.sha256()
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(media_store.COPY_CHUNK_BYTES), b""))
        data = self._stream.read(size)
        if data:
            self._digest.update(data)
            self.bytes_read += len(data)
            if self._on_bytes is not None:
                self._on_bytes(len(data))
        return data

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class StorageSide:
    """One backend of a migration: list, read, write (never half under the final name), hash, remove."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.is_object_store = media_store.uses_object_store(storage)
        self.label = media_store.backend_label(storage)

    def describe(self) -> str:
        if self.is_object_store:
            location = self.storage.location.strip("/")
            return f"s3://{self.storage.bucket_name}/{location + '/' if location else ''}"
        return str(self.storage.location)

    def check_reachable(self) -> None:
        if self.is_object_store:
            with media_store.translated_errors(""):
                self.storage.connection.meta.client.head_bucket(Bucket=self.storage.bucket_name)

    def _path(self, name: str) -> Path:
        return Path(self.storage.path(name))

    def _object(self, name: str):
        return self.storage.bucket.Object(media_store._object_key(self.storage, name))

    def listing(self, folders: Iterable[str]) -> dict[str, int]:
        """Name -> size of every object under the folders."""
        found: dict[str, int] = {}
        for folder in sorted({folder.strip("/") for folder in folders if folder.strip("/")}):
            if not self.is_object_store:
                root = Path(self.storage.location)
                for directory, _subfolders, files in os.walk(root / folder):
                    for file_name in files:
                        path = Path(directory) / file_name
                        try:
                            found[path.relative_to(root).as_posix()] = path.stat().st_size
                        except FileNotFoundError:
                            continue
                continue
            location = self.storage.location.strip("/")
            prefix = "/".join(part for part in (location, folder) if part) + "/"
            with media_store.translated_errors(folder):
                paginator = self.storage.connection.meta.client.get_paginator("list_objects_v2")
                for page in paginator.paginate(Bucket=self.storage.bucket_name, Prefix=prefix):
                    for item in page.get("Contents", []):
                        name = item["Key"][len(location) + 1 :] if location else item["Key"]
                        found[name] = int(item["Size"])
        return found

    def size(self, name: str) -> int | None:
        """The object's size, None when there is none under that name."""
        try:
            with media_store.translated_errors(name):
                return self.storage.size(name)
        except MediaObjectMissing:
            return None

    def open(self, name: str):
        with media_store.translated_errors(name):
            if self.is_object_store:
                return self._object(name).get()["Body"]
            return open(self._path(name), "rb")  # noqa: SIM115 - the caller closes it

    def sha256(self, name: str) -> str:
        reader = HashingReader(self.open(name))
        try:
            with media_store.translated_errors(name):
                while reader.read(media_store.COPY_CHUNK_BYTES):
                    pass
        finally:
            reader._stream.close()
        return reader.hexdigest()

    def write(self, name: str, stream, *, content_type: str = "") -> None:
        """Put the stream under `name`; an interrupted write leaves nothing under that name."""
        if self.is_object_store:
            extra = {"ContentType": content_type} if content_type else None
            with media_store.translated_errors(name):
                # A multipart upload that fails is aborted; until it completes no object shows under the name.
                self._object(name).upload_fileobj(stream, ExtraArgs=extra, Config=media_store._transfer_config())
            return
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with open(partial, "wb") as handle:
                shutil.copyfileobj(stream, handle, media_store.COPY_CHUNK_BYTES)
                handle.flush()
                os.fsync(handle.fileno())
            if settings.FILE_UPLOAD_PERMISSIONS is not None:
                os.chmod(partial, settings.FILE_UPLOAD_PERMISSIONS)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    def delete(self, name: str) -> None:
        with media_store.translated_errors(name):
            self.storage.delete(name)
        if not self.is_object_store:
            self._remove_empty_folders(self._path(name).parent)

    def _remove_empty_folders(self, folder: Path) -> None:
        root = Path(self.storage.location).resolve()
        while folder.resolve() != root and root in folder.resolve().parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent


@dataclass(frozen=True)
class MigrationProgress:
    """Where a migration stands, for a progress bar: `name` is the object at hand, `finished` once it is done."""

    objects_done: int
    objects_total: int
    bytes_done: int
    bytes_total: int
    name: str = ""
    outcome: str = ""


@dataclass
class MigrationReport:
    source: str
    target: str
    target_backend: str
    dry_run: bool
    delete_source: bool
    objects_total: int = 0
    bytes_total: int = 0
    copied: list[str] = field(default_factory=list)
    bytes_copied: int = 0
    present: list[str] = field(default_factory=list)  # already at the target, same size and hash: skipped
    would_copy: list[str] = field(default_factory=list)  # dry run
    bytes_to_copy: int = 0  # dry run
    present_same_size: list[str] = field(default_factory=list)  # dry run: hashes are compared on a real run
    source_deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # name -> why
    not_tried: list[str] = field(default_factory=list)  # after the store stopped answering
    orphans: dict[str, int] = field(default_factory=dict)  # unreferenced objects at the source: name -> size
    seconds: float = 0.0

    @property
    def succeeded(self) -> bool:
        return not self.failed and not self.not_tried

    def lines(self) -> list[str]:
        mib = 1024**2
        lines = [f"from {self.source} to {self.target}"]
        if self.dry_run:
            lines += [
                f"referenced objects: {self.objects_total} ({self.bytes_total / mib:.1f} MiB)",
                f"would copy: {len(self.would_copy)} objects ({self.bytes_to_copy / mib:.1f} MiB)",
                f"already at the target with the same size (their hashes are compared on a real run): "
                f"{len(self.present_same_size)}",
            ]
        else:
            rate = self.bytes_copied / mib / self.seconds if self.seconds > 0 else 0.0
            lines += [
                f"referenced objects: {self.objects_total} ({self.bytes_total / mib:.1f} MiB)",
                f"copied and verified: {len(self.copied)} objects ({self.bytes_copied / mib:.1f} MiB, "
                f"{rate:.1f} MiB/s)",
                f"already at the target, same size and SHA-256 (skipped): {len(self.present)}",
            ]
            if self.delete_source:
                lines.append(f"removed from the source after verification: {len(self.source_deleted)}")
        lines.append(f"failed: {len(self.failed)}")
        lines += [f"  {name}: {why}" for name, why in sorted(self.failed.items())]
        if self.not_tried:
            lines.append(f"not tried (a store stopped answering): {len(self.not_tried)}")
        lines.append(
            f"orphans at the source (referenced by nothing, not copied): {len(self.orphans)} "
            f"({sum(self.orphans.values()) / mib:.1f} MiB)"
        )
        return lines


ProgressCallback = Callable[[MigrationProgress], None]


def storage_migrate(
    *,
    target_backend: str,
    references: Iterable[MediaReference],
    orphan_folders: Iterable[str] = VIDEO_MEDIA_FOLDERS,
    dry_run: bool = False,
    delete_source: bool = False,
    progress: ProgressCallback | None = None,
) -> MigrationReport:
    """Copy every referenced object from the configured storage to `target_backend`; see the module's docstring.

    Raises StorageMigrationRefused before copying anything when the backends are the same or a store cannot be
    reached. Failures of single objects are in the report (`succeeded` is false), never raised.
    """
    source = StorageSide(storages["default"])
    if target_backend == source.label:
        raise StorageMigrationRefused(
            f"media is already stored on {source.label} (MEDIA_STORAGE={settings.MEDIA_STORAGE}): nothing to move"
        )
    target = StorageSide(storage_for_backend(target_backend))
    report = MigrationReport(
        source=source.describe(),
        target=target.describe(),
        target_backend=target_backend,
        dry_run=dry_run,
        delete_source=delete_source,
    )
    for side, role in ((source, "source"), (target, "target")):
        try:
            side.check_reachable()
        except MediaStoreError as exc:
            raise StorageMigrationRefused(f"the {role} store ({side.describe()}) cannot be reached: {exc}") from exc

    wanted: dict[str, MediaReference] = {}
    for reference in references:
        wanted.setdefault(reference.name, reference)
    folders = {name.split("/", 1)[0] for name in wanted if "/" in name} | set(orphan_folders)
    try:
        at_source = source.listing(folders)
        at_target = target.listing(folders)
        for name in wanted:
            if "/" not in name:  # outside every folder listed: asked for by name
                for side, found in ((source, at_source), (target, at_target)):
                    if (size := side.size(name)) is not None:
                        found[name] = size
    except MediaStoreError as exc:
        raise StorageMigrationRefused(f"could not list the stored objects: {exc}") from exc

    orphan_prefixes = tuple(f"{folder.strip('/')}/" for folder in orphan_folders)
    report.orphans = {
        name: size
        for name, size in sorted(at_source.items())
        if name not in wanted and name.startswith(orphan_prefixes)
    }
    report.objects_total = len(wanted)
    report.bytes_total = sum(at_source.get(name, 0) for name in wanted)

    migration = _Migration(report=report, source=source, target=target, progress=progress)
    started = time.monotonic()
    for name, reference in sorted(wanted.items()):
        if migration.unreachable_in_a_row >= UNREACHABLE_LIMIT:
            report.not_tried.append(name)
            continue
        migration.one(
            reference, source_size=at_source.get(name), target_size=at_target.get(name), delete_source=delete_source
        )
    report.seconds = time.monotonic() - started
    logger.info("storage migration: %s", "; ".join(report.lines()))
    return report


@dataclass
class _Migration:
    report: MigrationReport
    source: StorageSide
    target: StorageSide
    progress: ProgressCallback | None
    objects_done: int = 0
    bytes_done: int = 0
    unreachable_in_a_row: int = 0

    def _tell(self, name: str, outcome: str = "") -> None:
        if self.progress is not None:
            self.progress(
                MigrationProgress(
                    objects_done=self.objects_done,
                    objects_total=self.report.objects_total,
                    bytes_done=self.bytes_done,
                    bytes_total=self.report.bytes_total,
                    name=name,
                    outcome=outcome,
                )
            )

    def _advance(self, size: int) -> None:
        self.bytes_done += size
        self._tell("")

    def one(self, reference: MediaReference, *, source_size, target_size, delete_source: bool) -> None:
        name = reference.name
        report = self.report
        if report.dry_run:
            if source_size is None:
                outcome = "missing" if target_size is None else "already at the target"
                if target_size is None:
                    report.failed[name] = "missing at the source"
            elif target_size == source_size:
                report.present_same_size.append(name)
                outcome = "already at the target"
            else:
                report.would_copy.append(name)
                report.bytes_to_copy += source_size
                outcome = "would copy"
            self.objects_done += 1
            self.bytes_done += source_size or 0
            self._tell(name, outcome)
            return
        bytes_before = self.bytes_done
        try:
            outcome = self._copy_or_skip(reference, source_size=source_size, target_size=target_size)
            if delete_source and outcome in {"copied", "already at the target"} and source_size is not None:
                self._delete_source(reference)
            self.unreachable_in_a_row = 0
        except MediaStoreUnavailable as exc:
            self.unreachable_in_a_row += 1
            report.failed[name] = f"{type(exc).__name__}: {exc}"
            outcome = "failed"
        except (MediaStoreError, OSError) as exc:  # CopyVerificationFailed among them
            self.unreachable_in_a_row = 0
            report.failed[name] = f"{type(exc).__name__}: {exc}"
            outcome = "failed"
        if outcome == "failed":
            logger.warning("storage migration: %s failed: %s", name, report.failed[name])
        self.objects_done += 1
        self.bytes_done = bytes_before + (source_size or 0)
        self._tell(name, outcome)

    def _copy_or_skip(self, reference: MediaReference, *, source_size, target_size) -> str:
        name = reference.name
        if source_size is None:
            if target_size is not None:
                # Moved by an earlier run that also removed the source: nothing left to compare it with.
                self.report.present.append(name)
                return "already at the target (source gone)"
            raise MediaObjectMissing("missing at the source")
        if target_size == source_size and self.source.sha256(name) == self.target.sha256(name):
            self.report.present.append(name)
            return "already at the target"
        self._copy(reference, size=source_size)
        self.report.copied.append(name)
        self.report.bytes_copied += source_size
        return "copied"

    def _copy(self, reference: MediaReference, *, size: int) -> None:
        name = reference.name
        with storage_operation(
            operation=StorageOperationType.COPY,
            path=name,
            video_id=reference.video_id,
            size_bytes=size,
        ):
            stream = self.source.open(name)
            try:
                reader = HashingReader(stream, on_bytes=self._advance)
                self.target.write(name, _stream_to_target(reader), content_type=_content_type(name))
            finally:
                stream.close()
            written = self.target.size(name)
            if written != reader.bytes_read or (copied := self.target.sha256(name)) != reader.hexdigest():
                found = f"{written} bytes" if written != reader.bytes_read else f"SHA-256 {copied}"
                self.target.delete(name)
                raise CopyVerificationFailed(
                    f"read back from the target: {found}, the source gave {reader.bytes_read} bytes with SHA-256 "
                    f"{reader.hexdigest()}; the target's copy was removed"
                )

    def _delete_source(self, reference: MediaReference) -> None:
        name = reference.name
        with storage_operation(
            operation=StorageOperationType.DELETE,
            path=name,
            video_id=reference.video_id,
            size_bytes=self.source.size(name),
        ):
            self.source.delete(name)
        self.report.source_deleted.append(name)


class CopyVerificationFailed(MediaStoreError):
    """The target's copy does not match the source (size or SHA-256): it was removed again."""


def _stream_to_target(reader: HashingReader):
    """What the target's writer reads: the hashing reader itself (a seam for tests that damage a copy)."""
    return reader


def _content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
