import logging

from drf_spectacular.helpers import lazy_serializer
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from mediaplatform.api.errors import ApiError
from mediaplatform.api.parsers import BoundedJSONParser
from videos.filters import VideoListFilterSerializer, video_filter
from videos.models import Video
from videos.runs import video_runs
from videos.selectors import (
    video_get_for_user,
    video_list_for_user,
    video_stats,
    video_visibility,
)
from videos.serializers import (
    StatsQuerySerializer,
    StatsSerializer,
    VideoBulkResponseSerializer,
    VideoBulkSerializer,
    VideoCreateSerializer,
    VideoListSerializer,
    VideoRenameSerializer,
    VideoUploadSerializer,
    VideoUrlImportSerializer,
    run_options_from_data,
)
from videos.services.creation import video_create
from videos.services.deletion import video_soft_delete
from videos.services.url_import import video_import_from_url
from videos.services.workflow import video_archive, video_cancel, video_rename, video_retry, videos_bulk_apply

logger = logging.getLogger(__name__)


def video_for_request(request, video_id) -> Video:
    """The video with everything its detail shows; 404 when the user may not see it, 410 once deleted."""
    try:
        return video_get_for_user(user=request.user, video_id=video_id)
    except Video.DoesNotExist:
        raise video_missing(request, video_id)


# The video's detail body (GET /api/v1/videos/<id>/) includes its runs, which the run engine presents;
# its schema is named by path so this app does not import that engine.
VIDEO_DETAIL_SCHEMA = lazy_serializer("processing.serializers.VideoDetailSerializer")


def video_detail_body(request, video_id) -> dict:
    """The detail body of a video the user may see; 404 when they may not, 410 once deleted."""
    body = video_runs().video_detail(user=request.user, video_id=video_id)
    if body is None:
        raise video_missing(request, video_id)
    return body


def video_missing(request, video_id) -> ApiError:
    if video_visibility(user=request.user, video_id=video_id) == "deleted":
        return ApiError(status_code=410, code="gone", message="This video was deleted.")
    return ApiError(status_code=404, code="not_found", message="No such video.")


class VideoListCreateView(generics.ListAPIView):
    serializer_class = VideoListSerializer
    parser_classes = [MultiPartParser, FormParser, BoundedJSONParser]

    def get_queryset(self):
        filters = VideoListFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return video_filter(video_list_for_user(user=self.request.user), filters.validated_data)

    @extend_schema(parameters=[VideoListFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        # One body per operation: generated clients cannot take a choice of bodies. A JSON `source_url` is still
        # taken here for older clients; POST /api/v1/videos/import/ documents it.
        request={"multipart/form-data": VideoUploadSerializer},
        responses={201: VIDEO_DETAIL_SCHEMA()},
    )
    def post(self, request):
        if getattr(request, "upload_too_large", False):
            raise ApiError(status_code=413, code="file_too_large", message="The file is larger than the upload limit.")
        create = VideoCreateSerializer(data=request.data)
        create.is_valid(raise_exception=True)
        data = create.validated_data
        if "file" in data and data.get("source_url"):
            raise ApiError(status_code=400, code="invalid", message="Send either a file or a source_url, not both.")
        # Checked before anything is fetched or stored: a bad option leaves no video behind.
        options = run_options_from_data(request.data)
        video_runs().options_check(options=options)
        if data.get("source_url"):
            video = video_import_from_url(
                owner=request.user,
                source_url=data["source_url"],
                title=data.get("title", ""),
                job_options=options or None,
            )
        elif "file" in data:
            video = video_create(
                owner=request.user,
                uploaded_file=data["file"],
                title=data.get("title", ""),
                job_options=options or None,
            )
        else:
            raise ApiError(
                status_code=400,
                code="file_missing",
                message="Send the video in the multipart field 'file', or give a 'source_url'.",
            )
        return Response(video_detail_body(request, video.pk), status=status.HTTP_201_CREATED)


class VideoUrlImportView(APIView):
    """A new video the server fetches from `source_url`, with the options of its first run."""

    parser_classes = [BoundedJSONParser]

    @extend_schema(request=VideoUrlImportSerializer, responses={201: VIDEO_DETAIL_SCHEMA()})
    def post(self, request):
        given = VideoUrlImportSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        options = run_options_from_data(request.data)
        video_runs().options_check(options=options)
        video = video_import_from_url(
            owner=request.user,
            source_url=given.validated_data["source_url"],
            title=given.validated_data.get("title", ""),
            job_options=options or None,
        )
        return Response(video_detail_body(request, video.pk), status=status.HTTP_201_CREATED)


class VideoDetailView(generics.RetrieveDestroyAPIView):
    serializer_class = VIDEO_DETAIL_SCHEMA  # documents the body; the run engine's selector builds it in one query

    def get_object(self):
        return video_for_request(self.request, self.kwargs["video_id"])

    def retrieve(self, request, *args, **kwargs):
        return Response(video_detail_body(request, self.kwargs["video_id"]))

    @extend_schema(request=VideoRenameSerializer, responses={200: VIDEO_DETAIL_SCHEMA(), 404: None, 410: None})
    def patch(self, request, video_id):
        """Rename the video: `{"title": "..."}`, the only field that changes this way."""
        video = video_for_request(request, video_id)
        rename = VideoRenameSerializer(data=request.data)
        rename.is_valid(raise_exception=True)
        video_rename(video_id=video.pk, title=rename.validated_data["title"], actor=request.user)
        return Response(video_detail_body(request, video_id))

    @extend_schema(responses={204: None, 404: None, 410: None})
    def delete(self, request, video_id):
        if video_visibility(user=request.user, video_id=video_id) is None:
            raise ApiError(status_code=404, code="not_found", message="No such video.")
        video_soft_delete(video_id=video_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VideoBulkView(APIView):
    """Archive, retry or delete several videos; the answer says, per id, what the single endpoint would have."""

    @extend_schema(request=VideoBulkSerializer, responses={200: VideoBulkResponseSerializer})
    def post(self, request):
        bulk = VideoBulkSerializer(data=request.data)
        bulk.is_valid(raise_exception=True)
        action = bulk.validated_data["action"]
        results = videos_bulk_apply(video_ids=bulk.validated_data["ids"], action=action, actor=request.user)
        logger.info(
            "bulk %s by user %s: %d of %d done", action, request.user.pk, sum(r["ok"] for r in results), len(results)
        )
        return Response({"action": action, "results": results})


class StatsView(APIView):
    """Videos per state, average processing time and objects detected, for the last 24 hours or a window."""

    @extend_schema(parameters=[StatsQuerySerializer], responses={200: StatsSerializer})
    def get(self, request):
        query = StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        window = query.validated_data
        stats = video_stats(
            user=request.user,
            created_from=window["from"],
            created_to=window["to"],
            own_only=window["scope"] == "own",
        )
        return Response(StatsSerializer(stats).data)


class VideoActionView(APIView):
    """POST-only action on a video; subclasses name the service."""

    serializer_class = VIDEO_DETAIL_SCHEMA

    def act(self, request, video: Video):
        raise NotImplementedError

    @extend_schema(request=None, responses={200: VIDEO_DETAIL_SCHEMA(), 409: None})
    def post(self, request, video_id):
        video = video_for_request(request, video_id)
        self.act(request, video)
        # A delete may have landed since the action: answer 410 then, not a crash.
        return Response(video_detail_body(request, video_id), status=self.success_status)


class VideoCancelView(VideoActionView):
    success_status = status.HTTP_200_OK

    def act(self, request, video):
        video_cancel(video_id=video.pk, actor=request.user)


class VideoRetryView(VideoActionView):
    success_status = status.HTTP_202_ACCEPTED

    def act(self, request, video):
        video_retry(video_id=video.pk, actor=request.user)


class VideoArchiveView(VideoActionView):
    success_status = status.HTTP_200_OK

    def act(self, request, video):
        video_archive(video_id=video.pk, actor=request.user)
