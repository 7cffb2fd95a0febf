"""Creating a video from a `source_url`, synchronously and within tight limits.

Every hop is checked before it is fetched, by mediaplatform.outbound as for webhooks: http/https only; the
host is resolved once and each of its addresses must be public (no loopback, private, link-local, multicast,
reserved, shared or metadata ranges) unless settings.URL_IMPORT_ALLOWED_NETWORKS names its network; the
connection then goes to that very address (no second DNS lookup a rebinding attack could answer differently),
with TLS still checked against the host name. Redirects are followed here, hop by hop, with the same checks.
The body streams to a temporary file (never into memory) under VIDEO_MAX_UPLOAD_BYTES, its first bytes are
sniffed before the rest is fetched, and the file is handed to `video_create`, which moves it into the media
store. One deadline (URL_IMPORT_TIMEOUT_SECONDS) covers the whole download, every hop included, and every socket
read is given only the time left (mediaplatform.outbound), so a server trickling bytes cannot hold the request's
thread past it.

Synchronous on purpose: the client learns at once whether the URL was taken, and the limits (size, time,
redirects) bound what a request may cost; processing itself is queued as for uploads.
"""

import hashlib
import logging
import time
from urllib.parse import unquote, urlsplit

import urllib3
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile

from audit.models import StorageOperationType
from audit.services import storage_operation
from mediaplatform.outbound import (
    REDIRECT_STATUSES,
    OutboundRefused,
    OutboundTarget,
    deadline_passed,
    exchange_timed_out,
    host_header,
    outbound_target,
    pinned_connection_pool,
    redirect_url,
)
from videos.models import Video
from videos.services.creation import VideoRejected, clean_filename, video_create
from videos.sniffing import SNIFF_BYTES, sniff_video_mime_type

logger = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024
USER_AGENT = "mediaplatform-url-import/1.0"


def _refuse(message: str, *, code: str = "source_url_refused", status_code: int = 400) -> VideoRejected:
    return VideoRejected(code=code, message=message, status_code=status_code)


def _timed_out() -> VideoRejected:
    return _refuse(
        f"The download took longer than {settings.URL_IMPORT_TIMEOUT_SECONDS:g} s.",
        code="source_fetch_timeout",
        status_code=422,
    )


_REFUSAL_CODES = {
    "invalid": "invalid_source_url",
    "unresolvable": "source_url_unresolvable",
    "address": "source_url_refused",
}


def _check_url(url: str) -> OutboundTarget:
    if len(url) > 2000:
        raise _refuse("The URL is longer than 2000 characters.", code="invalid_source_url")
    try:
        return outbound_target(url)
    except OutboundRefused as refused:
        raise _refuse(refused.message, code=_REFUSAL_CODES[refused.reason])


def _open(url: str, deadline: float) -> tuple[urllib3.BaseHTTPResponse, str]:
    """The response of the final hop (status 200), and its URL."""
    for _hop in range(settings.URL_IMPORT_MAX_REDIRECTS + 1):
        if deadline_passed(deadline):
            raise _timed_out()
        target = _check_url(url)
        pool = pinned_connection_pool(
            scheme=target.scheme, host=target.host, port=target.port, address=target.address, deadline=deadline
        )
        try:
            response = pool.urlopen(
                "GET",
                target.path,
                headers={
                    "Host": host_header(target.host, target.port),
                    "User-Agent": USER_AGENT,
                    "Accept": "video/*, */*",
                },
                redirect=False,
                preload_content=False,
                retries=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            if exchange_timed_out(exc, deadline):
                raise _timed_out()
            raise _refuse(
                f"Fetching the URL failed: {exc.__class__.__name__}.", code="source_fetch_failed", status_code=422
            )
        if response.status in REDIRECT_STATUSES:
            location = response.headers.get("Location")
            response.release_conn()
            if not location:
                raise _refuse("The URL redirected without a Location.", code="source_fetch_failed", status_code=422)
            url = redirect_url(url, location)
            continue
        if response.status != 200:
            response.release_conn()
            raise _refuse(f"The URL answered HTTP {response.status}.", code="source_fetch_failed", status_code=422)
        return response, url
    raise _refuse("The URL redirected too many times.", code="source_fetch_failed", status_code=422)


def _download(url: str, *, sniff=sniff_video_mime_type, served: str = "a video container") -> tuple[UploadedFile, str]:
    """The body of `url` in a temporary file, and the final URL; `sniff` (first bytes -> MIME type or None) says
    whether the body is what the caller reads, `served` names that in the refusal."""
    limit = settings.VIDEO_MAX_UPLOAD_BYTES
    deadline = time.monotonic() + settings.URL_IMPORT_TIMEOUT_SECONDS
    response, final_url = _open(url, deadline)
    too_large = _refuse(f"The file is larger than the limit of {limit} bytes.", code="file_too_large", status_code=413)
    try:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_large
        digest = hashlib.sha256()
        # A temporary upload file (in FILE_UPLOAD_TEMP_DIR) that storing moves into the media store, not copies.
        uploaded = TemporaryUploadedFile(name="download", content_type=None, size=0, charset=None)
        handle = uploaded.file
        size = 0
        head = b""
        try:
            for chunk in response.stream(CHUNK_BYTES):
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                    if len(head) >= SNIFF_BYTES and sniff(head) is None:
                        raise _refuse(
                            f"The URL does not serve {served} this platform reads.",
                            code="unsupported_media_type",
                            status_code=415,
                        )
                size += len(chunk)
                if size > limit:
                    raise too_large
                digest.update(chunk)
                handle.write(chunk)
        except urllib3.exceptions.HTTPError as exc:
            handle.close()
            if exchange_timed_out(exc, deadline):
                raise _timed_out()
            raise _refuse(
                f"The download failed: {exc.__class__.__name__}.", code="source_fetch_failed", status_code=422
            )
        except BaseException:
            handle.close()
            raise
    finally:
        response.release_conn()
    handle.flush()
    handle.seek(0)
    uploaded.name = clean_filename(unquote(urlsplit(final_url).path.rsplit("/", 1)[-1]) or "download")
    uploaded.content_type = response.headers.get("Content-Type")
    uploaded.size = size
    uploaded.sha256 = digest.hexdigest()
    return uploaded, final_url


def url_download(*, url: str, sniff=sniff_video_mime_type, served: str = "a video container") -> UploadedFile:
    """Fetch `url` within the limits above into a temporary file (closed by the caller). Raises VideoRejected."""
    uploaded, final_url = _download(url, sniff=sniff, served=served)
    logger.info("downloaded %s bytes from %s (final %s)", uploaded.size, url, final_url)
    return uploaded


def video_import_from_url(
    *, owner: AbstractBaseUser, source_url: str, title: str = "", frame_step: int | None = None, **create_kwargs
) -> Video:
    """Fetch the URL within the limits and create the video from it. Raises VideoRejected, storing nothing."""
    with storage_operation(operation=StorageOperationType.DOWNLOAD, path=source_url, actor=owner) as download:
        uploaded, final_url = _download(source_url)
        download.size_bytes = uploaded.size
    try:
        video = video_create(owner=owner, uploaded_file=uploaded, title=title, frame_step=frame_step, **create_kwargs)
    finally:
        uploaded.close()
    Video.objects.filter(pk=video.pk).update(source_url=source_url[:2000])
    video.source_url = source_url[:2000]
    logger.info("video %s imported from %s (final %s)", video.pk, source_url, final_url)
    return video
