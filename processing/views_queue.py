"""The run queue across videos, priorities, deleting a finished run, usage and storage figures."""

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from mediaplatform.api.pagination import StrictCursorPagination
from processing.selectors_queue import (
    JobListFilters,
    job_list_for_user,
    storage_statistics,
    usage_for_every_user,
    usage_for_user,
)
from processing.serializers import JobSerializer
from processing.serializers_queue import (
    JobQueueFilterSerializer,
    StorageStatisticsSerializer,
    UsageRangeSerializer,
    UsageSerializer,
)


class NewestFirstCursor(StrictCursorPagination):
    """Stable pages over a list that grows at the front while a client walks it."""

    ordering = ("-created_at", "-id")
    page_size = 25


class IsStaff(BasePermission):
    message = "Only staff may see every user's figures."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_staff)


class JobQueueListView(generics.ListAPIView):
    """Runs across videos: everyone's for staff, your own otherwise; filters combine."""

    serializer_class = JobSerializer
    pagination_class = NewestFirstCursor

    def get_queryset(self):
        filters = JobQueueFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        return job_list_for_user(
            user=self.request.user,
            filters=JobListFilters(
                status=data.get("status"),
                origin=data.get("origin"),
                model=data.get("model"),
                priority=data.get("priority"),
                video_id=data.get("video"),
                created_after=data.get("created_after"),
                created_before=data.get("created_before"),
            ),
        )

    @extend_schema(parameters=[JobQueueFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


def _range(request) -> dict:
    given = UsageRangeSerializer(data=request.query_params)
    given.is_valid(raise_exception=True)
    return {"since": given.validated_data.get("since"), "until": given.validated_data.get("until")}


class UsageView(APIView):
    """What your videos take: videos, bytes stored, processing seconds and detections over a range."""

    @extend_schema(parameters=[UsageRangeSerializer], responses={200: UsageSerializer})
    def get(self, request):
        return Response(UsageSerializer(asdict(usage_for_user(user=request.user, **_range(request)))).data)


class UsageByUserView(APIView):
    """Staff: the usage of every user over a range."""

    permission_classes = [IsStaff]

    @extend_schema(parameters=[UsageRangeSerializer], responses={200: UsageSerializer(many=True)})
    def get(self, request):
        rows = [asdict(row) for row in usage_for_every_user(**_range(request))]
        return Response(UsageSerializer(rows, many=True).data)


class StorageStatisticsView(APIView):
    """Staff: bytes per video state, failed storage operations and the slowest ones."""

    permission_classes = [IsStaff]

    @extend_schema(responses={200: StorageStatisticsSerializer})
    def get(self, request):
        return Response(StorageStatisticsSerializer(storage_statistics()).data)
