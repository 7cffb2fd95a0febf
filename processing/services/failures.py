"""Classifying failures and applying the recovery matrix:

| Error type          | Strategy            | Retries | Then                     |
|---------------------|---------------------|---------|--------------------------|
| network / timeout   | exponential backoff | 3       | failed                   |
| model error         | immediate retry     | 2       | failed, flagged for review |
| file corruption     | no retry            | 0       | failed, the user is told |
| resource exhaustion | delayed, half batch | 5       | failed                   |
| database lock/loss  | linear backoff      | 10      | failed                   |

The media store counts as a resource: unreachable, or the worker's scratch disk too full for a copy, the run
waits (same batch) and resumes once it is back. An original missing from the store is a file the user must
upload again: no retry.

Every failure writes an error-log row; the last one fails the video. When the database
itself is unreachable the row cannot be written: the task retries with the linear
backoff and the next attempt writes the row before it resumes (`failure_unrecorded`).
"""

import errno
import logging
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from mediaplatform.transactions import atomic_retrying_conflicts
from notifications.models import EventType
from notifications.services.events import event_emit
from processing.detector import DetectorError, DetectorUnavailable
from processing.frames import VideoDecodeError
from processing.models import (
    ErrorType,
    JobStatus,
    ProcessingErrorLog,
    ProcessingJob,
    RecoveryStrategy,
    Severity,
    StageStatus,
)
from processing.probe import VideoProbeError
from processing.services.jobs import job_finish_cancelled
from processing.services.locking import job_lock
from processing.services.stages import stage_finish
from videos.media_store import MediaObjectMissing, MediaStoreUnavailable, ScratchSpaceExhausted
from videos.models import LIVE_STATES
from videos.services.transitions import video_transition

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecoveryRule:
    strategy: str
    max_retries: int
    severity: str
    delay_seconds: Callable[[int], float]  # attempt number (1-based) -> seconds before it


RECOVERY_MATRIX: dict[str, RecoveryRule] = {
    ErrorType.NETWORK_TIMEOUT: RecoveryRule(
        RecoveryStrategy.RETRY,
        3,
        Severity.MEDIUM,
        lambda attempt: settings.RETRY_NETWORK_BACKOFF_BASE_SECONDS * 2 ** (attempt - 1),
    ),
    ErrorType.MODEL: RecoveryRule(RecoveryStrategy.IMMEDIATE_RETRY, 2, Severity.HIGH, lambda attempt: 0),
    ErrorType.FILE_CORRUPTION: RecoveryRule(RecoveryStrategy.USER_NOTIFICATION, 0, Severity.LOW, lambda attempt: 0),
    ErrorType.VALIDATION: RecoveryRule(RecoveryStrategy.USER_NOTIFICATION, 0, Severity.LOW, lambda attempt: 0),
    ErrorType.RESOURCE_EXHAUSTION: RecoveryRule(
        RecoveryStrategy.DELAYED_RETRY, 5, Severity.HIGH, lambda attempt: settings.RETRY_RESOURCE_DELAY_SECONDS
    ),
    ErrorType.DATABASE: RecoveryRule(
        RecoveryStrategy.LINEAR_BACKOFF,
        10,
        Severity.HIGH,
        lambda attempt: settings.RETRY_DATABASE_BACKOFF_STEP_SECONDS * attempt,
    ),
    ErrorType.INTERNAL: RecoveryRule(RecoveryStrategy.MANUAL_INTERVENTION, 0, Severity.CRITICAL, lambda attempt: 0),
}

_VALIDATION_CODES = {
    "no_frame_rate",
    "no_video_stream",
    "too_long",
    "resolution_too_large",
    "too_many_frames",
    "file_too_large",
}


@dataclass(frozen=True)
class Failure:
    error_type: str
    code: str
    message: str


# Resource errors a smaller batch cannot help with: the retry only waits for the store or the scratch disk.
_BATCH_IRRELEVANT_CODES = {"media_store_unavailable", "scratch_full"}
# A write that found no room: the disk is full (ENOSPC), a quota or a file-size limit was hit.
_NO_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it wraps: a full disk reported through a DetectorError is still a full disk."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        # An explicit cause, or the exception being handled when it was raised unless hidden by `from None`.
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


def _resource_exhaustion(exc: BaseException) -> Failure | None:
    for cause in _causes(exc):
        if isinstance(cause, MemoryError) or type(cause).__name__ == "OutOfMemoryError":
            return Failure(ErrorType.RESOURCE_EXHAUSTION, "out_of_memory", f"The worker ran out of memory: {cause}")
        if isinstance(cause, OSError) and cause.errno in _NO_SPACE_ERRNOS:
            return Failure(ErrorType.RESOURCE_EXHAUSTION, "disk_full", f"The disk is full: {cause}")
    return None


def _media_store_failure(exc: BaseException) -> Failure | None:
    """Where the media lives failing the run: the store away or the scratch disk full come back (a resource
    error, retried later, nothing lost); an original gone from the store does not (failed, the user told)."""
    for cause in _causes(exc):
        if isinstance(cause, ScratchSpaceExhausted):
            return Failure(ErrorType.RESOURCE_EXHAUSTION, "scratch_full", f"The worker's scratch disk is full: {cause}")
        if isinstance(cause, MediaStoreUnavailable):
            return Failure(
                ErrorType.RESOURCE_EXHAUSTION, "media_store_unavailable", f"The media store is unreachable: {cause}"
            )
    if isinstance(exc, MediaObjectMissing):
        return Failure(
            ErrorType.FILE_CORRUPTION, "original_missing", f"The original file is missing from storage: {exc}"
        )
    return None


def classify_failure(exc: BaseException) -> Failure:
    if isinstance(exc, VideoProbeError):
        error_type = ErrorType.VALIDATION if exc.code in _VALIDATION_CODES else ErrorType.FILE_CORRUPTION
        return Failure(error_type, exc.code, exc.message)
    if isinstance(exc, VideoDecodeError):
        return Failure(ErrorType.FILE_CORRUPTION, "undecodable", str(exc))
    stored = _media_store_failure(exc)
    if stored is not None:
        return stored
    exhausted = _resource_exhaustion(exc)
    if exhausted is not None:
        return exhausted
    if isinstance(exc, DetectorUnavailable):
        return Failure(ErrorType.MODEL, "model_unavailable", str(exc))
    if isinstance(exc, DetectorError):
        return Failure(ErrorType.MODEL, "model_error", str(exc))
    if isinstance(exc, DatabaseUnreachable):
        return Failure(ErrorType.DATABASE, "database_unavailable", str(exc))
    if isinstance(exc, DatabaseError):
        return Failure(ErrorType.DATABASE, "database_error", f"Database error: {exc}")
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return Failure(ErrorType.NETWORK_TIMEOUT, "timeout", f"{type(exc).__name__}: {exc}")
    return Failure(ErrorType.INTERNAL, "internal_error", f"Processing failed unexpectedly: {type(exc).__name__}: {exc}")


class DatabaseUnreachable(OperationalError):
    """The database could not be reached to record a failure; recorded by the next attempt."""


# Connection-level errors: the server is down, restarting or unreachable. Other database
# errors (integrity, data) are bugs that retrying the write would not cure.
CONNECTION_ERRORS = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class FailureOutcome:
    error: ProcessingErrorLog | None  # None: the database was unreachable, see `unrecorded`
    retry_in_seconds: float | None  # None: the failure was final
    # What the next attempt records once the database answers again (stage, message, attempt).
    unrecorded: dict | None = None


NOT_RECORDED = FailureOutcome(error=None, retry_in_seconds=None)


def job_handle_failure(*, job_id, stage: str, exc: BaseException, runner_attempt: int | None = None) -> FailureOutcome:
    """Record the failure; schedule a retry when the matrix allows one, otherwise fail job and video.

    `runner_attempt` is the job's retry count when the failing runner took it. A run that was cancelled,
    whose video was deleted, or that a later attempt took over meanwhile is not failed: it stops
    quietly (the cancelled one as cancelled), and no error is recorded against it.
    """
    failure = classify_failure(exc)
    rule = RECOVERY_MATRIX[failure.error_type]
    outcome = _job_handle_failure(
        job_id=job_id, stage=stage, exc=exc, failure=failure, rule=rule, runner_attempt=runner_attempt
    )
    if outcome is NOT_RECORDED:
        logger.info("job %s stopped at %s, no longer wanted: %s", job_id, stage, failure.message)
        return outcome
    logger.warning(
        "job %s failed at %s (%s, attempt %s): %s; %s",
        job_id,
        stage,
        failure.error_type,
        outcome.error.system_state["attempt"],
        failure.message,
        f"retrying in {outcome.retry_in_seconds}s" if outcome.retry_in_seconds is not None else "final",
    )
    return outcome


@atomic_retrying_conflicts
def _job_handle_failure(
    *, job_id, stage: str, exc: BaseException, failure: Failure, rule: RecoveryRule, runner_attempt: int | None
) -> FailureOutcome:
    try:
        locked = job_lock(job_id=job_id)
    except ProcessingJob.DoesNotExist:
        return NOT_RECORDED
    job, video = locked.job(job_id), locked.video
    if runner_attempt is not None and job.retry_count != runner_attempt:
        return NOT_RECORDED
    if video.deleted_at is not None or job.cancel_requested_at is not None or job.status == JobStatus.CANCELLED:
        job_finish_cancelled(locked=locked, job=job)
        return NOT_RECORDED
    attempt = job.errors.filter(error_type=failure.error_type).count() + 1
    retrying = attempt <= rule.max_retries and video.workflow_state in LIVE_STATES
    error = ProcessingErrorLog.objects.create(
        video_id=job.video_id,
        job=job,
        stage=stage,
        error_type=failure.error_type,
        error_code=failure.code,
        message=failure.message,
        stack_trace="".join(traceback.format_exception(exc))[-20000:],
        system_state={
            "workflow_state": video.workflow_state,
            "next_frame_index": job.next_frame_index,
            "processed_frames": job.processed_frames,
            "total_frames": job.total_frames,
            "batch_size": job.batch_size,
            "node": job.processing_node_id,
            "attempt": attempt,
            "will_retry": retrying,
        },
        recovery_strategy=rule.strategy,
        severity=rule.severity,
        correlation_id=str(job.pk),
    )
    job.error_count += 1
    job.last_error_message = failure.message
    if retrying:
        delay = float(rule.delay_seconds(attempt))
        job.status = JobStatus.RETRYING
        job.retry_count += 1
        job.next_retry_at = timezone.now() + timezone.timedelta(seconds=delay)
        if failure.error_type == ErrorType.RESOURCE_EXHAUSTION and failure.code not in _BATCH_IRRELEVANT_CODES:
            job.batch_size = max(1, (job.batch_size or settings.DETECTOR_BATCH_SIZE or 4) // 2)
        job.save()
        event_emit(
            video=video,
            event_type=EventType.ERROR_OCCURRED,
            data={
                "stage": stage,
                "error_type": failure.error_type,
                "error_code": failure.code,
                "error_message": failure.message,
                "recovery_strategy": rule.strategy,
                "attempt": attempt,
                "max_retries": rule.max_retries,
                "retry_in_seconds": delay,
            },
        )
        outcome = FailureOutcome(error=error, retry_in_seconds=delay)
    else:
        job.status = JobStatus.FAILED
        job.finished_at = timezone.now()
        job.save()
        stage_finish(job_id=job.pk, stage=stage, status=StageStatus.FAILED, detail=failure.message)
        _fail_video(video=video, stage=stage, failure=failure, rule=rule)
        outcome = FailureOutcome(error=error, retry_in_seconds=None)
    return outcome


def _fail_video(*, video, stage: str, failure: Failure, rule: RecoveryRule) -> None:
    if video.workflow_state not in LIVE_STATES:
        return
    needs_review = rule.strategy in (RecoveryStrategy.IMMEDIATE_RETRY, RecoveryStrategy.MANUAL_INTERVENTION)
    try:
        video_transition(
            video_id=video.pk,
            transition_name="fail",
            reason=failure.message,
            event_type=EventType.PROCESSING_FAILED,
            event_data={
                "stage": stage,
                "error_code": failure.code,
                "error_type": failure.error_type,
                "recovery_strategy": rule.strategy,
                "error_message": failure.message,
            },
            field_updates={
                "current_stage": stage,
                "last_error_message": failure.message,
                "needs_review": needs_review,
            },
        )
    except TransitionNotAllowed:
        logger.warning("video %s could not be failed from %s", video.pk, video.workflow_state)


def failure_unrecorded(*, stage: str, exc: BaseException, previous: dict | None = None) -> FailureOutcome:
    """The failure could not be recorded because the database is unreachable: retry with linear backoff.

    Nothing can be counted in the database meanwhile, so the attempt travels with the
    task; the delay grows as the matrix's linear backoff and stays at its last step
    while the outage lasts, since only a reachable database can fail the job.
    """
    rule = RECOVERY_MATRIX[ErrorType.DATABASE]
    attempt = min((previous or {}).get("attempt", 0) + 1, rule.max_retries)
    message = (previous or {}).get("message") or f"{type(exc).__name__}: {exc}"
    unrecorded = {"stage": (previous or {}).get("stage") or stage, "message": message, "attempt": attempt}
    delay = float(rule.delay_seconds(attempt))
    logger.error(
        "database unreachable while handling a failure at %s (%s: %s); the task retries in %ss",
        stage,
        type(exc).__name__,
        exc,
        delay,
    )
    return FailureOutcome(error=None, retry_in_seconds=delay, unrecorded=unrecorded)


def failure_record_unrecorded(*, job_id, unrecorded: dict) -> FailureOutcome:
    """Write the error-log row an attempt could not write while the database was unreachable."""
    exc = DatabaseUnreachable(f"The database was unreachable: {unrecorded['message']}")
    return job_handle_failure(job_id=job_id, stage=unrecorded.get("stage") or "", exc=exc)
