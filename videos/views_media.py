"""Serving a stored video to the player, with HTTP range requests (RFC 9110 section 14).

One byte range per request (what players ask for); a Range header in another unit is ignored and the
whole file is sent. An unsatisfiable or malformed byte range is answered 416 with `Content-Range: bytes */size`.
The file is streamed from disk in blocks, never read whole.
"""

import mimetypes
import re

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.views.decorators.http import require_safe

from audit.models import StorageOperationType
from audit.services import storage_operation
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


@require_safe
@login_required
def video_file(request, video_id):
    """The video's stored file for its owner or staff; 404 for anyone else, as if there were none."""
    try:
        video = video_file_for_user(user=request.user, video_id=video_id)
    except Video.DoesNotExist:
        raise Http404("No such video.")
    if not video.file:
        raise Http404("This video has no stored file.")
    try:
        size = video.file.size
    except OSError:
        raise Http404("The stored file is missing.")
    content_type = video.mime_type or mimetypes.guess_type(video.file.name)[0] or "application/octet-stream"

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
    if first == 0 and request.method == "GET":
        # A player asks for many ranges per viewing; the one from the start stands for the viewing.
        with storage_operation(
            operation=StorageOperationType.ACCESS,
            path=video.file.name,
            video_id=video.pk,
            size_bytes=length,
            actor=request.user,
        ):
            handle = video.file.storage.open(video.file.name, "rb")
    else:
        handle = video.file.storage.open(video.file.name, "rb")
    if request.method == "HEAD":
        handle.close()
        response = HttpResponse(content_type=content_type)
    else:
        handle.seek(first)
        response = FileResponse(BoundedFile(handle, length), content_type=content_type)
        response.block_size = BLOCK_SIZE
    response.status_code = 206 if byte_range else 200
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if byte_range:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
