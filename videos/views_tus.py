"""The tus 1.0 endpoints (README, "tus uploads"); the protocol's rules live in videos/services/tus_upload.py.

OPTIONS /api/v1/tus/             -> 204, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm
POST    /api/v1/tus/             Upload-Length, Upload-Metadata (filename, title, run options), optionally
                                 the first bytes -> 201, Location, Upload-Offset, Upload-Expires
HEAD    /api/v1/tus/<id>/        -> 200, Upload-Offset, Upload-Length, Upload-Expires
PATCH   /api/v1/tus/<id>/        Upload-Offset, Content-Type application/offset+octet-stream, Upload-Checksum?
                                 -> 204, Upload-Offset; once complete also Video-Id and Video-Location;
                                 409 wrong offset or another request writing; 460 checksum mismatch
DELETE  /api/v1/tus/<id>/        -> 204
Every request but OPTIONS carries Tus-Resumable: 1.0.0 (412 otherwise). Errors have the API's error body.
"""

import re
from email.utils import formatdate

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from mediaplatform.api.errors import ApiError
from videos.services.tus_upload import (
    TUS_CHECKSUM_ALGORITHMS,
    TUS_CONTENT_TYPE,
    TUS_EXTENSIONS,
    TUS_VERSION,
    TusUploadState,
    tus_checksum_parse,
    tus_max_size,
    tus_metadata_parse,
    tus_upload_append,
    tus_upload_create,
    tus_upload_status,
    tus_upload_terminate,
)

_REASONS = {460: "Checksum Mismatch"}


class TusBodyParser(BaseParser):
    """Accepts tus's media type; the view streams the body to disk itself, so nothing is parsed here."""

    media_type = TUS_CONTENT_TYPE

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


def _header_int(request, name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    if not re.fullmatch(r"\s*[0-9]{1,19}\s*", raw):
        raise ApiError(status_code=400, code="invalid", message=f"{name} must be a number of bytes.")
    return int(raw)


def _has_body(request) -> bool:
    return bool(_header_int(request, "Content-Length"))


def _require_tus_body(request) -> None:
    if request.content_type.split(";")[0].strip() != TUS_CONTENT_TYPE:
        raise ApiError(status_code=415, code="unsupported_media_type", message=f"Send the bytes as {TUS_CONTENT_TYPE}.")


def _append(request, upload_id, offset: int) -> tuple[TusUploadState, object]:
    return tus_upload_append(
        owner=request.user,
        upload_id=upload_id,
        offset=offset,
        read=request._request.read,  # streamed from the connection, never read whole into memory
        length=_header_int(request, "Content-Length") or 0,
        checksum=tus_checksum_parse(request.headers.get("Upload-Checksum")),
    )


def _state_headers(state: TusUploadState) -> dict[str, str]:
    return {"Upload-Offset": str(state.offset), "Upload-Expires": formatdate(state.expires_at, usegmt=True)}


def _video_headers(video) -> dict[str, str]:
    return {"Video-Id": str(video.pk), "Video-Location": reverse("video-detail", args=[video.pk])} if video else {}


# Upload-Metadata as tus_metadata_parse takes it: `key` or `key base64`, comma-separated (each key once, each
# value base64 of UTF-8 text: checked there).
_TUS_BASE64 = "([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
_TUS_METADATA_PAIR = f"[A-Za-z0-9_.-]{{1,100}}( {_TUS_BASE64})?"
TUS_METADATA_PATTERN = f"^{_TUS_METADATA_PAIR}(, ?{_TUS_METADATA_PAIR})*$"
TUS_RESUMABLE_PARAMETER = OpenApiParameter(
    "Tus-Resumable", str, OpenApiParameter.HEADER, required=True, enum=[TUS_VERSION]
)


class TusView(APIView):
    # Documented: a missing or other Tus-Resumable answers 412, as the protocol says.
    precondition_headers = ("Tus-Resumable",)
    """The protocol's common part: the version handshake, its headers on every answer, OPTIONS."""

    parser_classes = [TusBodyParser]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # A method this endpoint does not take stays 405, whatever its headers.
        implemented = hasattr(self, request.method.lower())
        if implemented and request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
            raise ApiError(
                status_code=412,
                code="unsupported_version",
                message=f"This server speaks tus {TUS_VERSION}: send Tus-Resumable: {TUS_VERSION}.",
            )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = TUS_VERSION
        response["Tus-Version"] = TUS_VERSION
        response["Cache-Control"] = "no-store"
        if response.status_code in _REASONS:
            response.reason_phrase = _REASONS[response.status_code]
        return response

    def options(self, request, *args, **kwargs):
        return Response(
            status=status.HTTP_204_NO_CONTENT,
            headers={
                "Tus-Extension": ",".join(TUS_EXTENSIONS),
                "Tus-Max-Size": str(tus_max_size()),
                "Tus-Checksum-Algorithm": ",".join(TUS_CHECKSUM_ALGORITHMS),
            },
        )


class TusUploadListView(TusView):
    @extend_schema(
        request={TUS_CONTENT_TYPE: OpenApiTypes.BINARY},
        parameters=[
            TUS_RESUMABLE_PARAMETER,
            OpenApiParameter(
                "Upload-Length", {"type": "integer", "minimum": 1}, OpenApiParameter.HEADER, required=True
            ),
            OpenApiParameter(
                "Upload-Metadata",
                {"type": "string", "maxLength": 8192, "pattern": TUS_METADATA_PATTERN},
                OpenApiParameter.HEADER,
                description="Comma-separated `key base64value` pairs (`filename`, `title`, run options)",
            ),
        ],
        responses={201: None},
    )
    def post(self, request):
        length = _header_int(request, "Upload-Length")
        if length is None:
            raise ApiError(status_code=400, code="invalid", message="The Upload-Length header is missing.")
        metadata = tus_metadata_parse(request.headers.get("Upload-Metadata"))
        if _has_body(request):
            _require_tus_body(request)
        state = tus_upload_create(owner=request.user, length=length, metadata=metadata)
        location = request.build_absolute_uri(reverse("tus-detail", args=[state.session.id]))
        video = None
        if _has_body(request):  # creation-with-upload: the first bytes came with the creation
            state, video = _append(request, state.session.id, 0)
        headers = {"Location": location, **_state_headers(state), **_video_headers(video)}
        return Response(status=status.HTTP_201_CREATED, headers=headers)


class TusUploadDetailView(TusView):
    def head(self, request, upload_id):
        state = tus_upload_status(owner=request.user, upload_id=upload_id)
        response = Response(status=status.HTTP_200_OK, headers=_state_headers(state))
        response["Upload-Length"] = str(state.session.size)
        return response

    @extend_schema(
        request={TUS_CONTENT_TYPE: OpenApiTypes.BINARY},
        parameters=[
            TUS_RESUMABLE_PARAMETER,
            OpenApiParameter(
                "Upload-Offset", {"type": "integer", "minimum": 0}, OpenApiParameter.HEADER, required=True
            ),
            OpenApiParameter(
                "Upload-Checksum",
                {"type": "string", "pattern": "^sha256 [A-Za-z0-9+/]+={0,2}$"},
                OpenApiParameter.HEADER,
                description="`sha256 <base64 digest>` of this chunk",
            ),
        ],
        responses={204: None, 409: None, 460: None},
    )
    def patch(self, request, upload_id):
        _require_tus_body(request)
        offset = _header_int(request, "Upload-Offset")
        if offset is None:
            raise ApiError(status_code=400, code="invalid", message="The Upload-Offset header is missing.")
        state, video = _append(request, upload_id, offset)
        return Response(status=status.HTTP_204_NO_CONTENT, headers={**_state_headers(state), **_video_headers(video)})

    @extend_schema(
        parameters=[TUS_RESUMABLE_PARAMETER],
        responses={204: None},
    )
    def delete(self, request, upload_id):
        tus_upload_terminate(owner=request.user, upload_id=upload_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
