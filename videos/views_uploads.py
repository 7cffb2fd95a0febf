"""Resumable chunked uploads (README, "Resumable uploads"): POST to open, HEAD for the offset, PATCH to append.

Deprecated in favour of the standard tus protocol at /api/v1/tus/ (videos/views_tus.py), which the dashboard
uses; kept for one release for the clients written against these endpoints.

POST   /api/v1/uploads/        {"filename", "size", "title"?, run options?}  (or Upload-Length header)
                               -> 201 {"id", "offset": 0, "size", "url"}, Location, Upload-Offset: 0
HEAD   /api/v1/uploads/<id>/   -> 200, Upload-Offset, Upload-Length
GET    /api/v1/uploads/<id>/   -> 200 {"id", "offset", "size", "filename"}
PATCH  /api/v1/uploads/<id>/   Upload-Offset: N, Content-Type: application/offset+octet-stream, the bytes
                               -> 204 with the new Upload-Offset, or 201 with the video once complete;
                                  409 {"details": {"offset"}} when N is not where the data ends, or while
                                  another request writes to the session (upload_busy);
                                  429 with Retry-After when the video is refused for now: the bytes are
                                  kept, and an empty PATCH at the final offset finishes it later
DELETE /api/v1/uploads/<id>/   -> 204
POST beyond the user's open sessions or declared bytes -> 429 with Retry-After.
"""

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser, FormParser
from rest_framework.response import Response
from rest_framework.views import APIView

from mediaplatform.api.errors import ApiError
from mediaplatform.api.parsers import BoundedJSONParser
from videos.runs import video_runs
from videos.serializers import RunOptionsSerializer, run_options_from_data
from videos.services.chunked_upload import (
    chunked_upload_append,
    chunked_upload_cancel,
    chunked_upload_get,
    chunked_upload_start,
)
from videos.views import VIDEO_DETAIL_SCHEMA, video_detail_body

CHUNK_CONTENT_TYPE = "application/offset+octet-stream"  # tus's; application/octet-stream is taken too
CHUNK_CONTENT_TYPES = {CHUNK_CONTENT_TYPE, "application/octet-stream"}


class ChunkParser(BaseParser):
    """Accepts the chunk's media type; the view streams the body itself, so nothing is parsed here."""

    media_type = CHUNK_CONTENT_TYPE

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


class OctetStreamChunkParser(ChunkParser):
    media_type = "application/octet-stream"


class UploadStartSerializer(RunOptionsSerializer):
    """A resumable upload's file, with the options of the video's first run."""

    filename = serializers.CharField(max_length=1000)
    size = serializers.IntegerField(min_value=1, required=False, help_text="Bytes; or the Upload-Length header")
    title = serializers.CharField(max_length=255, required=False, allow_blank=True)


class UploadSessionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    offset = serializers.IntegerField()
    size = serializers.IntegerField()
    filename = serializers.CharField()
    url = serializers.CharField()


def _header_int(request, name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    if not re.fullmatch(r"\s*[0-9]{1,19}\s*", raw):
        raise ApiError(status_code=400, code="invalid", message=f"{name} must be a number of bytes.")
    return int(raw)


def _body(session, request) -> dict:
    return {
        "id": session.id,
        "offset": session.offset,
        "size": session.size,
        "filename": session.filename,
        "url": request.build_absolute_uri(f"/api/v1/uploads/{session.id}/"),
    }


class UploadListView(APIView):
    parser_classes = [BoundedJSONParser, FormParser]

    @extend_schema(request=UploadStartSerializer, responses={201: UploadSessionSerializer})
    def post(self, request):
        start = UploadStartSerializer(data=request.data)
        start.is_valid(raise_exception=True)
        data = start.validated_data
        size = data.get("size") or _header_int(request, "Upload-Length")
        if not size:
            raise ApiError(status_code=400, code="invalid", message="Give the file's size: size or Upload-Length.")
        # Checked now, not when the last byte is in: a bad option is refused before any byte is sent.
        options = run_options_from_data(request.data)
        video_runs().options_check(options=options)
        session = chunked_upload_start(
            owner=request.user,
            filename=data["filename"],
            size=size,
            title=data.get("title", ""),
            run_options=options,
        )
        body = _body(session, request)
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"], "Upload-Offset": "0"})


class UploadDetailView(APIView):
    parser_classes = [ChunkParser, OctetStreamChunkParser]

    def _session(self, request, upload_id):
        return chunked_upload_get(owner=request.user, upload_id=upload_id)

    @extend_schema(responses={200: UploadSessionSerializer})
    def get(self, request, upload_id):
        session = self._session(request, upload_id)
        return Response(
            _body(session, request),
            headers={
                "Upload-Offset": str(session.offset),
                "Upload-Length": str(session.size),
                "Cache-Control": "no-store",
            },
        )

    def head(self, request, upload_id):
        session = self._session(request, upload_id)
        response = Response(status=status.HTTP_200_OK)
        response["Upload-Offset"] = str(session.offset)
        response["Upload-Length"] = str(session.size)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        request={"application/octet-stream": OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter("Upload-Offset", {"type": "integer", "minimum": 0}, OpenApiParameter.HEADER, required=True)
        ],
        responses={201: VIDEO_DETAIL_SCHEMA(), 204: None, 409: None},
    )
    def patch(self, request, upload_id):
        if request.content_type.split(";")[0].strip() not in CHUNK_CONTENT_TYPES:
            raise ApiError(
                status_code=415, code="unsupported_media_type", message=f"Send the chunk as {CHUNK_CONTENT_TYPE}."
            )
        offset = _header_int(request, "Upload-Offset")
        if offset is None:
            raise ApiError(status_code=400, code="invalid", message="The Upload-Offset header is missing.")
        length = _header_int(request, "Content-Length") or 0
        raw = request._request  # streamed from the spooled body, never read whole into memory
        session, video = chunked_upload_append(
            owner=request.user, upload_id=upload_id, offset=offset, read=raw.read, length=length
        )
        if video is None:
            response = Response(status=status.HTTP_204_NO_CONTENT)
            response["Upload-Offset"] = str(session.offset)
            return response
        body = video_detail_body(request, video.pk)
        return Response(body, status=status.HTTP_201_CREATED, headers={"Upload-Offset": str(session.offset)})

    @extend_schema(responses={204: None})
    def delete(self, request, upload_id):
        chunked_upload_cancel(owner=request.user, upload_id=upload_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
