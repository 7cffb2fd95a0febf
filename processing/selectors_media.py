"""Reads for the media analysis API's status: what the run found, said as an answer to the prompt."""

from django.db.models import Count, Max, Min

from processing.models import Detection
from processing.selectors import video_result_job
from videos.models import MediaAnalysisRequest, Video

ANSWERED_CLASSES_WITHOUT_PROMPT = 20


def analysis_prompt_answer(*, video: Video, request: MediaAnalysisRequest | None) -> dict | None:
    """Per asked class (every class found when the prompt named none): detections, first and last time seen,
    distinct tracks when the run tracked; and the prompt's words that named no class. None without a run."""
    job = video_result_job(video=video)
    if job is None:
        return None
    asked = list(request.prompt_classes) if request is not None else []
    rows = (
        Detection.objects.filter(job=job, **({"class_name__in": asked} if asked else {}))
        .values("class_name")
        .annotate(
            detections=Count("id"),
            frames=Count("frame_index", distinct=True),
            first_seen=Min("timestamp_seconds"),
            last_seen=Max("timestamp_seconds"),
            tracks=Count("track_id", distinct=True),
        )
        .order_by("-detections", "class_name")
    )
    if not asked:
        rows = rows[:ANSWERED_CLASSES_WITHOUT_PROMPT]
    found = {row["class_name"]: row for row in rows}
    answers = {}
    for name in asked or list(found):
        row = found.get(name)
        answers[name] = {
            "detections": row["detections"] if row else 0,
            "frames": row["frames"] if row else 0,
            "first_seen_seconds": row["first_seen"] if row else None,
            "last_seen_seconds": row["last_seen"] if row else None,
            "tracks": (row["tracks"] if row else 0) if job.track else None,
        }
    return {
        "asked_classes": asked,
        "unmatched_words": list(request.unmatched_prompt_words) if request is not None else [],
        "tracked": bool(job.track),
        "model": job.model_name,
        "answers": answers,
    }


def analysis_detections(*, video: Video, classes: list[str], limit: int) -> list[dict]:
    """The first `limit` detections of the asked classes (all classes when none were asked), in frame order."""
    job = video_result_job(video=video)
    if job is None:
        return []
    detections = Detection.objects.filter(job=job, **({"class_name__in": classes} if classes else {}))
    return [
        {
            "frame_index": row["frame_index"],
            "time_seconds": row["timestamp_seconds"],
            "class_name": row["class_name"],
            "confidence": round(row["confidence"], 4),
            "track_id": row["track_id"],
            "box": [row["x1"], row["y1"], row["x2"], row["y2"]],
        }
        for row in detections.order_by("frame_index", "id").values(
            "frame_index", "timestamp_seconds", "class_name", "confidence", "track_id", "x1", "y1", "x2", "y2"
        )[:limit]
    ]
