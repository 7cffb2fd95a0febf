"""The dashboard's home page: the figures, the upload form and the user's videos."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from videos.filters import VideoListFilterSerializer, video_filter
from videos.models import WorkflowState
from videos.selectors import video_list_for_user
from videos.selectors_dashboard import dashboard_figures


@login_required
def dashboard(request):
    """Figures of the last 24 hours, the upload form and the user's videos (filtered by `state`, `search`)."""
    params = request.GET.copy()
    for key in [key for key, value in params.items() if not value.strip()]:
        del params[key]  # an empty box in the form means "any"
    filters = VideoListFilterSerializer(data=params)
    videos = video_list_for_user(user=request.user)
    filter_error = ""
    if filters.is_valid():
        videos = video_filter(videos, filters.validated_data)
    else:
        filter_error = "Those filters are not valid; showing every video."
    return render(
        request,
        "dashboard.html",
        {
            "videos": videos[:100],
            "stats": dashboard_figures(user=request.user),
            "states": WorkflowState.choices,
            "selected_state": request.GET.get("state", ""),
            "search": request.GET.get("search", ""),
            "filter_error": filter_error,
        },
    )
