"""Creating, cancelling, retrying and marking processing jobs."""

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record
from mediaplatform.service_errors import ServiceError
from mediaplatform.transactions import atomic_retrying_conflicts
from notifications.models import EventType
from notifications.services.events import event_emit
from processing.models import BROKER_PRIORITIES, DetectorModel, JobPriority, JobStatus, ProcessingJob
from processing.selectors import video_detail_for_user
from processing.services.locking import LockedVideo, job_lock, video_and_jobs_lock
from processing.services.registry import detector_config_for, detector_model_default
from processing.services.stages import ground_truth_stage_record, stages_cancel, stages_initialise
from videos.models import LIVE_STATES, Video, WorkflowState
from videos.runs import RUN_OPTION_NAMES
from videos.services.transitions import video_lock, video_transition
from videos.services.workflow import WorkflowRefused, video_allowed_actions, video_refuse_if_deleted

logger = logging.getLogger(__name__)

ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.RETRYING)


class JobRefused(WorkflowRefused):
    """A run's action that does not fit the run's or its video's current state."""


@dataclass(frozen=True)
class JobOptions:
    frame_step: int = 1
    start_frame: int = 0
    end_frame: int | None = None
    max_fps: float | None = None
    track: bool = False
    batch_size: int | None = None
    model_name: str | None = None  # a registered DetectorModel's name; None: the default
    classes: tuple[str, ...] = ()  # class names kept; empty: all of the model's
    confidence: float | None = None  # lowest confidence kept; None: the model's default
    priority: str = JobPriority.NORMAL  # how soon the run starts when runs wait for a worker

    def __post_init__(self):
        if self.frame_step < 1:
            raise ValueError("frame_step must be at least 1")
        if self.end_frame is not None and self.end_frame < self.start_frame:
            raise ValueError("end_frame must not come before start_frame")
        if self.max_fps is not None and self.max_fps <= 0:
            raise ValueError("max_fps must be positive")
        if self.confidence is not None and not 0 < self.confidence <= 1:
            raise ValueError("confidence must be above 0 and at most 1")
        if self.priority not in JobPriority.values:
            raise ValueError(f"priority must be one of {', '.join(JobPriority.values)}")


class RunOptionsRefused(ServiceError):
    """Run options a run cannot be made with; `details` is keyed by the field at fault, as a form error is."""

    default_code = "invalid"

    def __init__(self, field: str, message: str, **details):
        super().__init__(message, details={field: [message], **details})
        self.field = field


# The largest values the job's columns hold (PositiveIntegerField), so a bad request is a 400, never a 500.
_MAX_FRAME = 2_147_483_647
_MAX_CLASSES = 1000
_MAX_CLASS_NAME = 200
_FALSE, _TRUE = ("0", "false", "no", "off", ""), ("1", "true", "yes", "on")


def _as_int(field: str, value, *, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise RunOptionsRefused(field, f"{field} must be a whole number.")
    try:
        number = value if isinstance(value, int) else int(str(value).strip())
    except ValueError:
        raise RunOptionsRefused(field, f"{field} must be a whole number.") from None
    if not low <= number <= high:
        raise RunOptionsRefused(field, f"{field} must be between {low} and {high}.")
    return number


def _as_float(field: str, value) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number != number or number in (float("inf"), float("-inf")):
        raise RunOptionsRefused(field, f"{field} must be a number.")
    return number


def _as_bool(field: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RunOptionsRefused(field, f"{field} must be true or false.")


def _as_classes(value) -> tuple[str, ...]:
    # Multipart forms send one comma-separated value or the field repeated; JSON a list.
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise RunOptionsRefused("classes", "classes must be a list of class names.")
    if len(items) > _MAX_CLASSES or not all(isinstance(item, str) for item in items):
        raise RunOptionsRefused("classes", f"classes must be at most {_MAX_CLASSES} class names.")
    names = {item.strip() for item in items if item.strip()}
    if any(len(name) > _MAX_CLASS_NAME for name in names):
        raise RunOptionsRefused("classes", f"A class name is at most {_MAX_CLASS_NAME} characters.")
    return tuple(sorted(names))


# job_options_parse looks the run's model up itself unless the caller already has it.
MODEL_NOT_LOOKED_UP = object()


def job_options_parse(options: Mapping, *, model: DetectorModel | None | object = MODEL_NOT_LOOKED_UP) -> JobOptions:
    """Run options as a request names them (`RUN_OPTION_NAMES`; absent or None: the default), checked against
    the chosen model (`model`, when the caller has looked up the one the options name: `detector_model_for_run`).
    Raises RunOptionsRefused naming the field."""
    unknown = sorted(set(options) - set(RUN_OPTION_NAMES) - {"model_name", "batch_size"})
    if unknown:
        raise RunOptionsRefused(unknown[0], f"Unknown run option {unknown[0]!r}.")
    given = {key: value for key, value in options.items() if value is not None and value != ""}
    frame_step = _as_int("frame_step", given.get("frame_step", settings.DEFAULT_FRAME_STEP), low=1, high=10_000)
    start_frame = _as_int("start_frame", given.get("start_frame", 0), low=0, high=_MAX_FRAME)
    end_frame = None
    if "end_frame" in given:
        end_frame = _as_int("end_frame", given["end_frame"], low=0, high=_MAX_FRAME)
        if end_frame < start_frame:
            raise RunOptionsRefused("end_frame", "end_frame must not come before start_frame.")
    max_fps = None
    if "max_fps" in given:
        max_fps = _as_float("max_fps", given["max_fps"])
        if not 0.01 <= max_fps <= 1000:
            raise RunOptionsRefused("max_fps", "max_fps must be between 0.01 and 1000.")
    confidence = None
    if "confidence" in given:
        confidence = _as_float("confidence", given["confidence"])
        if not 0 < confidence <= 1:
            raise RunOptionsRefused("confidence", "confidence must be above 0 and at most 1.")
    track = _as_bool("track", given.get("track", False))
    batch_size = given.get("batch_size")
    if batch_size is not None:
        batch_size = _as_int("batch_size", batch_size, low=1, high=1024)
    model_name = given.get("model") or given.get("model_name")
    if model_name is not None and (not isinstance(model_name, str) or len(model_name) > 100):
        raise RunOptionsRefused("model", "model must be a registered model's name.")
    if model is MODEL_NOT_LOOKED_UP:
        try:
            model = detector_model_for_run(model_name)
        except ValueError as exc:
            raise RunOptionsRefused("model", f"model: {exc}.") from None
    priority = given.get("priority", JobPriority.NORMAL)
    if priority not in JobPriority.values:
        raise RunOptionsRefused("priority", f"priority must be one of {', '.join(JobPriority.values)}.")
    classes = _as_classes(given.get("classes", ()))
    known = set(model.class_names.values()) if model is not None and model.class_names else None
    if classes and known is not None and not set(classes) <= known:
        missing = [name for name in classes if name not in known]
        raise RunOptionsRefused(
            "classes",
            f"classes: {model.name} does not know {', '.join(missing)}.",
            unknown_classes=missing,
        )
    return JobOptions(
        frame_step=frame_step,
        start_frame=start_frame,
        end_frame=end_frame,
        max_fps=max_fps,
        track=track,
        batch_size=batch_size,
        model_name=model_name,
        classes=classes,
        confidence=confidence,
        priority=priority,
    )


def detector_model_for_run(name: str | None) -> DetectorModel | None:
    """The registered model called `name` (the default model when None). Raises ValueError for an unknown name."""
    if not name:
        return detector_model_default()
    model = DetectorModel.objects.filter(name=name).order_by("-is_default", "-created_at").first()
    if model is None:
        raise ValueError(f"No registered model is called {name!r}")
    return model


def job_create(
    *,
    video: Video,
    options: JobOptions | None = None,
    actor: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> ProcessingJob:
    """Create a run of a detector over the video; it is queued once the transaction commits."""
    options = options or JobOptions(frame_step=settings.DEFAULT_FRAME_STEP)
    model = detector_model_for_run(options.model_name)
    detector = detector_config_for(model, fetch_weights=False)
    confidence = options.confidence if options.confidence is not None else detector.confidence
    job = ProcessingJob.objects.create(
        video=video,
        detector_model=model,
        model_name=detector.model_name,
        frame_step=options.frame_step,
        start_frame=options.start_frame,
        end_frame=options.end_frame,
        max_fps=options.max_fps,
        track=options.track,
        batch_size=options.batch_size,
        classes=sorted(set(options.classes)),
        confidence=confidence,
        priority=options.priority,
        config={
            "weights_sha256": model.sha256 if model else "",
            "architecture": "" if model else detector.architecture,
            "image_size": detector.image_size,
            "confidence": confidence,
            "iou_threshold": detector.iou_threshold,
            "max_detections": detector.max_detections,
        },
    )
    stages_initialise(job=job, upload_finished_at=video.updated_at)
    audit_record(
        action="job.create",
        obj=job,
        actor=actor,
        new_values={"video_id": str(video.pk), "model_name": job.model_name, **_set_options(options)},
    )
    if enqueue:
        transaction.on_commit(lambda: job_enqueue(job_id=job.pk))
    return job


def _set_options(options: JobOptions) -> dict:
    values = {key: value for key, value in asdict(options).items() if value is not None}
    values["classes"] = list(options.classes)
    return values


def job_message_priority(*, job_id) -> int:
    """The broker priority the job's message goes with: its run priority's step (0 is served first)."""
    priority = ProcessingJob.objects.filter(pk=job_id).values_list("priority", flat=True).first()
    return BROKER_PRIORITIES.get(priority, BROKER_PRIORITIES[JobPriority.NORMAL])


def job_enqueue(*, job_id, countdown: float | None = None) -> None:
    from processing.tasks import process_video

    result = process_video.apply_async(
        args=[str(job_id)], countdown=countdown, priority=job_message_priority(job_id=job_id)
    )
    ProcessingJob.objects.filter(pk=job_id).update(celery_task_id=result.id)
    logger.info("job %s queued as task %s", job_id, result.id)


def _latest_job_id(video: Video):
    """The latest run of the detector; an imported reference is never retried or resumed."""
    return video.jobs.runs_latest_first().values_list("pk", flat=True).first()


def _job_set_cancelled(*, job: ProcessingJob, at) -> None:
    job.cancel_requested_at = job.cancel_requested_at or at
    job.status = JobStatus.CANCELLED
    job.finished_at = at
    job.estimated_completion_at = None
    job.save(update_fields=["cancel_requested_at", "status", "finished_at", "estimated_completion_at", "updated_at"])
    stages_cancel(job_id=job.pk)


def _cancelled_event_data(jobs: list[ProcessingJob]) -> dict:
    return {
        "error_code": "cancelled",
        "error_message": "cancelled",
        "jobs": [str(job.pk) for job in jobs],
        "frames_processed": sum(job.processed_frames for job in jobs),
        "detections_kept": sum(job.detections_count for job in jobs),
    }


def job_finish_cancelled(*, locked: LockedVideo, job: ProcessingJob) -> None:
    """End a run that was cancelled or whose video was deleted, under the locks of `locked`.

    The run keeps what it stored. Its video is never left live: when no other run is active,
    a live video fails as cancelled.
    """
    video = locked.video
    now = timezone.now()
    if job.status in ACTIVE_JOB_STATUSES:
        _job_set_cancelled(job=job, at=now)
    if video.workflow_state not in LIVE_STATES:
        return
    if ProcessingJob.objects.filter(video=video, status__in=ACTIVE_JOB_STATUSES).exclude(pk=job.pk).exists():
        return
    video_transition(
        video_id=video.pk,
        transition_name="fail",
        reason="cancelled",
        event_type=EventType.PROCESSING_CANCELLED,
        event_data=_cancelled_event_data([job]),
        field_updates={"last_error_message": "cancelled", "cancelled_at": video.cancelled_at or now},
    )


@atomic_retrying_conflicts
def job_create_for_video(*, video_id, options: JobOptions, actor: AbstractBaseUser | None = None) -> ProcessingJob:
    """Another run over a finished video (another model or settings); earlier runs are kept."""
    video = video_lock(video_id=video_id)
    video_refuse_if_deleted(video)
    if video.workflow_state != WorkflowState.COMPLETED:
        raise JobRefused(
            f"A new run needs a completed video; this one is {video.workflow_state}.",
            state=video.workflow_state,
            allowed=video_allowed_actions(video=video),
        )
    # Runs are only created under the video's lock, so this answer holds until commit.
    if ProcessingJob.objects.filter(video=video, status__in=ACTIVE_JOB_STATUSES).exists():
        raise JobRefused("This video already has a run in progress.", state=video.workflow_state, allowed=["cancel"])
    return job_create(video=video, options=options, actor=actor)


@atomic_retrying_conflicts
def job_mark_ground_truth(*, job_id, actor: AbstractBaseUser | None = None) -> ProcessingJob:
    """Make this completed run the video's ground truth (one per video)."""
    locked = job_lock(job_id=job_id)
    job = locked.job(job_id)
    if job.status != JobStatus.COMPLETED:
        raise JobRefused("Only a completed run can be the ground truth.", state=job.status, allowed=[])
    replaced = list(
        ProcessingJob.objects.filter(video_id=job.video_id, is_ground_truth=True)
        .exclude(pk=job.pk)
        .values_list("pk", flat=True)
    )
    ProcessingJob.objects.filter(pk__in=replaced).update(is_ground_truth=False)
    job.is_ground_truth = True
    job.save(update_fields=["is_ground_truth", "updated_at"])
    ground_truth_stage_record(job_id=job.pk, detail="marked as the ground truth", replaced_job_ids=replaced)
    audit_record(action="job.mark_ground_truth", obj=job, actor=actor)
    event_emit(
        video=locked.video,
        event_type=EventType.GROUND_TRUTH_GENERATED,
        data={"job_id": str(job.pk), "origin": job.origin, "replaced_job_ids": [str(pk) for pk in replaced]},
    )
    return job


class ProcessingVideoRuns:
    """The runs of a video, as the videos app's workflow asks for them (`videos.runs.VideoRuns`)."""

    def video_detail(self, *, user: AbstractBaseUser, video_id) -> dict | None:
        return video_detail_for_user(user=user, video_id=video_id)

    def options_check(self, *, options: Mapping) -> None:
        job_options_parse(options)

    def start_first(self, *, video: Video, options, actor: AbstractBaseUser | None, enqueue: bool) -> None:
        if isinstance(options, Mapping):
            options = job_options_parse(options)
        options = options or JobOptions(frame_step=settings.DEFAULT_FRAME_STEP)
        job_create(video=video, options=options, actor=actor, enqueue=enqueue)

    def stop_active(self, *, video: Video) -> dict | None:
        active = video_and_jobs_lock(video_id=video.pk, job_filter=Q(status__in=ACTIVE_JOB_STATUSES)).jobs
        if not active:
            return None
        now = timezone.now()
        for job in active:
            _job_set_cancelled(job=job, at=now)
        return _cancelled_event_data(active)

    def queue_again(self, *, video: Video, actor: AbstractBaseUser | None) -> ProcessingJob:
        latest_id = _latest_job_id(video)
        if latest_id is None:
            return job_create(video=video, actor=actor)
        # Whatever the run's status, this starts a new attempt: a runner still holding it sees the
        # retry count move and stops, leaving the job to the attempt queued here.
        job = video_and_jobs_lock(video_id=video.pk, job_ids=[latest_id]).job(latest_id)
        job.status = JobStatus.QUEUED
        job.cancel_requested_at = None
        job.finished_at = None
        job.retry_count += 1
        job.save(update_fields=["status", "cancel_requested_at", "finished_at", "retry_count", "updated_at"])
        transaction.on_commit(lambda: job_enqueue(job_id=job.pk))
        return job
