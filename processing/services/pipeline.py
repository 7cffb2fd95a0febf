"""The processing pipeline: validate, decode the sampled frames, detect in batches, store, complete.

Each batch's detections are committed together with the job's resume point
(`next_frame_index`), so a worker killed at any moment leaves a job that the
redelivered task continues exactly where the last commit left it: no frame
is stored twice and none is skipped.
"""

import contextlib
import dataclasses
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from mediaplatform.transactions import atomic_retrying_conflicts
from notifications.models import EventType
from notifications.services.events import event_emit
from processing.detector import Detector, InputGeometry, default_batch_size, get_detector
from processing.frames import FrameSampling, PrefetchingFrames, SampledFrame, VideoDecodeError, iter_sampled_frames
from processing.models import JobStatus, ProcessingJob, Stage, StageStatus
from processing.probe import ProbeResult, VideoProbeError, probe_video
from processing.resources import ResourceMonitor
from processing.services.backend_choice import job_inference_backend_record
from processing.services.detections import detections_store
from processing.services.failures import (
    CONNECTION_ERRORS,
    FailureOutcome,
    failure_record_unrecorded,
    failure_unrecorded,
    job_handle_failure,
)
from processing.services.jobs import job_enqueue, job_finish_cancelled
from processing.services.locking import LockedVideo, job_lock, job_run_lock
from processing.services.playback import (
    PreparedPlayback,
    playback_files_make,
    playback_is_current,
    playback_record,
)
from processing.services.registry import detector_config_for
from processing.services.reuse import detections_copy, reusable_job_find
from processing.services.stages import stage_finish, stage_progress, stage_start
from videos import media_store
from videos.models import Video, WorkflowState
from videos.services.transitions import video_transition

logger = logging.getLogger(__name__)

RUNNABLE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.RETRYING)
# What probing a file tells about its video; a reused run copies them from the video it reuses.
PROBED_FIELDS = tuple(field.name for field in dataclasses.fields(ProbeResult))


class JobCancelled(Exception):
    """The run is no longer wanted: cancelled, its video deleted, or taken over by a later attempt."""


@dataclass(frozen=True)
class ProgressSnapshot:
    processed_frames: int
    total_frames: int
    detections: int
    frames_per_second: float


ProgressCallback = Callable[[ProgressSnapshot], None]


class JobRunner:
    """Runs one ProcessingJob to its end. Each step commits before the next starts."""

    def __init__(self, job: ProcessingJob, *, celery_task_id: str = "", on_progress: ProgressCallback | None = None):
        self.job = job
        self.video_id = job.video_id
        self.celery_task_id = celery_task_id
        self.on_progress = on_progress
        self.stage = Stage.VALIDATION
        self.last_report = 0.0
        self.inference_started = time.monotonic()
        self.frames_this_attempt = 0
        self.sampling: FrameSampling | None = None
        self.monitor: ResourceMonitor | None = None
        self.video_path = ""
        # The source on this host for the whole run (probe, playback files, the decode thread): the stored file
        # on the filesystem, one scratch copy from the object store, removed however the run ends.
        self.held = contextlib.ExitStack()
        # A further run on a completed video has its own lifecycle; the video's state stays put.
        self.drives_video_state = True
        # The job's retry count when this attempt took it: a retry while this attempt was
        # stopping bumps it, and from then on the job belongs to the new attempt.
        self.attempt: int | None = None

    # -- steps ---------------------------------------------------------------

    def run(self) -> FailureOutcome | None:
        with self.held:
            return self._run()

    def _run(self) -> FailureOutcome | None:
        try:
            self._start()
            if self._reuse_identical_run():
                return None
            probe = self._validate()
            self._prepare_playback()
            self.stage = Stage.INFERENCE
            config = detector_config_for(self.job.detector_model, image_size=self.job.config.get("image_size"))
            detector = get_detector(config)
            self.monitor = ResourceMonitor(detector.device)
            self._start_inference(probe)
            self._infer(probe, detector)
            self._complete()
            return None
        except JobCancelled as stopped:
            self._stop_cancelled(str(stopped))
            return None
        except (VideoProbeError, VideoDecodeError) as exc:
            # The user's file, not our fault: worth a warning, not an error with a traceback.
            logger.warning("job %s: the file was refused at %s: %s", self.job.pk, self.stage, exc)
            return self._handle_failure(exc)
        except Exception as exc:
            logger.exception("job %s failed at stage %s", self.job.pk, self.stage)
            return self._handle_failure(exc)

    def _handle_failure(self, exc: BaseException) -> FailureOutcome:
        try:
            return job_handle_failure(job_id=self.job.pk, stage=self.stage, exc=exc, runner_attempt=self.attempt)
        except CONNECTION_ERRORS as db_exc:
            # The database went away (the failure was most likely its doing): nothing can be
            # recorded now; the next attempt records it and resumes from the last commit.
            return failure_unrecorded(stage=self.stage, exc=db_exc)

    def _lock(self) -> LockedVideo:
        """The video and this job under their row locks (video first), after checking the run is still wanted."""
        locked = job_lock(job_id=self.job.pk)
        job = locked.job(self.job.pk)
        if locked.video.deleted_at is not None:
            raise JobCancelled("its video was deleted")
        if job.cancel_requested_at is not None or job.status == JobStatus.CANCELLED:
            raise JobCancelled("it was cancelled")
        if self.attempt is not None and (job.retry_count != self.attempt or job.status != JobStatus.RUNNING):
            raise JobCancelled(f"a later attempt took it over ({job.status})")
        return locked

    @atomic_retrying_conflicts
    def _start(self) -> None:
        locked = self._lock()
        job, video = locked.job(self.job.pk), locked.video
        if job.status not in RUNNABLE_STATUSES:
            raise JobCancelled(f"it is {job.status}")
        # Anything stored past the resume point belongs to an attempt that died
        # before committing its progress; the resume point is the truth.
        job.detections.filter(frame_index__gte=job.next_frame_index).delete()
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.heartbeat_at = timezone.now()
        job.next_retry_at = None
        job.processing_node_id = socket.gethostname()
        job.celery_task_id = self.celery_task_id or job.celery_task_id
        job.save()
        self.job = job
        self.attempt = job.retry_count

        if video.workflow_state in (WorkflowState.COMPLETED, WorkflowState.ARCHIVED):
            self.drives_video_state = False
            event_emit(
                video=video,
                event_type=EventType.PROCESSING_STARTED,
                data={"job_id": str(job.pk), "model": job.model_name, "stage": Stage.VALIDATION},
            )
        elif video.workflow_state in (WorkflowState.UPLOADED, WorkflowState.FAILED):
            video_transition(
                video_id=self.video_id,
                transition_name="start_validation",
                reason=f"job {job.pk}",
                event_type=EventType.PROCESSING_STARTED,
                event_data={"job_id": str(job.pk), "model": job.model_name, "resume_from": job.next_frame_index},
                field_updates={"current_stage": Stage.VALIDATION, "needs_review": False, "cancelled_at": None},
            )
        elif video.workflow_state not in (WorkflowState.VALIDATING, WorkflowState.PROCESSING):
            raise RuntimeError(f"A {video.workflow_state} video cannot be processed")
        stage_start(job_id=job.pk, stage=Stage.VALIDATION)

    def _reuse_identical_run(self) -> bool:
        if not settings.REUSE_IDENTICAL_UPLOADS or self.job.next_frame_index:
            return False
        source = reusable_job_find(job=self.job)
        if source is None:
            return False
        self._prepare_playback()
        copied = self._reuse(source)
        logger.info("job %s reused %s detections of job %s (same content)", self.job.pk, copied, source.pk)
        return True

    @atomic_retrying_conflicts
    def _reuse(self, source: ProcessingJob) -> int:
        locked = self._lock()
        job, video = locked.job(self.job.pk), locked.video
        source_video = source.video
        copied = detections_copy(source_job_id=source.pk, target_job_id=job.pk)
        job.reused_from = source
        job.processed_frames = job.total_frames = source.processed_frames
        job.next_frame_index = source.next_frame_index
        job.detections_count = copied
        job.save()
        Video.objects.filter(pk=self.video_id).update(**{name: getattr(source_video, name) for name in PROBED_FIELDS})
        for stage in (Stage.VALIDATION, Stage.EXTRACTION, Stage.INFERENCE):
            stage_finish(job_id=job.pk, stage=stage, status=StageStatus.SKIPPED, detail=f"reused run {source.pk}")
        if self.drives_video_state and video.workflow_state == WorkflowState.VALIDATING:
            video_transition(video_id=self.video_id, transition_name="start_processing", reason="reused result")
        self.job = job
        self._complete_locked(locked=locked, reused_from=source)
        return copied

    def _source(self) -> Path:
        """The video's file on this host, fetched on first need and held until the run ends."""
        if not self.video_path:
            name = Video.objects.only("file").get(pk=self.video_id).file.name
            self.video_path = str(self.held.enter_context(media_store.local_copy(name)))
        return Path(self.video_path)

    def _validate(self) -> ProbeResult:
        self.stage = Stage.VALIDATION
        probe = probe_video(str(self._source()))
        self._record_probe(probe)
        return probe

    @atomic_retrying_conflicts
    def _record_probe(self, probe: ProbeResult) -> None:
        self._lock()
        Video.objects.filter(pk=self.video_id).update(
            **{name: getattr(probe, name) for name in PROBED_FIELDS}, updated_at=timezone.now()
        )
        stage_finish(job_id=self.job.pk, stage=Stage.VALIDATION, detail=f"{probe.codec} {probe.width}x{probe.height}")

    def _prepare_playback(self) -> None:
        """Make what the video's page plays (a rendition when browsers cannot play the file), its poster and
        seek thumbnails, unless an earlier run made them from the same content: the extraction stage's start.

        A file no browser plays and none can be made from is not this run's failure: the video records
        `none` and why, and detection goes on.
        """
        if not settings.RENDITIONS_ENABLED:
            return
        video = Video.objects.get(pk=self.video_id)
        if playback_is_current(video=video):
            return
        self.stage = Stage.EXTRACTION
        stage_start(job_id=self.job.pk, stage=Stage.EXTRACTION, detail="playback files")
        self.last_report = 0.0
        prepared = playback_files_make(
            video=video,
            source=self._source(),
            on_frame=lambda done: self._playback_progress(done, total=video.frame_count or 0),
        )
        try:
            self._record_playback(prepared)
        finally:
            prepared.discard()  # what was not stored, and the scratch folder it was made in

    def _playback_progress(self, done: int, *, total: int) -> None:
        """While the playback files are made: the heartbeat (a long video takes minutes, and a silent job counts
        as stuck), the extraction stage's progress, and a cancel or a later attempt stopping the pass."""
        now = time.monotonic()
        if now - self.last_report < settings.PROGRESS_EVENT_MIN_INTERVAL_SECONDS:
            return
        self.last_report = now
        with transaction.atomic():
            if not self._this_attempt().update(heartbeat_at=timezone.now()):
                raise JobCancelled("it stopped being this attempt's while its playback files were made")
            stage_progress(job_id=self.job.pk, stages=[Stage.EXTRACTION], percentage=self._percentage(done, total))

    @atomic_retrying_conflicts
    def _record_playback(self, prepared: PreparedPlayback) -> None:
        locked = self._lock()
        playback_record(video=locked.video, prepared=prepared)

    def _start_inference(self, probe: ProbeResult) -> None:
        self.stage = Stage.INFERENCE
        job = self.job
        self.sampling = FrameSampling.for_run(
            frame_count=probe.frame_count,
            fps=probe.fps,
            frame_step=job.frame_step,
            start_frame=job.start_frame,
            end_frame=job.end_frame,
            max_fps=job.max_fps,
        )
        self._enter_inference(probe)

    @atomic_retrying_conflicts
    def _enter_inference(self, probe: ProbeResult) -> None:
        job = self.job
        total = self.sampling.total
        video = self._lock().video
        stage_start(job_id=job.pk, stage=Stage.EXTRACTION)
        stage_start(job_id=job.pk, stage=Stage.INFERENCE)
        ProcessingJob.objects.filter(pk=job.pk).update(total_frames=total, heartbeat_at=timezone.now())
        job.total_frames = total
        data = {
            "stage": Stage.INFERENCE,
            "frames_processed": job.processed_frames,
            "total_frames": total,
            "progress_percentage": self._percentage(job.processed_frames, total),
            "probe": probe.as_dict(),
        }
        if video.workflow_state == WorkflowState.PROCESSING or not self.drives_video_state:
            event_emit(video=video, event_type=EventType.PROCESSING_PROGRESS, data=data)
        else:
            video_transition(
                video_id=self.video_id,
                transition_name="start_processing",
                reason=f"job {job.pk}",
                event_type=EventType.PROCESSING_PROGRESS,
                event_data=data,
                field_updates={"current_stage": Stage.INFERENCE},
            )

    def _infer(self, probe: ProbeResult, detector: Detector) -> None:
        geometry = InputGeometry.for_source(
            width=probe.width, height=probe.height, image_size=detector.config.image_size
        )
        batch_size = 1 if self.job.track else (self.job.batch_size or default_batch_size(detector.device))
        plan = detector.plan_for(geometry, tracking=self.job.track)  # measured here on a model's first run
        job_inference_backend_record(job_id=self.job.pk, backend=plan.backend, precision=plan.precision)
        frames = iter_sampled_frames(
            self.video_path,
            sampling=self.sampling,
            width=geometry.scaled_width,
            height=geometry.scaled_height,
            resume_from=self.job.next_frame_index,
            fps=probe.fps,
        )
        if self.job.track:
            detector.reset_tracking()
            if self.job.next_frame_index:
                # ByteTrack's state is not stored: a resumed tracked run starts over
                # so track ids stay consistent across the whole video.
                self._restart_from_beginning()
                frames = iter_sampled_frames(
                    self.video_path,
                    sampling=self.sampling,
                    width=geometry.scaled_width,
                    height=geometry.scaled_height,
                    fps=probe.fps,
                )
        self.inference_started = time.monotonic()
        batch: list[SampledFrame] = []
        with PrefetchingFrames(frames, capacity=batch_size * settings.FRAME_QUEUE_BATCHES) as prefetched:
            for frame in prefetched:
                batch.append(frame)
                if len(batch) >= batch_size:
                    self._process_batch(batch, detector, geometry)
                    batch = []
            if batch:
                self._process_batch(batch, detector, geometry)

    def _this_attempt(self):
        """This job while it is still this attempt's to write: running, not cancelled, not retried since."""
        return ProcessingJob.objects.filter(
            pk=self.job.pk, status=JobStatus.RUNNING, retry_count=self.attempt, cancel_requested_at__isnull=True
        )

    def _restart_from_beginning(self) -> None:
        with transaction.atomic():
            if not self._this_attempt().update(next_frame_index=0, processed_frames=0, detections_count=0):
                raise JobCancelled("it stopped being this attempt's")
            self.job.detections.all().delete()
        self.job.next_frame_index = self.job.processed_frames = 0

    def _process_batch(self, frames: list[SampledFrame], detector: Detector, geometry: InputGeometry) -> None:
        self._raise_if_cancelled()
        # The run's own threshold and classes; runs made before they were stored keep the model's.
        confidence = self.job.confidence
        class_ids = None
        if self.job.classes:
            wanted = set(self.job.classes)
            class_ids = [class_id for class_id, name in detector.class_names.items() if name in wanted]
        if self.job.track:
            results = [
                detector.track(frame.image, geometry, confidence=confidence, class_ids=class_ids) for frame in frames
            ]
        else:
            results = detector.detect(
                [frame.image for frame in frames], geometry, confidence=confidence, class_ids=class_ids
            )
        next_index = frames[-1].index + self.sampling.step
        with transaction.atomic():
            written = detections_store(
                job_id=self.job.pk, frames=frames, results=results, class_names=detector.class_names
            )
            # A cancel committed meanwhile leaves no row to update: this batch is rolled back, the
            # detections of earlier batches stay. A cancel that comes later waits for this commit.
            if not self._this_attempt().update(
                next_frame_index=next_index,
                processed_frames=F("processed_frames") + len(frames),
                detections_count=F("detections_count") + written,
                heartbeat_at=timezone.now(),
            ):
                raise JobCancelled("it was cancelled during a batch")
        self.job.next_frame_index = next_index
        self.job.processed_frames += len(frames)
        self.job.detections_count += written
        self.frames_this_attempt += len(frames)
        self.monitor.sample()
        self._report_progress()

    def _raise_if_cancelled(self) -> None:
        if not self._this_attempt().exists():
            raise JobCancelled("it was cancelled before a batch")

    def _speed(self) -> float:
        elapsed = time.monotonic() - self.inference_started
        return self.frames_this_attempt / elapsed if elapsed > 0 else 0.0

    @staticmethod
    def _percentage(done: int, total: int) -> float:
        return round(min(99.99, 100.0 * done / max(total, 1)), 2)

    def _report_progress(self) -> None:
        now = time.monotonic()
        speed = self._speed()
        total = max(self.sampling.total, self.job.processed_frames)
        if self.on_progress is not None:
            self.on_progress(ProgressSnapshot(self.job.processed_frames, total, self.job.detections_count, speed))
        if now - self.last_report < settings.PROGRESS_EVENT_MIN_INTERVAL_SECONDS:
            return
        self.last_report = now
        percentage = self._percentage(self.job.processed_frames, total)
        remaining = max(total - self.job.processed_frames, 0)
        eta = timezone.now() + timedelta(seconds=remaining / speed) if speed > 0 else None
        self._record_progress(percentage=percentage, total=total, speed=speed, eta=eta)

    @atomic_retrying_conflicts
    def _record_progress(self, *, percentage: float, total: int, speed: float, eta) -> None:
        video = self._lock().video
        stage_progress(job_id=self.job.pk, stages=[Stage.EXTRACTION, Stage.INFERENCE], percentage=percentage)
        ProcessingJob.objects.filter(pk=self.job.pk).update(
            progress_percentage=percentage,
            frames_per_second=speed,
            estimated_completion_at=eta,
            peak_memory_mb=self.monitor.peak_memory_mb,
            cpu_percent=self.monitor.cpu_percent,
            gpu_memory_mb=self.monitor.gpu_memory_mb,
        )
        if self.drives_video_state:
            video.progress_percentage = percentage
            video.save(update_fields=["progress_percentage", "updated_at"])
        event_emit(
            video=video,
            event_type=EventType.PROCESSING_PROGRESS,
            data={
                "stage": self.stage,
                "progress_percentage": percentage,
                "frames_processed": self.job.processed_frames,
                "total_frames": total,
                "processing_speed": round(speed, 2),
                "estimated_completion": eta.isoformat() if eta else None,
            },
        )

    @atomic_retrying_conflicts
    def _complete(self) -> None:
        self._complete_locked(locked=self._lock())

    def _complete_locked(self, *, locked: LockedVideo, reused_from: ProcessingJob | None = None) -> None:
        """Finish the job and, when this run drives it, complete its video. Runs under `locked`'s row locks."""
        speed = self._speed() if reused_from is None else 0.0
        elapsed = (timezone.now() - self.job.started_at).total_seconds() if self.job.started_at else 0.0
        job = ProcessingJob.objects.get(pk=self.job.pk)
        job.status = JobStatus.COMPLETED
        job.finished_at = timezone.now()
        job.heartbeat_at = job.finished_at
        job.total_frames = job.processed_frames
        job.progress_percentage = 100
        job.estimated_completion_at = None
        if reused_from is None:
            job.frames_per_second = speed
            job.peak_memory_mb = self.monitor.peak_memory_mb
            job.cpu_percent = self.monitor.cpu_percent
            job.gpu_memory_mb = self.monitor.gpu_memory_mb
        job.save()
        if reused_from is None:
            stage_finish(job_id=job.pk, stage=Stage.EXTRACTION)
            stage_finish(job_id=job.pk, stage=Stage.INFERENCE)
        detections = job.detections.count()
        completion = {
            "stage": Stage.INFERENCE,
            "progress_percentage": 100.0,
            "frames_processed": job.processed_frames,
            "total_frames": job.processed_frames,
            "processing_speed": round(speed, 2),
            "objects_detected": detections,
            "job_id": str(job.pk),
            "reused_from_job": str(reused_from.pk) if reused_from else None,
        }
        self.job = job
        if not self.drives_video_state:
            event_emit(video=locked.video, event_type=EventType.PROCESSING_COMPLETED, data=completion)
        else:
            video_transition(
                video_id=self.video_id,
                transition_name="complete",
                reason=f"job {job.pk}" + (f" reused job {reused_from.pk}" if reused_from else ""),
                event_type=EventType.PROCESSING_COMPLETED,
                event_data=completion,
                field_updates={
                    "progress_percentage": 100,
                    "current_stage": "",
                    "objects_detected_count": detections,
                    "annotations_count": detections,
                    "total_processing_seconds": elapsed,
                    "frames_per_second_processed": speed,
                    "last_error_message": "",
                    "needs_review": False,
                },
            )
        transaction.on_commit(
            lambda: logger.info(
                "job %s completed: %s frames, %s detections, %.1f frames/s",
                job.pk,
                job.processed_frames,
                detections,
                speed,
            )
        )

    @atomic_retrying_conflicts
    def _stop_cancelled(self, why: str) -> None:
        """Stop quietly: the run keeps what it stored, and its video is not left live."""
        try:
            locked = job_lock(job_id=self.job.pk)
        except ProcessingJob.DoesNotExist:
            logger.info("job %s stopped: it is gone with its video", self.job.pk)
            return
        job = locked.job(self.job.pk)
        if self.attempt is not None and job.retry_count != self.attempt:
            logger.info("job %s: this attempt stopped, a later one has it (%s)", job.pk, why)
            return
        job_finish_cancelled(locked=locked, job=job)
        logger.info("job %s stopped after %s frames: %s", job.pk, job.processed_frames, why)


def job_run(
    *,
    job_id,
    celery_task_id: str = "",
    on_progress: ProgressCallback | None = None,
    unrecorded_failure: dict | None = None,
) -> FailureOutcome | None:
    """Run a job that is waiting or was interrupted; a finished or cancelled one is left alone.

    Returns the failure outcome when the run failed (its `retry_in_seconds`
    says whether and when to run it again), None otherwise. `unrecorded_failure`
    is a failure an earlier attempt could not record (the database was unreachable):
    it is recorded first, and counts as an attempt of the recovery matrix.
    """
    try:
        return _job_run(
            job_id=job_id,
            celery_task_id=celery_task_id,
            on_progress=on_progress,
            unrecorded_failure=unrecorded_failure,
        )
    except CONNECTION_ERRORS as exc:
        # Unreachable before the run started, or while letting go of its lock: the job is
        # as its last commit left it, so running it again later loses nothing.
        return failure_unrecorded(stage=Stage.VALIDATION, exc=exc, previous=unrecorded_failure)


def _job_run(
    *, job_id, celery_task_id: str, on_progress: ProgressCallback | None, unrecorded_failure: dict | None
) -> FailureOutcome | None:
    with job_run_lock(job_id=job_id) as owned:
        if not owned:
            logger.info("job %s is being run by another worker; nothing to do", job_id)
            _requeue_if_waiting(job_id)
            return None
        # Read under the lock: another runner may have finished it just before.
        job = ProcessingJob.objects.select_related("detector_model").filter(pk=job_id).first()
        if job is None:
            logger.warning("job %s no longer exists (its video was deleted); nothing to do", job_id)
            return None
        if job.status not in RUNNABLE_STATUSES:
            logger.info("job %s is %s; nothing to do", job_id, job.status)
            return None
        if unrecorded_failure:
            recorded = failure_record_unrecorded(job_id=job_id, unrecorded=unrecorded_failure)
            if recorded.retry_in_seconds is None:
                return recorded  # that was the last attempt the matrix allows
            # The backoff was served while the database was away: resume now.
            job = ProcessingJob.objects.select_related("detector_model").get(pk=job_id)
        return JobRunner(job, celery_task_id=celery_task_id, on_progress=on_progress).run()


def _requeue_if_waiting(job_id) -> None:
    """A job queued again while another runner still holds it (a retry of a run that is still stopping):
    this message must not be the last, or the job would wait for the stuck-job sweep."""
    status = ProcessingJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    if status in (JobStatus.QUEUED, JobStatus.RETRYING):
        job_enqueue(job_id=job_id, countdown=settings.JOB_BUSY_REQUEUE_SECONDS)
