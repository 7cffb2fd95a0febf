"""The dashboard's home page: the figures, the upload form and the library of videos."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from videos.filters import VideoListFilterSerializer
from videos.models import WorkflowState, sees_every_video
from videos.selectors_dashboard import dashboard_figures, dashboard_library, user_has_videos
from videos.serializers import VideoListSerializer

VIDEOS_PER_PAGE = 25
DEFAULT_ORDERING = "-created_at"
# The library's columns: (key, header, the ordering that sorts by it, or None).
COLUMNS = [
    ("poster", "Preview", None),
    ("title", "Title", "title"),
    ("owner", "Owner", "owner"),
    ("state", "State", "state"),
    ("progress", "Progress", None),
    ("speed", "Frames/s", None),
    ("eta", "ETA", None),
    ("objects", "Objects", "objects"),
    ("duration", "Duration", "duration"),
    ("created", "Added", "created_at"),
]


def stage_label(stage: str) -> str:
    """A stage as people read it: "ground_truth" -> "Ground truth"."""
    return stage.replace("_", " ").capitalize()


def duration_label(seconds: float | None) -> str:
    """A length as m:ss (h:mm:ss past an hour); "–" before the file was probed."""
    if seconds is None:
        return "–"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def speed_label(state: str, frames_per_second: float | None) -> str:
    """Frames analysed per second; before a measure, what it is waiting for (static/js/dashboard.js alike)."""
    if frames_per_second is not None:
        return f"{frames_per_second:.1f}"
    if state == WorkflowState.PROCESSING:
        return "measuring…"
    if state in (WorkflowState.COMPLETED, WorkflowState.FAILED, WorkflowState.ARCHIVED):
        return "not measured"
    return "not started"


def _query(params, **changes) -> str:
    query = params.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value not in (None, ""):
            query[key] = value
    return "?" + query.urlencode() if query else "?"


def _columns(params, ordering: str, everyone: bool) -> list[dict]:
    """The header cells: each sortable one links to its ordering (again: reversed) and says how rows are sorted."""
    columns = []
    for key, label, sort_key in COLUMNS:
        if key == "owner" and not everyone:
            continue
        column = {"key": key, "label": label, "sortable": sort_key is not None, "aria_sort": None, "href": ""}
        if sort_key:
            ascending, descending = sort_key, f"-{sort_key}"
            if ordering == ascending:
                column["aria_sort"], next_ordering = "ascending", descending
            elif ordering == descending:
                column["aria_sort"], next_ordering = "descending", ascending
            else:
                next_ordering = descending if key in ("created", "objects", "duration") else ascending
            column["href"] = _query(params, ordering=next_ordering, page=None)
        columns.append(column)
    return columns


@login_required
def dashboard(request):
    """Figures of the last 24 hours, the upload form and the library (`view`, `state`, `search`, `ordering`,
    `archived`, `page`); staff choose between their own videos and everyone's with `view=all`."""
    params = request.GET.copy()
    for key in [key for key, value in params.items() if not value.strip()]:
        del params[key]  # an empty box in the form means "any"
    everyone = sees_every_video(request.user) and params.get("view") == "all"
    include_archived = params.get("archived") == "1"
    filters = VideoListFilterSerializer(data=params)
    filter_error = ""
    if filters.is_valid():
        chosen = filters.validated_data
    else:
        filter_error = "Those filters are not valid; showing every video."
        chosen = {}
    ordering = chosen.get("ordering") or DEFAULT_ORDERING
    videos = dashboard_library(user=request.user, everyone=everyone, filters=chosen, include_archived=include_archived)
    page = Paginator(videos, VIDEOS_PER_PAGE).get_page(params.get("page"))
    rows = list(page.object_list)
    # Whatever the list API shows of a video (its poster, say) the page shows alike.
    listed = {str(item["id"]): item for item in VideoListSerializer(rows, many=True).data}
    for video in rows:
        video.poster_url = listed.get(str(video.pk), {}).get("poster_url")
        video.stage_label = stage_label(video.current_stage)
        video.duration_label = duration_label(video.duration_seconds)
        video.speed_label = speed_label(video.workflow_state, video.frames_per_second_processed)
    filtering = bool(chosen.get("state") or chosen.get("search"))
    return render(
        request,
        "dashboard.html",
        {
            "videos": rows,
            "page": page,
            "page_links": {
                "previous": _query(params, page=page.previous_page_number()) if page.has_previous() else "",
                "next": _query(params, page=page.next_page_number()) if page.has_next() else "",
                "first": _query(params, page=None),
                "last": _query(params, page=page.paginator.num_pages),
            },
            "columns": _columns(params, ordering, everyone),
            "ordering": ordering,
            "everyone": everyone,
            "can_see_everyone": sees_every_video(request.user),
            "view_links": {"own": _query(params, view=None, page=None), "all": _query(params, view="all", page=None)},
            "include_archived": include_archived,
            "welcome": not everyone
            and not filtering
            and not include_archived
            and not user_has_videos(user=request.user),
            "stats": dashboard_figures(user=request.user, everyone=everyone),
            "states": WorkflowState.choices,
            "selected_state": request.GET.get("state", ""),
            "search": request.GET.get("search", ""),
            "filter_error": filter_error,
        },
    )
