from django.db import transaction
from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsStaffForWrites, RoleAccess
from mediaplatform.api.errors import ApiError
from mediaplatform.api.parsers import BoundedJSONParser
from mediaplatform.api.schema import ApiErrorSerializer
from processing.catalog import catalog_with_installed
from processing.exports import EXPORTERS
from processing.models import DetectorModel, ModelInstall, ProcessingJob, RenderStatus
from processing.selectors import (
    detection_list_for_video,
    evaluation_latest_for_job,
    evaluation_list_for_video,
    job_get_for_user,
    job_list_for_video,
)
from processing.selectors_detections import detection_summary_for_job
from processing.serializers import (
    DetectionSerializer,
    DetectionSummaryFilterSerializer,
    DetectionSummarySerializer,
    DetectorModelCreateSerializer,
    DetectorModelSerializer,
    DetectorModelUpdateSerializer,
    ErrorLogSerializer,
    EvaluationSerializer,
    JobCreateSerializer,
    JobListFilterSerializer,
    JobSerializer,
    ReferenceImportSerializer,
)
from processing.serializers_annotated import (
    AnnotatedVideoChoicesSerializer,
    AnnotatedVideoOptionsSerializer,
    AnnotatedVideoSerializer,
)
from processing.serializers_install import (
    CatalogModelSerializer,
    ModelInstallRequestSerializer,
    ModelInstallSerializer,
)
from processing.serializers_queue import JobPriorityUpdateSerializer
from processing.services.annotated_video import (
    annotated_video_choices,
    annotated_video_find,
    annotated_video_open,
    annotated_video_options,
    annotated_video_request,
)
from processing.services.evaluation import evaluation_request
from processing.services.job_queue import job_delete, job_set_priority
from processing.services.jobs import (
    job_create_for_video,
    job_mark_ground_truth,
    job_options_parse,
)
from processing.services.model_install import model_install_enqueue, model_install_request
from processing.services.reference_import import ReferenceTooLarge, reference_import, reference_max_bytes
from processing.services.registry import detector_model_create, detector_model_update
from videos.media_store import MediaStoreUnavailable
from videos.serializers import run_options_from_data
from videos.views import video_for_request
from videos.views_media import stored_download


def _job_or_404(request, job_id) -> ProcessingJob:
    job = job_get_for_user(user=request.user, job_id=job_id)
    if job is None:
        raise ApiError(status_code=404, code="not_found", message="No such run.")
    return job


class VideoDetectionListView(generics.ListAPIView):
    serializer_class = DetectionSerializer

    def get_queryset(self):
        video = video_for_request(self.request, self.kwargs["video_id"])
        return detection_list_for_video(video=video)


class VideoJobListCreateView(generics.ListAPIView):
    serializer_class = JobSerializer

    def get_queryset(self):
        video = video_for_request(self.request, self.kwargs["video_id"])
        filters = JobListFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return job_list_for_video(video=video, origin=filters.validated_data.get("origin"))

    @extend_schema(parameters=[JobListFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=JobCreateSerializer, responses={201: JobSerializer})
    def post(self, request, video_id):
        video = video_for_request(request, video_id)
        # The serializer bounds each value by its column; the run engine checks them against the model.
        JobCreateSerializer(data=request.data).is_valid(raise_exception=True)
        options = job_options_parse(run_options_from_data(request.data))
        job = job_create_for_video(video_id=video.pk, options=options, actor=request.user)
        return Response(JobSerializer(_job_or_404(request, job.pk)).data, status=status.HTTP_201_CREATED)


class JobDetailView(generics.RetrieveAPIView):
    """A run. PATCH changes its priority (a waiting run moves in the queue); DELETE removes a finished run and
    its detections, except the one that holds its video's results or ground truth (409)."""

    serializer_class = JobSerializer

    def get_object(self):
        return _job_or_404(self.request, self.kwargs["job_id"])

    @extend_schema(request=JobPriorityUpdateSerializer, responses={200: JobSerializer})
    def patch(self, request, job_id):
        job = _job_or_404(request, job_id)
        given = JobPriorityUpdateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        job_set_priority(job_id=job.pk, priority=given.validated_data["priority"], actor=request.user)
        return Response(JobSerializer(_job_or_404(request, job_id)).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, job_id):
        job = _job_or_404(request, job_id)
        job_delete(job_id=job.pk, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobGroundTruthView(APIView):
    serializer_class = JobSerializer

    @extend_schema(request=None, responses={200: JobSerializer, 409: None})
    def post(self, request, job_id):
        job = _job_or_404(request, job_id)
        job_mark_ground_truth(job_id=job.pk, actor=request.user)
        return Response(JobSerializer(_job_or_404(request, job_id)).data)


class JobDetectionListView(generics.ListAPIView):
    serializer_class = DetectionSerializer

    def get_queryset(self):
        return _job_or_404(self.request, self.kwargs["job_id"]).detections.order_by("frame_index", "id")


class JobDetectionSummaryView(APIView):
    """Per class and per track, how many boxes and where they first and last show up: the page's detections browser."""

    @extend_schema(parameters=[DetectionSummaryFilterSerializer], responses={200: DetectionSummarySerializer})
    def get(self, request, job_id):
        job = _job_or_404(request, job_id)
        filters = DetectionSummaryFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        summary = detection_summary_for_job(job=job, min_confidence=filters.validated_data["min_confidence"])
        return Response(summary)


class VideoErrorListView(generics.ListAPIView):
    serializer_class = ErrorLogSerializer

    def get_queryset(self):
        return video_for_request(self.request, self.kwargs["video_id"]).errors.order_by("-created_at")


class JobExportView(APIView):
    """The run's detections as COCO JSON, a YOLO labels zip or MOT Challenge CSV, streamed."""

    @extend_schema(
        responses={
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="COCO detection JSON"),
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="YOLO labels zip"),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="MOT Challenge CSV"),
        },
    )
    def get(self, request, job_id, export_format):
        if export_format not in EXPORTERS:
            raise ApiError(
                status_code=404,
                code="not_found",
                message=f"No export format {export_format!r}; use one of {', '.join(EXPORTERS)}.",
            )
        job = _job_or_404(request, job_id)
        exporter, content_type, extension = EXPORTERS[export_format]
        response = StreamingHttpResponse(exporter(job), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="run-{job.pk}-{export_format}.{extension}"'
        return response


class DetectorModelListCreateView(generics.ListAPIView):
    """Registered detection models: every user reads them, staff register new ones."""

    serializer_class = DetectorModelSerializer
    permission_classes = [RoleAccess, IsStaffForWrites]
    parser_classes = [MultiPartParser, FormParser]
    queryset = DetectorModel.objects.order_by("name", "-created_at")

    @extend_schema(
        request={"multipart/form-data": DetectorModelCreateSerializer},
        responses={201: DetectorModelSerializer, 422: OpenApiResponse(description="The weights do not load.")},
    )
    def post(self, request):
        serializer = DetectorModelCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        model = detector_model_create(actor=request.user, **serializer.validated_data)
        return Response(DetectorModelSerializer(model).data, status=status.HTTP_201_CREATED)


class DetectorModelDetailView(generics.RetrieveAPIView):
    serializer_class = DetectorModelSerializer
    permission_classes = [RoleAccess, IsStaffForWrites]
    parser_classes = [BoundedJSONParser, MultiPartParser, FormParser]
    queryset = DetectorModel.objects.all()
    lookup_url_kwarg = "model_id"

    @extend_schema(request=DetectorModelUpdateSerializer, responses={200: DetectorModelSerializer})
    def patch(self, request, model_id):
        serializer = DetectorModelUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            model = detector_model_update(actor=request.user, model_id=model_id, **serializer.validated_data)
        except DetectorModel.DoesNotExist:
            raise ApiError(status_code=404, code="not_found", message="No such model.")
        return Response(DetectorModelSerializer(model).data)


class JobEvaluationView(APIView):
    """The latest evaluation of a run against its video's ground truth; POST queues a new one."""

    serializer_class = EvaluationSerializer

    @extend_schema(responses={200: EvaluationSerializer, 404: None})
    def get(self, request, job_id):
        job = _job_or_404(request, job_id)
        evaluation = evaluation_latest_for_job(job=job)
        if evaluation is None:
            raise ApiError(status_code=404, code="not_found", message="This run has not been evaluated yet.")
        return Response(EvaluationSerializer(evaluation).data)

    @extend_schema(request=None, responses={202: EvaluationSerializer, 409: None})
    def post(self, request, job_id):
        job = _job_or_404(request, job_id)
        evaluation = evaluation_request(job_id=job.pk, actor=request.user)
        return Response(EvaluationSerializer(evaluation).data, status=status.HTTP_202_ACCEPTED)


class VideoEvaluationListView(generics.ListAPIView):
    """Every evaluation of the video's runs, newest first (an empty list before the first one)."""

    serializer_class = EvaluationSerializer

    def get_queryset(self):
        video = video_for_request(self.request, self.kwargs["video_id"])
        return evaluation_list_for_video(video=video)


# Room for the multipart envelope and the other form fields around the file.
_MULTIPART_OVERHEAD_BYTES = 64 * 1024


class VideoGroundTruthImportView(APIView):
    """Import reference annotations (COCO JSON or MOT CSV) as the video's ground truth."""

    parser_classes = [MultiPartParser, FormParser]
    serializer_class = JobSerializer

    @extend_schema(
        request={"multipart/form-data": ReferenceImportSerializer},
        responses={201: JobSerializer, 400: None, 403: None, 404: None, 409: None, 413: None},
        description=(
            "The file becomes a completed job with origin `import`, marked as the video's ground truth (the "
            "earlier one is unmarked); its boxes are stored with confidence 1.0. COCO: frame from the image's "
            "`frame_index`, else the last digits of its file name (0-based), else `id` - 1; classes by category "
            "name. MOT: 1-based frames, class numbers from `classes` or the model's class id + 1, rows with "
            "conf 0 left out. Boxes past the frame's edge are clipped; a box wholly outside the frame, a frame "
            "past the video's end, or any malformed entry refuses the whole file (400, nothing stored) with "
            "`details.line` or `details.path`. The video must be completed or archived (else 409)."
        ),
    )
    def post(self, request, video_id):
        video = video_for_request(request, video_id)
        limit = reference_max_bytes()
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit + _MULTIPART_OVERHEAD_BYTES:
            raise ReferenceTooLarge(limit)
        serializer = ReferenceImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = data["file"]
        job = reference_import(
            video_id=video.pk,
            reference_file=upload,
            filename=upload.name or "",
            file_format=data.get("format"),
            classes=data.get("classes") or None,
            actor=request.user,
        )
        return Response(JobSerializer(_job_or_404(request, job.pk)).data, status=status.HTTP_201_CREATED)


class ModelCatalogView(APIView):
    """The pretrained detectors staff can install by name, each marked installed or not."""

    permission_classes = [RoleAccess]

    @extend_schema(responses={200: CatalogModelSerializer(many=True)})
    def get(self, request):
        return Response(CatalogModelSerializer(catalog_with_installed(), many=True).data)


class ModelInstallView(APIView):
    """Staff install a catalog model: the download runs in a worker; the answer is the install to follow."""

    permission_classes = [RoleAccess, IsStaffForWrites]
    parser_classes = [BoundedJSONParser, FormParser]

    @extend_schema(
        request=ModelInstallRequestSerializer,
        responses={202: ModelInstallSerializer, 404: OpenApiResponse(description="No catalog model of that name.")},
    )
    def post(self, request):
        serializer = ModelInstallRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            install = model_install_request(
                actor=request.user,
                source=serializer.validated_data["name"],
                make_default=serializer.validated_data["is_default"],
            )
            model_install_enqueue(install=install)
        return Response(ModelInstallSerializer(install).data, status=status.HTTP_202_ACCEPTED)


class ModelInstallDetailView(generics.RetrieveAPIView):
    serializer_class = ModelInstallSerializer
    permission_classes = [RoleAccess, IsStaffForWrites]
    queryset = ModelInstall.objects.all()
    lookup_url_kwarg = "install_id"

    def get_queryset(self):
        # Installs name server paths and URLs: staff only.
        return ModelInstall.objects.all() if self.request.user.is_staff else ModelInstall.objects.none()


def _annotated_error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ApiErrorSerializer, description=description)


_ANNOTATED_ERRORS = {
    400: _annotated_error("An option out of bounds or a class the run's model lacks (`details.allowed`)"),
    404: _annotated_error("No such run, or another user's"),
}


class JobAnnotatedVideoView(APIView):
    """The run's boxes, labels, confidences, track ids and trails burned into its video as an H.264 MP4."""

    parser_classes = [BoundedJSONParser, FormParser]
    serializer_class = AnnotatedVideoSerializer

    def _options(self, request, job: ProcessingJob, data):
        serializer = AnnotatedVideoOptionsSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        return annotated_video_options(job=job, **serializer.validated_data)

    @extend_schema(
        request=AnnotatedVideoOptionsSerializer,
        responses={
            200: OpenApiResponse(AnnotatedVideoSerializer, description="Rendered already: download_url serves it"),
            202: OpenApiResponse(AnnotatedVideoSerializer, description="Queued or rendering; follow it on the socket"),
            **_ANNOTATED_ERRORS,
            409: _annotated_error("The run has not completed (`details.state`), or the video's file is gone"),
        },
        description=(
            "Render the run's boxes into its video (a worker on the default queue), or find the render of the same "
            "options: the same run and options give the same file, drawn once. Progress arrives on the video's "
            "socket as `annotated_video` events (`data.annotated_video`: id, status, progress_percentage). A failed "
            "render is tried again."
        ),
    )
    def post(self, request, job_id):
        job = _job_or_404(request, job_id)
        options = self._options(request, job, request.data)
        render = annotated_video_request(job_id=job.pk, options=options, actor=request.user)
        code = status.HTTP_200_OK if render.status == RenderStatus.READY else status.HTTP_202_ACCEPTED
        return Response(AnnotatedVideoSerializer(render).data, status=code)

    @extend_schema(
        parameters=[AnnotatedVideoOptionsSerializer],
        responses={
            (200, "video/mp4"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="Ready: the MP4 as an attachment; a client whose Accept names application/json gets "
                "the render's JSON body (status ready) instead",
            ),
            (200, "application/json"): OpenApiResponse(AnnotatedVideoSerializer),
            (202, "application/json"): OpenApiResponse(AnnotatedVideoSerializer, description="Queued or rendering"),
            **_ANNOTATED_ERRORS,
            404: _annotated_error("No such run, or another user's; or nothing rendered with these options yet"),
            409: _annotated_error("The render failed (`message` says why; POST again to retry)"),
        },
        description="The render of these options (the query string of the POST's `download_url`).",
    )
    def get(self, request, job_id):
        job = _job_or_404(request, job_id)
        options = self._options(request, job, request.query_params)
        render = annotated_video_find(job=job, options=options)
        if render is None:
            raise ApiError(
                status_code=404, code="not_found", message="Nothing rendered with these options: POST them first."
            )
        if render.status == RenderStatus.FAILED:
            raise ApiError(
                status_code=409,
                code="render_failed",
                message=f"The render failed: {render.error} POST again to retry.",
                details={"id": str(render.pk)},
            )
        if render.status != RenderStatus.READY:
            return Response(AnnotatedVideoSerializer(render).data, status=status.HTTP_202_ACCEPTED)
        if "application/json" in request.headers.get("Accept", ""):
            # A client asking for JSON (a page polling the render) is told it is ready, not sent the file.
            return Response(AnnotatedVideoSerializer(render).data)
        download_name = f"run-{job.pk}-annotated.mp4"
        try:
            redirect = stored_download(
                request,
                name=render.file.name,
                content_type="video/mp4",
                download_name=download_name,
                video_id=job.video_id,
                size_bytes=render.size_bytes,
            )
            if redirect is not None:  # from the object store: its presigned URL sends the bytes
                return redirect
            handle = annotated_video_open(render=render, actor=request.user)
        except MediaStoreUnavailable:
            raise ApiError(
                status_code=503, code="storage_unavailable", message="The media store cannot be reached; try again."
            )
        except OSError:
            raise ApiError(
                status_code=404, code="not_found", message="The rendered file is missing: POST again to render it."
            )
        return FileResponse(handle, as_attachment=True, filename=download_name, content_type="video/mp4")


class JobAnnotatedVideoChoicesView(APIView):
    """What the annotated video's options may be for this run: its model's classes, and whether it is tracked."""

    serializer_class = AnnotatedVideoChoicesSerializer

    @extend_schema(responses={200: AnnotatedVideoChoicesSerializer, 404: _ANNOTATED_ERRORS[404]})
    def get(self, request, job_id):
        job = _job_or_404(request, job_id)
        return Response(AnnotatedVideoChoicesSerializer(annotated_video_choices(job=job)).data)
