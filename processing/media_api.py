"""The media analysis API: /api/media/analyze, /status/<id>, /<id> (DELETE), /history.

Field names, status values and status codes are that API's published contract; error bodies are the platform's
one error body.
"""

import logging
import math
import uuid

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from mediaplatform.api.errors import ApiError
from mediaplatform.api.fields import HttpUrlTextField
from mediaplatform.api.parsers import BoundedJSONParser
from mediaplatform.api.strict import StrictJsonTypesMixin, json_type_errors
from processing.selectors import analysis_history_page, analysis_result
from processing.selectors_media import analysis_detections, analysis_prompt_answer
from processing.services.analysis_plan import analysis_run_plan
from videos.models import AnalysisMediaType, MediaAnalysisRequest, Video
from videos.selectors import api_datetime, video_visibility
from videos.services.media_analysis import (
    ANALYSABLE_MEDIA_TYPES,
    STATUS_FOR_STATE,
    analysis_status,
    analysis_tombstone,
    estimate_processing_time,
    media_analysis_create,
    media_analysis_delete,
    unsupported_media_type_message,
)

logger = logging.getLogger(__name__)

STATUS_VALUES = [
    ("pending", "pending"),
    ("processing", "processing"),
    ("completed", "completed"),
    ("failed", "failed"),
    ("deleted", "deleted"),
]
MAX_LISTED_DETECTIONS = 100
SORT_FIELDS = {"created_at": "created_at", "updated_at": "updated_at", "status": "workflow_state"}


@extend_schema_field(
    {
        "type": "object",
        "description": "The detection run's options; a key not listed here is refused with 422",
        "properties": {
            "model": {"type": "string", "maxLength": 100, "description": "A registered model's name"},
            "classes": {
                "type": "array",
                "items": {"type": "string", "maxLength": 200},
                "maxItems": 1000,
                "description": "Class names of the model to keep",
            },
            "confidence": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1, "nullable": True},
            "frame_step": {"type": "integer", "minimum": 1, "maximum": 10_000},
            "max_fps": {"type": "number", "minimum": 0.01, "maximum": 1000, "nullable": True},
            "track": {"type": "boolean"},
        },
        "additionalProperties": False,
    }
)
class AnalysisConfigField(serializers.DictField):
    """A plain object: its values must have the documented JSON types (a `"track": "yes"` is refused here, not
    read as true); analysis_run_plan then checks its keys and values and names the one at fault."""

    value_types = {
        "model": serializers.CharField(),
        "classes": serializers.ListField(child=serializers.CharField()),
        "confidence": serializers.FloatField(),
        "frame_step": serializers.IntegerField(),
        "max_fps": serializers.FloatField(),
        "track": serializers.BooleanField(),
    }

    def to_internal_value(self, data):
        config = super().to_internal_value(data)
        errors = {key: json_type_errors(field, config[key]) for key, field in self.value_types.items() if key in config}
        for key in ("model", "classes", "frame_step", "track"):  # only confidence and max_fps may be null
            if key in config and config[key] is None:
                errors[key] = "may not be null"
        for key, error in errors.items():
            if error:  # one message naming the key: the view's 422 reads a flat list per field
                raise serializers.ValidationError(f"{key}: {error if isinstance(error, str) else 'wrong type'}")
        return config


@extend_schema_field(
    {
        "type": "object",
        "properties": {"include_detections": {"type": "boolean"}},
        "additionalProperties": False,
    }
)
class AnalysisOptionsField(serializers.DictField):
    """Read as a plain object: analysis_run_plan checks its keys."""


@extend_schema_field({"type": "string", "enum": sorted(str(value) for value in ANALYSABLE_MEDIA_TYPES)})
class MediaTypeField(serializers.CharField):
    """Text here; the view refuses a type it cannot analyse (422 naming the list). The schema lists those it can."""


class AnalyzeRequestSerializer(StrictJsonTypesMixin, serializers.Serializer):
    prompt = serializers.CharField(required=False, allow_blank=True, max_length=10_000, default="")
    media_url = HttpUrlTextField(max_length=2000)
    media_type = MediaTypeField(max_length=50)
    config = AnalysisConfigField(required=False, default=dict)
    options = AnalysisOptionsField(required=False, default=dict)


class AnalyzeResponseSerializer(serializers.Serializer):
    analysis_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=STATUS_VALUES)
    estimated_time = serializers.IntegerField(help_text="Seconds")
    message = serializers.CharField()


class AnalysisStatusSerializer(serializers.Serializer):
    analysis_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=STATUS_VALUES)
    progress = serializers.IntegerField(min_value=0, max_value=100)
    media_type = serializers.CharField()
    source_url = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    result_summary = serializers.DictField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)


class HistoryItemSerializer(serializers.Serializer):
    analysis_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=STATUS_VALUES)
    media_type = serializers.CharField()
    prompt = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


class PaginationSerializer(serializers.Serializer):
    page = serializers.IntegerField()
    per_page = serializers.IntegerField()
    total = serializers.IntegerField()
    total_pages = serializers.IntegerField()


class HistoryResponseSerializer(serializers.Serializer):
    data = HistoryItemSerializer(many=True)
    pagination = PaginationSerializer()


class HistoryQuerySerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, default=1)
    per_page = serializers.IntegerField(min_value=1, max_value=100, default=20)
    status = serializers.ChoiceField(choices=STATUS_VALUES, required=False)
    media_type = serializers.ChoiceField(choices=AnalysisMediaType.values, required=False)
    date_from = serializers.DateTimeField(required=False)
    date_to = serializers.DateTimeField(required=False)
    sort_by = serializers.ChoiceField(choices=sorted(SORT_FIELDS), default="created_at")
    order = serializers.ChoiceField(choices=["asc", "desc"], default="desc")


def _unprocessable(serializer: serializers.Serializer) -> ApiError:
    field, problems = next(iter(serializer.errors.items()))
    return ApiError(
        status_code=422, code="validation_error", message=f"{field}: {problems[0]}", details=serializer.errors
    )


ANALYSIS_ID_PARAMETER = OpenApiParameter("analysis_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


def _analysis_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ApiError(status_code=400, code="invalid_uuid", message="The analysis id is not a valid UUID.")


class AnalyzeView(APIView):
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        request=AnalyzeRequestSerializer,
        responses={202: AnalyzeResponseSerializer, 400: OpenApiResponse(description="Missing fields"), 422: None},
    )
    def post(self, request):
        body = AnalyzeRequestSerializer(data=request.data)
        if not body.is_valid():
            missing = [field for field, errors in body.errors.items() if any(e.code == "required" for e in errors)]
            if missing:
                raise ApiError(
                    status_code=400,
                    code="invalid_request",
                    message=f"Missing required fields: {', '.join(missing)}.",
                    details=body.errors,
                )
            raise _unprocessable(body)
        data = body.validated_data
        if data["media_type"] not in AnalysisMediaType.values:
            raise ApiError(
                status_code=422,
                code="validation_error",
                message=f"media_type must be one of {', '.join(AnalysisMediaType.values)}.",
            )
        if data["media_type"] not in ANALYSABLE_MEDIA_TYPES:
            raise ApiError(
                status_code=422,
                code="unsupported_media_type",
                message=unsupported_media_type_message(data["media_type"]),
            )
        plan = analysis_run_plan(prompt=data["prompt"], config=data["config"], options=data["options"])
        video = media_analysis_create(
            owner=request.user,
            media_url=data["media_url"],
            media_type=data["media_type"],
            prompt=data["prompt"],
            config=data["config"],
            options=data["options"],
            **plan,
        )
        response = {
            "analysis_id": video.pk,
            "status": analysis_status(video),
            "estimated_time": estimate_processing_time(media_type=data["media_type"], video=video),
            "message": f"Analysis queued. Check status with /api/media/status/{video.pk}",
        }
        return Response(AnalyzeResponseSerializer(response).data, status=status.HTTP_202_ACCEPTED)


def _video_or_error(request, analysis_id: uuid.UUID, *, gone_message: str) -> Video:
    visibility = video_visibility(user=request.user, video_id=analysis_id)
    if visibility == "live":
        return Video.objects.select_related("analysis_request").get(pk=analysis_id)
    # Soft-deleted, or removed by retention: the request row is the tombstone that still answers.
    if visibility == "deleted" or analysis_tombstone(user=request.user, analysis_id=analysis_id) is not None:
        raise ApiError(status_code=410, code="gone", message=gone_message)
    raise ApiError(status_code=404, code="not_found", message="Analysis does not exist.")


def _analysis_request(video: Video) -> MediaAnalysisRequest | None:
    try:
        return video.analysis_request
    except MediaAnalysisRequest.DoesNotExist:
        return None


class AnalysisStatusView(APIView):
    @extend_schema(
        parameters=[ANALYSIS_ID_PARAMETER], responses={200: AnalysisStatusSerializer, 400: None, 404: None, 410: None}
    )
    def get(self, request, analysis_id: str):
        video = _video_or_error(request, _analysis_id(analysis_id), gone_message="Analysis was deleted.")
        state = analysis_status(video)
        analysis_request = _analysis_request(video)
        completed_at, result_summary = analysis_result(video=video, completed=state == "completed")
        if result_summary is not None:
            result_summary["prompt"] = analysis_prompt_answer(video=video, request=analysis_request)
            if analysis_request is not None and analysis_request.analysis_options.get("include_detections"):
                result_summary["detections"] = analysis_detections(
                    video=video, classes=analysis_request.prompt_classes, limit=MAX_LISTED_DETECTIONS
                )
        body = {
            "analysis_id": video.pk,
            "status": state,
            "progress": 100 if state == "completed" else int(video.progress_percentage),
            "media_type": analysis_request.requested_media_type if analysis_request else "video",
            "source_url": video.source_url or None,
            "created_at": video.created_at,
            "updated_at": video.updated_at,
            "completed_at": completed_at,
            "result_summary": result_summary,
            "error_message": video.last_error_message or None if state == "failed" else None,
        }
        return Response(AnalysisStatusSerializer(body).data)


class AnalysisDeleteView(APIView):
    @extend_schema(parameters=[ANALYSIS_ID_PARAMETER], responses={204: None, 400: None, 404: None, 410: None})
    def delete(self, request, analysis_id: str):
        video_id = _analysis_id(analysis_id)
        _video_or_error(request, video_id, gone_message="Analysis already deleted.")
        media_analysis_delete(analysis_id=video_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


HISTORY_DEFAULTS = {"page": 1, "per_page": 20, "sort_by": "created_at", "order": "desc"}
_HISTORY_CHOICES = {
    "status": {value for value, _label in STATUS_VALUES},
    "media_type": set(AnalysisMediaType.values),
    "sort_by": set(SORT_FIELDS),
    "order": {"asc", "desc"},
}


def history_query(params) -> dict:
    """The validated history parameters (HistoryQuerySerializer's validated_data); ApiError 422 when invalid.

    The common queries (integers, choices, no dates) are read directly: building and running the serializer
    cost about as much as the whole page query. Anything else (dates, a value that is not plainly valid) goes
    through HistoryQuerySerializer, so what is accepted, and every error message, stays exactly the serializer's.
    """
    query = dict(HISTORY_DEFAULTS)
    for name in ("page", "per_page", "status", "media_type", "sort_by", "order", "date_from", "date_to"):
        value = params.get(name)
        if value is None:
            continue
        if name in ("page", "per_page"):
            # Seven digits at most: int() of thousands of digits is slow, and past 4,300 raises ValueError.
            number = int(value) if value.isascii() and value.isdigit() and len(value) <= 7 else 0
            if not 1 <= number <= (100 if name == "per_page" else 1_000_000):
                break
            query[name] = number
        elif name in _HISTORY_CHOICES and value in _HISTORY_CHOICES[name]:
            query[name] = value
        else:
            break
    else:
        return query
    serializer = HistoryQuerySerializer(data=params)
    if not serializer.is_valid():
        raise _unprocessable(serializer)
    return dict(serializer.validated_data)


class AnalysisHistoryView(APIView):
    @extend_schema(parameters=[HistoryQuerySerializer], responses={200: HistoryResponseSerializer, 422: None})
    def get(self, request):
        q = history_query(request.query_params)
        per_page, page = q["per_page"], q["page"]
        total, rows = analysis_history_page(
            user=request.user,
            status=q.get("status"),
            media_type=q.get("media_type"),
            date_from=q.get("date_from"),
            date_to=q.get("date_to"),
            sort_by=SORT_FIELDS[q["sort_by"]],
            descending=q["order"] == "desc",
            offset=(page - 1) * per_page,
            limit=per_page,
        )
        zone = timezone.get_current_timezone()
        data = []
        for row in rows:
            status = "deleted" if row["deleted_at"] is not None else STATUS_FOR_STATE[row["workflow_state"]]
            data.append(
                {
                    "analysis_id": str(row["id"]),
                    "status": status,
                    "media_type": row["media_type"],
                    "prompt": row["prompt"] or "",
                    "created_at": api_datetime(row["created_at"], zone),
                    "completed_at": api_datetime(row["completed_at"], zone)
                    if row["completed_at"] and STATUS_FOR_STATE[row["workflow_state"]] == "completed"
                    else None,
                }
            )
        body = {
            "data": data,  # built directly: HistoryItemSerializer documents it
            "pagination": {
                "page": page,
                "per_page": per_page,
                "total": total,
                "total_pages": math.ceil(total / per_page) if total else 0,
            },
        }
        return Response(body)
