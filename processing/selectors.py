"""Reads of runs and their evaluations, and of videos with their runs, as the API and the pages show them."""

from datetime import datetime, tzinfo

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from mediaplatform.sql import sql_column, sql_table
from processing.models import Detection, Evaluation, JobOrigin, JobStage, JobStatus, ProcessingErrorLog, ProcessingJob
from videos.models import MediaAnalysisRequest, Video, VideoStateTransition
from videos.selectors import api_datetime, visible_to_sql
from videos.selectors_playback import PLAYBACK_COLUMNS, playback_fields_from_columns


def job_get_for_user(*, user: AbstractBaseUser, job_id) -> ProcessingJob | None:
    """A run of a video the user may see (their own; any for staff), with its stages; None otherwise."""
    jobs = ProcessingJob.objects.visible_to(user).select_related("video").prefetch_related("stages")
    return jobs.filter(pk=job_id, video__deleted_at__isnull=True).first()


def job_list_for_video(*, video: Video, origin: str | None = None) -> QuerySet[ProcessingJob]:
    """The video's runs and imported references (or only those of one origin), newest first."""
    jobs = video.jobs.prefetch_related("stages").order_by("-created_at")
    return jobs if origin is None else jobs.filter(origin=origin)


def evaluation_latest_for_job(*, job: ProcessingJob) -> Evaluation | None:
    return job.evaluations.order_by("-created_at").first()


def evaluation_list_for_video(*, video: Video) -> QuerySet[Evaluation]:
    return Evaluation.objects.filter(job__video=video).order_by("-created_at", "-id")


LATEST_ERRORS_SHOWN = 5


def video_with_runs_for_user(*, user: AbstractBaseUser, video_id) -> Video:
    """A video the user may see (their own; any for staff), with its runs, timeline and latest errors read along.

    Raises Video.DoesNotExist otherwise.
    """
    queryset = Video.objects.live().visible_to(user)
    latest_jobs = Prefetch(
        "jobs",
        queryset=ProcessingJob.objects.runs_latest_first().prefetch_related("stages"),
        to_attr="jobs_latest_first",
    )
    timeline = Prefetch("state_transitions", queryset=VideoStateTransition.objects.order_by("id"), to_attr="timeline")
    latest_errors = Prefetch(
        "errors",
        queryset=ProcessingErrorLog.objects.order_by("-created_at")[:LATEST_ERRORS_SHOWN],
        to_attr="latest_errors",
    )
    return queryset.prefetch_related(latest_jobs, timeline, latest_errors).get(pk=video_id)


# The detail of GET /api/v1/videos/<id>/, read in one statement --------------------------------------------
#
# The hot read of the API. VideoDetailSerializer (still the documented schema, and the body of the action
# endpoints) costs six queries and ~10 ms of DRF field machinery per request; this is one round trip whose
# rows are shaped straight into the same JSON. tests/api/test_api_fast_paths.py compares the two field for field.
# Decimals come back as text (numeric(5,2)::text is DRF's "12.50"); timestamps are rendered like DRF's
# DateTimeField (ISO 8601 in the current time zone, "Z" for UTC); the nested rows arrive as JSON, so their
# timestamps are parsed back first. One statement also means one snapshot: the run, its stages, the timeline
# and the errors are read consistently, which six autocommit queries were not.

# (JSON name, model field, SQL cast or None); the SQL takes table and column names from the models.
VIDEO_DETAIL_COLUMNS = (
    ("id", "id", None),
    ("title", "title", None),
    ("original_filename", "original_filename", None),
    ("state", "workflow_state", None),
    ("cancelled_at", "cancelled_at", None),
    ("current_stage", "current_stage", None),
    ("progress_percentage", "progress_percentage", "text"),
    ("objects_detected_count", "objects_detected_count", None),
    ("size_bytes", "size_bytes", None),
    ("created_at", "created_at", None),
    ("updated_at", "updated_at", None),
    ("mime_type", "mime_type", None),
    ("file_hash", "file_hash", None),
    ("duration_seconds", "duration_seconds", None),
    ("fps", "fps", None),
    ("width", "width", None),
    ("height", "height", None),
    ("frame_count", "frame_count", None),
    ("codec", "codec", None),
    ("container", "container", None),
    ("rotation", "rotation", None),
    ("has_audio", "has_audio", None),
    ("annotations_count", "annotations_count", None),
    ("total_processing_seconds", "total_processing_seconds", None),
    ("frames_per_second_processed", "frames_per_second_processed", None),
    ("last_error_message", "last_error_message", None),
    ("needs_review", "needs_review", None),
    ("last_event_seq", "last_event_seq", None),
    ("priority", "priority", None),
    ("source_url", "source_url", None),
) + tuple((f"_playback_{name}", name, None) for name in PLAYBACK_COLUMNS)
_VIDEO_DETAIL_DATETIMES = ("cancelled_at", "created_at", "updated_at")

JOB_SUMMARY_COLUMNS = (
    ("id", "id", None),
    ("status", "status", None),
    ("model_name", "model_name", None),
    ("frame_step", "frame_step", None),
    ("start_frame", "start_frame", None),
    ("end_frame", "end_frame", None),
    ("max_fps", "max_fps", None),
    ("track", "track", None),
    ("classes", "classes", None),
    ("confidence", "confidence", None),
    ("priority", "priority", None),
    ("is_ground_truth", "is_ground_truth", None),
    ("current_stage", "current_stage", None),
    ("stages", None, None),  # filled from the nested stage rows
    ("processed_frames", "processed_frames", None),
    ("total_frames", "total_frames", None),
    ("next_frame_index", "next_frame_index", None),
    ("progress_percentage", "progress_percentage", "text"),
    ("frames_per_second", "frames_per_second", None),
    ("estimated_completion_at", "estimated_completion_at", None),
    ("detections_count", "detections_count", None),
    ("processing_node_id", "processing_node_id", None),
    ("peak_memory_mb", "peak_memory_mb", None),
    ("cpu_percent", "cpu_percent", None),
    ("gpu_memory_mb", "gpu_memory_mb", None),
    ("retry_count", "retry_count", None),
    ("error_count", "error_count", None),
    ("last_error_message", "last_error_message", None),
    ("reused_from", "reused_from", None),
    ("started_at", "started_at", None),
    ("finished_at", "finished_at", None),
    ("heartbeat_at", "heartbeat_at", None),
)
_JOB_DATETIMES = ("estimated_completion_at", "started_at", "finished_at", "heartbeat_at")

STAGE_COLUMNS = (
    ("id", "id", None),
    ("stage", "stage", None),
    ("status", "status", None),
    ("progress_percentage", "progress_percentage", "text"),
    ("started_at", "started_at", None),
    ("finished_at", "finished_at", None),
    ("detail", "detail", None),
)
TIMELINE_COLUMNS = (
    ("id", "id", None),
    ("from_state", "from_state", None),
    ("to_state", "to_state", None),
    ("transition", "transition", None),
    ("reason", "reason", None),
    ("created_at", "created_at", None),
)
ERROR_COLUMNS = (
    ("id", "id", None),
    ("job_id", "job", None),
    ("stage", "stage", None),
    ("error_type", "error_type", None),
    ("error_code", "error_code", None),
    ("message", "message", None),
    ("severity", "severity", None),
    ("created_at", "created_at", None),
)


def _select_list(alias: str, model, columns) -> str:
    """`alias.column[::cast] AS "name"` for each (JSON name, model field, cast) with a field."""
    return ", ".join(
        f'{alias}.{sql_column(model, field)}{"::" + cast if cast else ""} AS "{name}"'
        for name, field, cast in columns
        if field
    )


def _video_detail_sql() -> str:
    video_id, deleted_at = sql_column(Video, "id"), sql_column(Video, "deleted_at")
    job_id, job_video, job_origin = (sql_column(ProcessingJob, name) for name in ("id", "video", "origin"))
    job_created = sql_column(ProcessingJob, "created_at")
    error_created = sql_column(ProcessingErrorLog, "created_at")
    # The latest run: ProcessingJob.objects.runs_latest_first() (origin "run", newest first), said in SQL.
    return f"""
SELECT {_select_list("v", Video, VIDEO_DETAIL_COLUMNS)},
  (SELECT row_to_json(job_row) FROM (
     SELECT {_select_list("j", ProcessingJob, JOB_SUMMARY_COLUMNS)},
       (SELECT coalesce(json_agg(stage_row ORDER BY stage_row.id), '[]'::json) FROM (
          SELECT {_select_list("s", JobStage, STAGE_COLUMNS)}
          FROM {sql_table(JobStage)} s WHERE s.{sql_column(JobStage, "job")} = j.{job_id}) stage_row) AS stages
     FROM {sql_table(ProcessingJob)} j WHERE j.{job_video} = v.{video_id} AND j.{job_origin} = '{JobOrigin.RUN.value}'
     ORDER BY j.{job_created} DESC LIMIT 1) job_row
  ) AS latest_job,
  (SELECT coalesce(json_agg(change_row ORDER BY change_row.id), '[]'::json) FROM (
     SELECT {_select_list("t", VideoStateTransition, TIMELINE_COLUMNS)}
     FROM {sql_table(VideoStateTransition)} t WHERE t.{sql_column(VideoStateTransition, "video")} = v.{video_id}
     ) change_row
  ) AS timeline,
  (SELECT coalesce(json_agg(error_row ORDER BY error_row.created_at DESC), '[]'::json) FROM (
     SELECT {_select_list("e", ProcessingErrorLog, ERROR_COLUMNS)}
     FROM {sql_table(ProcessingErrorLog)} e WHERE e.{sql_column(ProcessingErrorLog, "video")} = v.{video_id}
     ORDER BY e.{error_created} DESC LIMIT %s) error_row
  ) AS latest_errors
FROM {sql_table(Video)} v
WHERE v.{video_id} = %s AND v.{deleted_at} IS NULL"""


_VIDEO_DETAIL_SQL = _video_detail_sql()


def _job_summary(job: dict, zone: tzinfo) -> dict:
    summary = {}
    for name, _field, _cast in JOB_SUMMARY_COLUMNS:
        summary[name] = job.get(name)
    for name in _JOB_DATETIMES:
        summary[name] = api_datetime(job[name], zone)
    stages = []
    for row in job["stages"]:
        started = datetime.fromisoformat(row["started_at"]) if row["started_at"] else None
        finished = datetime.fromisoformat(row["finished_at"]) if row["finished_at"] else None
        stages.append(
            {
                "stage": row["stage"],
                "status": row["status"],
                "progress_percentage": row["progress_percentage"],
                "started_at": api_datetime(started, zone),
                "finished_at": api_datetime(finished, zone),
                "duration_seconds": (finished - started).total_seconds() if started and finished else None,
                "detail": row["detail"],
            }
        )
    summary["stages"] = stages
    return summary


def video_detail_for_user(*, user: AbstractBaseUser, video_id) -> dict | None:
    """The body of GET /api/v1/videos/<id>/ (VideoDetailSerializer's shape) in one query.

    None when the user may not see a live video of that id: someone else's (staff see all), deleted, or none.
    """
    sql, params = _VIDEO_DETAIL_SQL, [LATEST_ERRORS_SHOWN, video_id]
    visible, visible_params = visible_to_sql(user=user, alias="v")
    if visible:
        sql += f" AND {visible}"
        params += visible_params
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    zone = timezone.get_current_timezone()
    names = [name for name, _field, _cast in VIDEO_DETAIL_COLUMNS]
    body = dict(zip(names, row, strict=False))
    body["id"] = str(body["id"])
    for name in _VIDEO_DETAIL_DATETIMES:
        body[name] = api_datetime(body[name], zone)
    latest_job, timeline, latest_errors = row[len(names) :]
    playback_columns = {name: body.pop(f"_playback_{name}") for name in PLAYBACK_COLUMNS}
    body["latest_job"] = _job_summary(latest_job, zone) if latest_job else None
    body["timeline"] = [
        {
            "from_state": change["from_state"],
            "to_state": change["to_state"],
            "transition": change["transition"],
            "reason": change["reason"],
            "created_at": api_datetime(change["created_at"], zone),
        }
        for change in timeline
    ]
    body["latest_errors"] = [
        {
            "id": error["id"],
            "job_id": error["job_id"],
            "stage": error["stage"],
            "error_type": error["error_type"],
            "error_code": error["error_code"],
            "message": error["message"],
            "severity": error["severity"],
            "created_at": api_datetime(error["created_at"], zone),
        }
        for error in latest_errors
    ]
    playback = playback_fields_from_columns(body["id"], playback_columns)
    ordered = {}
    for name, value in body.items():
        ordered[name] = value
        if name == "updated_at":  # the list's last field; the detail's own follow it
            ordered["poster_url"] = playback["poster_url"]
    ordered["playback"], ordered["thumbnails"] = playback["playback"], playback["thumbnails"]
    return ordered


def video_latest_job(*, video: Video) -> ProcessingJob | None:
    """The latest run of the detector on the video (ProcessingJob.objects.runs_latest_first); imported reference
    annotations are not runs. The one definition for the API, the pages, the admin and the services."""
    jobs = getattr(video, "jobs_latest_first", None)
    if jobs is not None:
        return jobs[0] if jobs else None
    return video.jobs.runs_latest_first().first()


def video_result_job(*, video: Video) -> ProcessingJob | None:
    """The run whose detections stand for the video: its ground truth, else the latest completed, else the latest.

    Only detector runs: a person's imported annotations are the yardstick, never what the platform found.
    """
    jobs = video.jobs.runs()
    return (
        jobs.filter(is_ground_truth=True).first()
        or jobs.filter(status="completed").order_by("-finished_at").first()
        or jobs.order_by("-created_at").first()
    )


def detection_list_for_video(*, video: Video) -> QuerySet[Detection]:
    """Detections of the run that stands for the video, in frame order."""
    job = video_result_job(video=video)
    if job is None:
        return Detection.objects.none()
    return Detection.objects.filter(job=job).order_by("frame_index", "id")


HISTORY_SORT_COLUMNS = {name: f"v.{sql_column(Video, name)}" for name in ("created_at", "updated_at", "workflow_state")}
HISTORY_PAGE_COLUMNS = ("id", "workflow_state", "deleted_at", "created_at", "prompt", "completed_at", "media_type")
# A video uploaded through the platform, not asked for through the media analysis API, is a video.
HISTORY_DEFAULT_MEDIA_TYPE = "video"
_LARGEST_OFFSET = 2**63 - 1


def analysis_history_statement(
    *,
    user: AbstractBaseUser,
    status: str | None = None,
    media_type: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    sort_by: str = "created_at",
    descending: bool = True,
    offset: int = 0,
    limit: int = 20,
) -> tuple[str, list]:
    """SQL and parameters answering (total, then one page of rows) for the history filters.

    Own analyses (all for staff); `status` is a media analysis API status: "deleted" lists the soft-deleted ones, any
    other value live ones only; `media_type` is the type the analysis was requested as. Each row has the total
    (so an empty page still tells it), then the page's columns
    (HISTORY_PAGE_COLUMNS; NULL when the page is past the end). The owner/state/created_at filters match the
    indexes video_owner_state_created_idx (live rows) and video_owner_created_idx.
    """
    from videos.services.media_analysis import STATES_FOR_STATUS

    video_id, state_column, deleted_at, created_at = (
        sql_column(Video, name) for name in ("id", "workflow_state", "deleted_at", "created_at")
    )
    conditions, params = [], []
    visible, visible_params = visible_to_sql(user=user, alias="v")
    if visible:
        conditions.append(visible)
        params += visible_params
    if status == "deleted":
        conditions.append(f"v.{deleted_at} IS NOT NULL")
    else:
        conditions.append(f"v.{deleted_at} IS NULL")
        if status:
            conditions.append(f"v.{state_column} = ANY(%s)")
            params.append([str(state) for state in STATES_FOR_STATUS[status]])
    request_table, request_video, request_type = (
        sql_table(MediaAnalysisRequest),
        sql_column(MediaAnalysisRequest, "video"),
        sql_column(MediaAnalysisRequest, "requested_media_type"),
    )
    if media_type == HISTORY_DEFAULT_MEDIA_TYPE:
        conditions.append(
            f"NOT EXISTS (SELECT 1 FROM {request_table} r WHERE r.{request_video} = v.{video_id}"
            f" AND r.{request_type} <> %s)"
        )
        params.append(media_type)
    elif media_type:
        conditions.append(
            f"EXISTS (SELECT 1 FROM {request_table} r WHERE r.{request_video} = v.{video_id} AND r.{request_type} = %s)"
        )
        params.append(media_type)
    if date_from:
        conditions.append(f"v.{created_at} >= %s")
        params.append(date_from)
    if date_to:
        conditions.append(f"v.{created_at} <= %s")
        params.append(date_to)
    where = " AND ".join(conditions)
    direction = "DESC" if descending else "ASC"
    sort_column = HISTORY_SORT_COLUMNS[sort_by]
    job_video, job_status, job_finished = (
        sql_column(ProcessingJob, name) for name in ("video", "status", "finished_at")
    )
    # The page's rows are chosen first (index order, LIMIT/OFFSET), and only those 20-odd rows are then joined
    # to their prompt and latest completed run: joined before the LIMIT, the skipped rows paid for it too.
    sql = f"""
SELECT counted.total, page.id, page.workflow_state, page.deleted_at, page.created_at,
  request.{sql_column(MediaAnalysisRequest, "prompt")} AS prompt,
  (SELECT j.{job_finished} FROM {sql_table(ProcessingJob)} j
   WHERE j.{job_video} = page.id AND j.{job_status} = '{JobStatus.COMPLETED.value}'
   ORDER BY j.{job_finished} DESC NULLS LAST LIMIT 1) AS completed_at,
  COALESCE(request.{request_type}, '{HISTORY_DEFAULT_MEDIA_TYPE}') AS media_type
FROM (SELECT count(*) AS total FROM {sql_table(Video)} v WHERE {where}) counted
LEFT JOIN (
  SELECT v.{video_id} AS id, v.{state_column} AS workflow_state, v.{deleted_at} AS deleted_at,
    v.{created_at} AS created_at, {sort_column} AS sort_key
  FROM {sql_table(Video)} v
  WHERE {where}
  ORDER BY {sort_column} {direction}, v.{video_id} {direction}
  LIMIT %s OFFSET %s
) page ON true
LEFT JOIN {sql_table(MediaAnalysisRequest)} request
  ON request.{sql_column(MediaAnalysisRequest, "video")} = page.id
ORDER BY page.sort_key {direction}, page.id {direction}"""
    # A page far past any total still answers an empty page with the total: OFFSET is a bigint.
    return sql, [*params, *params, limit, min(offset, _LARGEST_OFFSET)]


def analysis_history_page(
    *,
    user: AbstractBaseUser,
    status: str | None = None,
    media_type: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    sort_by: str = "created_at",
    descending: bool = True,
    offset: int = 0,
    limit: int = 20,
) -> tuple[int, list[dict]]:
    """(total, rows of one page) of the user's analyses (videos) for GET /api/media/history, in one query.

    Each row: HISTORY_PAGE_COLUMNS, `completed_at` being the finish time of the latest completed run.
    """
    from videos.services.media_analysis import ANALYSABLE_MEDIA_TYPES

    if media_type is not None and media_type not in ANALYSABLE_MEDIA_TYPES:
        return 0, []  # refused when requested (audio, documents): no analysis of that type is ever stored
    sql, params = analysis_history_statement(
        user=user,
        status=status,
        media_type=media_type,
        date_from=date_from,
        date_to=date_to,
        sort_by=sort_by,
        descending=descending,
        offset=offset,
        limit=limit,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    total = rows[0][0] if rows else 0
    page = [dict(zip(HISTORY_PAGE_COLUMNS, row[1:], strict=True)) for row in rows if row[1] is not None]
    return total, page


def analysis_result(*, video: Video, completed: bool) -> tuple[datetime | None, dict | None]:
    """When a completed analysis finished and what it found (top classes); (None, None) otherwise."""
    if not completed:
        return None, None
    job = video_result_job(video=video)
    if job is None:
        return None, None
    classes = dict(
        Detection.objects.filter(job=job)
        .values_list("class_name")
        .annotate(n=Count("id"))
        .order_by("-n", "class_name")[:20]
    )
    summary = {
        "summary": f"{video.objects_detected_count} objects detected",
        "objects_detected": video.objects_detected_count,
        "classes": classes,
        "topics": list(classes),
        "duration_seconds": video.duration_seconds,
    }
    return (job.finished_at if job.status == "completed" else None), summary
