"""Installing detection weights by catalog name, URL or server path: download, prove, register.

A request makes a `ModelInstall` row; the download (a Celery task, or the management command in the
foreground) streams into a partial file on the worker's own disk (`downloads_dir`), resumes it with a Range
request after a cut, loads the finished file through the restricted loader (processing.weights_loading, via the
registry's inspection), and registers it under its SHA-256: the file is stored through the model's FileField,
on the filesystem or in the object store. A download that fails keeps its partial file, so the next install of the
same source resumes where this one stopped; nothing is registered until the whole file has loaded.
"""

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import urllib3
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from mediaplatform.outbound import (
    REDIRECT_STATUSES,
    OutboundRefused,
    deadline_passed,
    host_header,
    outbound_target,
    pinned_connection_pool,
    redirect_url,
)
from mediaplatform.service_errors import ServiceError
from processing.catalog import catalog_entry
from processing.detector import file_sha256
from processing.models import DetectorModel, InstallStatus, ModelInstall
from processing.services.registry import InvalidWeights, _model_save, weights_inspect
from videos import media_store

logger = logging.getLogger(__name__)

# Generous for the largest catalog model (about 40 MB) yet bounded: a server that never stops sending is cut off.
MAX_DOWNLOAD_BYTES = 1 << 30
DOWNLOAD_DEADLINE_SECONDS = 30 * 60
# A cut connection is resumed this many times within one install before it is given up.
DOWNLOAD_ATTEMPTS = 3
MAX_REDIRECTS = 5
CHUNK_BYTES = 1 << 16
# Progress is written (and pushed to staff) about this often, in bytes, so a fast download costs few writes.
PROGRESS_STEP_BYTES = 1 << 20
WEIGHTS_SUFFIXES = (".pt", ".onnx")

CUT = "the connection was cut before the whole file arrived"

ProgressCallback = Callable[[int, int | None], None]


class InstallRefused(ServiceError):
    default_code = "install_refused"
    default_status_code = 400


class DownloadFailed(Exception):
    """The file could not be fetched whole; the message says why, for the person who asked."""


DOWNLOADS_FOLDER = "model-downloads"


def downloads_dir() -> Path:
    """Where downloads in progress are kept between attempts: beside the media on the filesystem backend, in the
    worker's scratch folder with the object store (partial files are never media; the finished file is stored
    through the model's FileField)."""
    folder = media_store.filesystem_path(DOWNLOADS_FOLDER)
    if folder is None:
        folder = Path(settings.MEDIA_SCRATCH_DIR) / DOWNLOADS_FOLDER
    return folder


def _source_resolve(source: str) -> tuple[str, str, str]:
    """(catalog name, URL, local path) for a source: a catalog name, an http(s) URL or a server path."""
    entry = catalog_entry(source)
    if entry is not None:
        return entry.name, urljoin(settings.MODEL_DOWNLOAD_BASE_URL.rstrip("/") + "/", entry.file_name), ""
    if urlsplit(source).scheme in {"http", "https"}:
        return "", source, ""
    if "/" in source or source.lower().endswith(WEIGHTS_SUFFIXES):
        return "", "", source
    raise InstallRefused(
        f"{source!r} is not in the model catalog.", code="not_found", status_code=404, details={"name": source}
    )


def _file_name(install: ModelInstall) -> str:
    if install.catalog_name:
        return catalog_entry(install.catalog_name).file_name
    name = Path(urlsplit(install.url).path if install.url else install.source).name
    return name if name.lower().endswith(WEIGHTS_SUFFIXES) else f"{name or 'weights'}.pt"


def _partial_path(install: ModelInstall) -> Path:
    # Keyed by the URL, so a later install of the same source resumes this one's bytes.
    key = hashlib.sha256(install.url.encode()).hexdigest()[:16]
    return downloads_dir() / f"{key}-{_file_name(install)}.part"


def model_install_request(
    *, actor: AbstractBaseUser | None, source: str, make_default: bool = False, allow_paths: bool = False
) -> ModelInstall:
    """Record an install of `source`. Raises InstallRefused: 404 unknown catalog name, 409 installed or under way.

    Paths on the server are for the management command only (`allow_paths`): an API caller names catalog models.
    """
    catalog_name, url, path = _source_resolve(source.strip())
    if path and not allow_paths:
        raise InstallRefused(f"{source!r} is not in the model catalog.", code="not_found", status_code=404)
    if url and not catalog_name:
        try:
            outbound_target(url)
        except OutboundRefused as exc:
            raise InstallRefused(exc.message, code="url_refused", status_code=400)
    if catalog_name and DetectorModel.objects.filter(name=catalog_name).exists():
        raise InstallRefused(f"{catalog_name} is installed already.", code="conflict", status_code=409)
    busy = [InstallStatus.QUEUED, InstallStatus.DOWNLOADING, InstallStatus.VERIFYING]
    # An install whose row has not moved for a whole download deadline died with its worker: it blocks nothing.
    alive_since = timezone.now() - timedelta(seconds=DOWNLOAD_DEADLINE_SECONDS)
    if ModelInstall.objects.filter(source=source.strip(), status__in=busy, updated_at__gte=alive_since).exists():
        raise InstallRefused(f"{source} is being installed already.", code="conflict", status_code=409)
    return ModelInstall.objects.create(
        source=source.strip(), catalog_name=catalog_name, url=url, make_default=make_default, requested_by=actor
    )


def model_install_enqueue(*, install: ModelInstall) -> None:
    from processing.tasks import install_model

    transaction.on_commit(lambda: install_model.delay(install.pk))


def _progress_save(install: ModelInstall, **fields) -> None:
    for name, value in fields.items():
        setattr(install, name, value)
    install.save(update_fields=[*fields, "updated_at"])
    _progress_push(install)


def _progress_push(install: ModelInstall) -> None:
    """Tell staff sockets (they follow every video) how the install stands; the row is committed already."""
    from channels.layers import get_channel_layer

    from notifications.groups import ALL_VIDEOS_GROUP
    from notifications.services.layer_loop import run_on_layer_loop

    event = {
        "event_type": "model_install.progress",
        "install_id": install.pk,
        "source": install.source,
        "status": install.status,
        "bytes_done": install.bytes_done,
        "bytes_total": install.bytes_total,
        "error": install.error,
    }
    try:
        run_on_layer_loop(
            get_channel_layer().group_send(ALL_VIDEOS_GROUP, {"type": "video.event", "event": event}), timeout=5
        )
    except Exception:  # progress is in the row too; a missed push is not a failed install
        logger.warning("could not push install %s progress", install.pk, exc_info=True)


def _open(url: str, *, headers: dict, deadline: float, trusted: bool):
    """The response for url (redirects followed, each hop checked unless the operator configured the source)."""
    for _ in range(MAX_REDIRECTS + 1):
        if trusted:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            scheme, host, address = parts.scheme, parts.hostname, parts.hostname
        else:
            target = outbound_target(url)
            scheme, host, port, path, address = target.scheme, target.host, target.port, target.path, target.address
        pool = pinned_connection_pool(scheme=scheme, host=host, port=port, address=address, deadline=deadline)
        response = pool.urlopen(
            "GET",
            path,
            headers={**headers, "Host": host_header(host, port)},
            redirect=False,
            preload_content=False,
            decode_content=False,
        )
        if response.status not in REDIRECT_STATUSES:
            return response
        location = response.headers.get("Location", "")
        response.release_conn()
        url = redirect_url(url, location)
    raise DownloadFailed("The download was redirected too many times.")


def _download_once(install: ModelInstall, partial: Path, *, deadline: float, on_progress) -> bool:
    """One request, appending to `partial` from where it ends. True when the file is whole."""
    have = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    response = _open(install.url, headers=headers, deadline=deadline, trusted=bool(install.catalog_name))
    try:
        if response.status == 416 and have:
            partial.unlink()  # the partial file is not a prefix of what the server has now: start over
            return False
        if response.status not in (200, 206):
            raise DownloadFailed(f"The server answered {response.status} for {install.url}.")
        if response.status == 200:
            have = 0  # no resume from this server: start over
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        if total is not None and total > MAX_DOWNLOAD_BYTES:
            raise DownloadFailed(f"The file is {total} bytes, more than the {MAX_DOWNLOAD_BYTES} allowed.")
        _progress_save(install, status=InstallStatus.DOWNLOADING, bytes_done=have, bytes_total=total)
        reported = have
        with open(partial, "ab" if have else "wb") as handle:
            for chunk in response.stream(CHUNK_BYTES, decode_content=False):
                handle.write(chunk)
                have += len(chunk)
                if have > MAX_DOWNLOAD_BYTES:
                    raise DownloadFailed(f"The file is more than the {MAX_DOWNLOAD_BYTES} bytes allowed.")
                if on_progress:
                    on_progress(have, total)
                if have - reported >= PROGRESS_STEP_BYTES:
                    _progress_save(install, bytes_done=have)
                    reported = have
        _progress_save(install, bytes_done=have)
        return total is None or have == total
    finally:
        response.release_conn()


def _download(install: ModelInstall, *, on_progress: ProgressCallback | None) -> Path:
    partial = _partial_path(install)
    partial.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + DOWNLOAD_DEADLINE_SECONDS
    last_error = ""
    for _attempt in range(DOWNLOAD_ATTEMPTS):
        try:
            if _download_once(install, partial, deadline=deadline, on_progress=on_progress):
                # Whole: renamed to its real suffix, which the loader goes by.
                return partial.replace(partial.with_suffix(""))
            last_error = CUT
        except OutboundRefused as exc:
            raise DownloadFailed(exc.message)
        except urllib3.exceptions.HTTPError as exc:
            if deadline_passed(deadline):
                raise DownloadFailed(f"The download took longer than {DOWNLOAD_DEADLINE_SECONDS} s.")
            cut = isinstance(exc, urllib3.exceptions.ProtocolError)
            last_error = CUT if cut else f"the connection failed ({type(exc).__name__})"
    raise DownloadFailed(
        f"The download of {install.url} failed: {last_error}, {DOWNLOAD_ATTEMPTS} times. "
        f"The {partial.stat().st_size if partial.exists() else 0} bytes received are kept and the next install "
        "resumes from them."
    )


def _register(install: ModelInstall, path: Path) -> DetectorModel:
    _progress_save(install, status=InstallStatus.VERIFYING)
    entry = catalog_entry(install.catalog_name) if install.catalog_name else None
    image_size = entry.input_size if entry else 640
    try:
        details = weights_inspect(path=str(path), image_size=image_size)
    except InvalidWeights as exc:
        raise InstallRefused(f"These weights do not load: {exc}", code="invalid_weights", status_code=422)
    sha256 = file_sha256(path)
    install.sha256 = sha256
    existing = DetectorModel.objects.filter(sha256=sha256).first()
    if existing is not None:
        raise InstallRefused(
            f"This file is registered already, as {existing}.", code="conflict", status_code=409,
            details={"model_id": existing.pk},
        )  # fmt: skip
    name = install.catalog_name or Path(_file_name(install)).stem
    description = (
        f"{install.catalog_name} from the model catalog ({install.url})."
        if install.catalog_name
        else f"Installed from {install.url or install.source}."
    )
    try:
        with open(path, "rb") as handle:
            return _model_save(
                name=name,
                version=sha256[:12],
                weights=File(handle),
                filename=_file_name(install),
                input_size=details["input_size"],
                framework=details["framework"],
                is_default=install.make_default,
                description=description,
                sha256=sha256,
                class_names=details["class_names"],
                actor=install.requested_by,
            )
    except IntegrityError:
        raise InstallRefused(f"{name} is registered already.", code="conflict", status_code=409)


def model_install_run(*, install_id: int, on_progress: ProgressCallback | None = None) -> ModelInstall:
    """Download (or read), prove and register one install. The row ends installed or failed with the reason;
    a refusal is raised again as InstallRefused for a caller in the foreground, a failed download as one too."""
    install = ModelInstall.objects.get(pk=install_id)
    try:
        if install.url:
            path = _download(install, on_progress=on_progress)
        else:
            path = Path(install.source)
            if not path.is_file():
                raise InstallRefused(f"No file at {path}.", code="not_found", status_code=404)
        model = _register(install, path)
    except DownloadFailed as exc:
        _progress_save(install, status=InstallStatus.FAILED, error_code="download_failed", error=str(exc))
        raise InstallRefused(str(exc), code="download_failed", status_code=502) from exc
    except InstallRefused as exc:
        _progress_save(install, status=InstallStatus.FAILED, error_code=exc.code, error=exc.message)
        if install.url:
            _partial_path(install).with_suffix("").unlink(missing_ok=True)  # whole but refused: nothing to resume
        raise
    if install.url:
        path.unlink(missing_ok=True)
    _progress_save(install, status=InstallStatus.INSTALLED, detector_model=model, sha256=model.sha256, error="")
    logger.info("installed %s as %s", install.source, model)
    return install
