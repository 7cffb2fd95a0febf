"""Reads for a video's page: the video with its runs, and its detections packed per frame for the player."""

from django.contrib.auth.models import AbstractBaseUser

from processing.models import Detection, ProcessingJob
from processing.selectors import video_result_job, video_with_runs_for_user
from videos.models import Video

# How many frames one request for packed detections covers at most (the page asks again from `next_frame`).
FRAMES_PER_CHUNK = 1500


def video_for_page(*, user: AbstractBaseUser, video_id) -> Video:
    """A video its owner or staff may open; raises Video.DoesNotExist otherwise."""
    return video_with_runs_for_user(user=user, video_id=video_id)


def detection_job_for_video(*, video: Video, job_id=None) -> ProcessingJob | None:
    """The named run of the video, else the run whose detections stand for it."""
    if job_id is not None:
        return video.jobs.filter(pk=job_id).first()
    return video_result_job(video=video)


def detections_packed(*, job: ProcessingJob, start_frame: int = 0, frame_limit: int = FRAMES_PER_CHUNK) -> dict:
    """Detections of frames [start_frame, start_frame + frame_limit) as compact rows, per frame.

    Rows are [x1, y1, x2, y2, class index, confidence, track id] in source pixels; `classes` names the
    indexes. `next_frame` is where the next chunk starts, or None after the last detection.
    """
    end_frame = start_frame + frame_limit
    rows = (
        Detection.objects.filter(job=job, frame_index__gte=start_frame, frame_index__lt=end_frame)
        .order_by("frame_index", "id")
        .values_list("frame_index", "class_name", "confidence", "track_id", "x1", "y1", "x2", "y2")
    )
    classes: list[str] = []
    class_index: dict[str, int] = {}
    frames: dict[str, list] = {}
    for frame_index, class_name, confidence, track_id, x1, y1, x2, y2 in rows.iterator(chunk_size=5000):
        index = class_index.get(class_name)
        if index is None:
            index = class_index[class_name] = len(classes)
            classes.append(class_name)
        frames.setdefault(str(frame_index), []).append(
            [round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1), index, round(confidence, 4), track_id]
        )
    more = Detection.objects.filter(job=job, frame_index__gte=end_frame).exists()
    return {
        "job_id": str(job.pk),
        "job_status": job.status,
        "start_frame": start_frame,
        "next_frame": end_frame if more else None,
        "classes": classes,
        "frames": frames,
    }
