"""Serving a stored video and the files made from it to the player, with HTTP range requests (RFC 9110 section 14).

Django checks who may read the file; behind nginx it then hands the sending to nginx (X-Accel-Redirect), which
answers ranges and validators itself. Without nginx in front, the file is streamed from here as described below.
When media lives in an object store (videos.media_store), the answer is instead a 302 to a short-lived presigned
URL of the object, which the store serves with ranges itself: no byte passes through this host.

One byte range per request (what players ask for); a Range header in another unit is ignored and the
whole file is sent. An unsatisfiable or malformed byte range is answered 416 with `Content-Range: bytes */size`.
The file is streamed from disk in blocks, never read whole.
"""

import mimetypes
import re
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.utils.http import http_date
from django.views.decorators.http import require_safe

from audit.models import StorageOperationType
from audit.services import storage_operation
from videos import media_store
from videos.media_signing import signed_media_name
from videos.models import Video
from videos.selectors_dashboard import video_file_for_user

BLOCK_SIZE = 256 * 1024
_RANGE = re.compile(r"^\s*([0-9]*)\s*-\s*([0-9]*)\s*$")
# A position written with more digits than this is past the end of any file: it is read as BEYOND_ANY_FILE
# rather than converted (int() of thousands of digits is slow, and past 4,300 digits raises ValueError).
_MAX_POSITION_DIGITS = 19
BEYOND_ANY_FILE = 10**_MAX_POSITION_DIGITS


def _position(digits: str) -> int:
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= _MAX_POSITION_DIGITS else BEYOND_ANY_FILE


class RangeNotSatisfiable(Exception):
    pass


def parse_byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte positions a Range header asks for, or None to send the whole file.

    Raises RangeNotSatisfiable for a byte range that is malformed or starts past the end.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None  # several ranges: we send the whole file, which the RFC allows
    match = _RANGE.match(spec)
    if not match or match.groups() == ("", ""):
        raise RangeNotSatisfiable
    first, last = match.groups()
    if first == "":  # the last N bytes
        length = _position(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(size - length, 0), size - 1
    first = _position(first)
    last = size - 1 if last == "" else min(_position(last), size - 1)
    if first >= size or last < first:
        raise RangeNotSatisfiable
    return first, last


class BoundedFile:
    """A read-only view of `length` bytes of an open file from its current position (for FileResponse)."""

    def __init__(self, handle, length: int):
        self.handle = handle
        self.remaining = length

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self.handle.read(size)
        self.remaining -= len(data)
        return data

    def close(self) -> None:
        self.handle.close()


# nginx sets this header on every request it passes on (mediaplatform/nginx.conf.template), naming the internal
# location that serves MEDIA_ROOT; a client's own value never arrives (nginx replaces it). Without it (runserver,
# the test client) the file is streamed here.
ACCEL_HEADER = "HTTP_X_MEDIA_ACCEL"
# Each stored file's name changes with its content (the original is bound to the video's id, derived files to
# the source's hash and the recipe), so a browser may keep what it fetched for good.
CACHE_CONTROL = "private, max-age=31536000, immutable"
DERIVED_CONTENT_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg"}


def _video_or_404(request, video_id) -> Video:
    try:
        return video_file_for_user(user=request.user, video_id=video_id)
    except Video.DoesNotExist:
        raise Http404("No such video.")


@require_safe
@login_required
def video_file(request, video_id):
    """The video's stored original for its owner or staff; 404 for anyone else, as if there were none."""
    video = _video_or_404(request, video_id)
    if not video.file:
        raise Http404("This video has no stored file.")
    content_type = video.mime_type or mimetypes.guess_type(video.file.name)[0] or "application/octet-stream"
    return serve_stored_file(
        request,
        video=video,
        name=video.file.name,
        content_type=content_type,
        etag=video.file_hash,
        download_name=video.original_filename or PurePosixPath(video.file.name).name,
        size_bytes=video.size_bytes,
    )


@require_safe
@login_required
def video_derived_file(request, video_id, name):
    """One of the files made from the video for playback (rendition, poster, thumbnails), by its stored name."""
    video = _video_or_404(request, video_id)
    stored = next((path for path in video.derived_file_names() if PurePosixPath(path).name == name), None)
    if stored is None:
        raise Http404("No such file of this video.")
    content_type = DERIVED_CONTENT_TYPES.get(PurePosixPath(stored).suffix, "application/octet-stream")
    return serve_stored_file(
        request, video=video, name=stored, content_type=content_type, etag=PurePosixPath(stored).stem
    )


@require_safe
def signed_media_file(request, path):
    """A signed media URL when no nginx serves it (videos.media_signing): the signature stands for the check."""
    name = signed_media_name(path=path, token=request.GET.get("md5", ""), expires=request.GET.get("expires", ""))
    if name is None or PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
        return HttpResponse("This link is not valid, or it has expired.\n", status=403, content_type="text/plain")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media_store.uses_object_store():  # a link handed out before media moved to the object store
        return _redirect_to_store(name=name, content_type=content_type)
    try:
        stored = media_store.filesystem_path(name)
        size = stored.stat().st_size
    except (OSError, SuspiciousFileOperation):
        raise Http404("The stored file is missing.")
    return _stream(request, path=stored, size=size, content_type=content_type, etag=PurePosixPath(name).stem)


def _starts_a_viewing(request) -> bool:
    """A player asks for many ranges per viewing; the request from the start stands for the viewing."""
    if request.method != "GET":
        return False
    header = request.headers.get("Range", "")
    return not header or bool(re.match(r"^\s*bytes\s*=\s*0+\s*-", header))


def _redirect_to_store(*, name: str, content_type: str, download_name: str = "") -> HttpResponse:
    """A 302 to the object's presigned URL: the store answers the ranges, the validators and the bytes."""
    url = media_store.presigned_url(
        name,
        download_name=download_name,
        content_type=content_type,
        expires_seconds=settings.MEDIA_REDIRECT_URL_SECONDS,
    )
    response = HttpResponseRedirect(url)
    # The target expires: a cached redirect would outlive it.
    response["Cache-Control"] = "private, no-store"
    return response


def serve_stored_file(
    request,
    *,
    video: Video,
    name: str,
    content_type: str,
    etag: str,
    download_name: str = "",
    size_bytes: int | None = None,
) -> HttpResponse:
    """Send a stored file that the caller has allowed this user to read.

    From the object store: a 302 to a short-lived presigned URL (`download_name`, when given, as the
    Content-Disposition the store answers with). From the filesystem, through nginx: an X-Accel-Redirect to its
    internal location, which sends the bytes (ranges, ETag and Last-Modified included) without holding a Django
    thread. Otherwise streamed from here.
    """
    if media_store.uses_object_store():
        if _starts_a_viewing(request):
            _log_access(request, video=video, name=name, size_bytes=size_bytes)
        return _redirect_to_store(name=name, content_type=content_type, download_name=download_name)
    path = media_store.filesystem_path(name)
    try:
        size = path.stat().st_size
    except OSError:
        raise Http404("The stored file is missing.")
    if _starts_a_viewing(request):
        _log_access(request, video=video, name=name, size_bytes=size)
    accel_prefix = request.META.get(ACCEL_HEADER, "")
    if accel_prefix.startswith("/") and accel_prefix.endswith("/"):
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = accel_prefix + quote(name)
        response["Cache-Control"] = CACHE_CONTROL
        return response
    return _stream(request, path=path, size=size, content_type=content_type, etag=etag)


def _log_access(request, *, video: Video, name: str, size_bytes: int | None) -> None:
    with storage_operation(
        operation=StorageOperationType.ACCESS, path=name, video_id=video.pk, size_bytes=size_bytes, actor=request.user
    ):
        pass


def stored_download(
    request, *, name: str, content_type: str, download_name: str, video_id, size_bytes: int | None = None
) -> HttpResponse | None:
    """A download the caller has checked this user may have, from the object store: the access logged, then a
    302 to the object's presigned URL (the store answers with `download_name` as an attachment). None when media
    is on the filesystem, where the caller serves it as before.

    Raises media_store.MediaObjectMissing when the store has no such object.
    """
    if not media_store.uses_object_store():
        return None
    with storage_operation(
        operation=StorageOperationType.ACCESS, path=name, video_id=video_id, size_bytes=size_bytes, actor=request.user
    ):
        if not media_store.exists(name):
            raise media_store.MediaObjectMissing(f"no stored object {name!r}")
    return _redirect_to_store(name=name, content_type=content_type, download_name=download_name)


def _stream(request, *, path: Path, size: int, content_type: str, etag: str) -> HttpResponse:
    """The file from this process, with byte ranges and validators, for when no nginx is in front."""
    modified = path.stat().st_mtime
    etag_value = f'"{etag}"' if etag else f'"{int(modified)}-{size}"'
    if etag_value in request.headers.get("If-None-Match", ""):
        response = HttpResponse(status=304)
        response["ETag"] = etag_value
        response["Cache-Control"] = CACHE_CONTROL
        return response
    try:
        byte_range = parse_byte_range(request.headers.get("Range", ""), size) if "Range" in request.headers else None
    except RangeNotSatisfiable:
        response = HttpResponse(status=416, content_type="text/plain")
        response.content = b"Requested range not satisfiable.\n"
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response

    first, last = byte_range if byte_range else (0, size - 1)
    length = max(last - first + 1, 0)
    if request.method == "HEAD":
        response = HttpResponse(content_type=content_type)
    else:
        handle = open(path, "rb")  # noqa: SIM115 - FileResponse closes it
        handle.seek(first)
        response = FileResponse(BoundedFile(handle, length), content_type=content_type)
        response.block_size = BLOCK_SIZE
    response.status_code = 206 if byte_range else 200
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if byte_range:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Cache-Control"] = CACHE_CONTROL
    response["ETag"] = etag_value
    response["Last-Modified"] = http_date(modified)
    response["X-Content-Type-Options"] = "nosniff"
    return response
