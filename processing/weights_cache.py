"""Registered model weights on the worker's own disk, whichever store keeps them.

The detector loads weights from a local file (through the restricted loader, processing.weights_loading). On
the filesystem backend that is the stored file itself. From the object store each file is copied once per
content hash into MEDIA_WEIGHTS_CACHE_DIR/<sha256><suffix>: streamed into a temporary name, its SHA-256 checked
against the registered one, then renamed into place, so a worker killed mid-copy never leaves a file that looks
whole, and workers filling the same entry at once each rename identical bytes.
"""

import hashlib
import logging
import os
import uuid
from pathlib import Path

from django.conf import settings

from videos import media_store

logger = logging.getLogger(__name__)

COPY_CHUNK_BYTES = 1 << 20


class WeightsMismatch(Exception):
    """The stored weights' bytes are not those registered (their SHA-256 differs): they are not loaded."""


def weights_cache_dir() -> Path:
    folder = Path(settings.MEDIA_WEIGHTS_CACHE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _cache_entry_name(*, name: str, sha256: str) -> str:
    suffix = Path(name).suffix.lower() or ".pt"
    # Weights registered before hashes were kept: named after the storage name, never verified.
    key = sha256 or f"name-{hashlib.sha256(name.encode()).hexdigest()}"
    return f"{key}{suffix}"


def local_weights_path(*, name: str, sha256: str) -> Path:
    """A local file holding the stored weights `name` (registered with `sha256`), filled once per content hash.

    Raises media_store.MediaObjectMissing when nothing is stored under `name`, MediaStoreUnavailable when the
    store cannot be reached, WeightsMismatch when the stored bytes are not the registered ones.
    """
    stored = media_store.filesystem_path(name)
    if stored is not None:
        if not stored.is_file():
            raise media_store.MediaObjectMissing(f"no stored object {name!r}")
        return stored
    target = weights_cache_dir() / _cache_entry_name(name=name, sha256=sha256)
    if target.is_file():
        return target
    _fill(target, name=name, sha256=sha256)
    return target


def _fill(target: Path, *, name: str, sha256: str) -> None:
    temporary = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part")
    digest = hashlib.sha256()
    size = 0
    try:
        source = media_store.open_for_reading(name)
        # Only reads are the store's errors: a local write that fails (a full disk) is raised as it is.
        with source, open(temporary, "wb") as copy:
            while True:
                with media_store.translated_errors(name):
                    chunk = source.read(COPY_CHUNK_BYTES)
                if not chunk:
                    break
                digest.update(chunk)
                copy.write(chunk)
                size += len(chunk)
        if sha256 and digest.hexdigest() != sha256:
            raise WeightsMismatch(
                f"the stored weights {name!r} have SHA-256 {digest.hexdigest()}, not the registered {sha256}"
            )
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    logger.info("copied weights %s (%s bytes) into the local cache as %s", name, size, target.name)


def weights_cache_sweep() -> int:
    """Remove temporary copies left by killed processes (a finished entry is kept: it is valid by its name)."""
    folder = Path(settings.MEDIA_WEIGHTS_CACHE_DIR)
    if not folder.is_dir():
        return 0
    removed = 0
    for leftover in folder.glob(".*.part"):
        pid = leftover.name.rsplit(".", 2)[-2].split("-")[0]
        if pid.isdigit() and (int(pid) == os.getpid() or media_store.process_alive(int(pid))):
            continue
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed
