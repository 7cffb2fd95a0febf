"""Failure classification and the recovery matrix, as tables: what a worker does with each kind of failure."""

import errno

import pytest
from django.db import IntegrityError, OperationalError

from processing.detector import DetectorError, DetectorUnavailable
from processing.frames import VideoDecodeError
from processing.models import ErrorType, RecoveryStrategy, Severity
from processing.probe import VideoProbeError
from processing.services.failures import RECOVERY_MATRIX, DatabaseUnreachable, classify_failure
from videos.media_store import MediaObjectMissing, MediaStoreUnavailable, ScratchSpaceExhausted


class OutOfMemoryError(RuntimeError):
    """Named as torch.cuda.OutOfMemoryError is: recognised by its name, without importing torch."""


def caused_by(exc: BaseException, cause: BaseException) -> BaseException:
    """`raise exc from cause`."""
    exc.__cause__ = cause
    return exc


def raised_while_handling(exc: BaseException, context: BaseException, *, hidden: bool = False) -> BaseException:
    """`raise exc` inside `except` of context; with hidden, `raise exc from None`."""
    exc.__context__ = context
    exc.__suppress_context__ = hidden
    return exc


CLASSIFICATION = [
    # (what was raised, error type, code)
    (VideoProbeError(code="too_long", message="too long"), ErrorType.VALIDATION, "too_long"),
    (VideoProbeError(code="no_video_stream", message="audio only"), ErrorType.VALIDATION, "no_video_stream"),
    (VideoProbeError(code="no_frame_rate", message="no rate"), ErrorType.VALIDATION, "no_frame_rate"),
    (VideoProbeError(code="resolution_too_large", message="big"), ErrorType.VALIDATION, "resolution_too_large"),
    (VideoProbeError(code="too_many_frames", message="many"), ErrorType.VALIDATION, "too_many_frames"),
    (VideoProbeError(code="file_too_large", message="big"), ErrorType.VALIDATION, "file_too_large"),
    (VideoProbeError(code="unreadable", message="garbage"), ErrorType.FILE_CORRUPTION, "unreadable"),
    (VideoDecodeError("frame 12 is damaged"), ErrorType.FILE_CORRUPTION, "undecodable"),
    # A probe refusal is about the file, whatever happened on the way.
    (caused_by(VideoProbeError(code="too_long", message="x"), MemoryError()), ErrorType.VALIDATION, "too_long"),
    (MemoryError(), ErrorType.RESOURCE_EXHAUSTION, "out_of_memory"),
    (OutOfMemoryError("CUDA out of memory"), ErrorType.RESOURCE_EXHAUSTION, "out_of_memory"),
    (OSError(errno.ENOSPC, "No space left on device"), ErrorType.RESOURCE_EXHAUSTION, "disk_full"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), ErrorType.RESOURCE_EXHAUSTION, "disk_full"),
    (OSError(errno.EFBIG, "File too large"), ErrorType.RESOURCE_EXHAUSTION, "disk_full"),
    # A full disk or memory reported through the detector is still a full disk or memory ...
    (
        caused_by(DetectorError("batch failed"), OSError(errno.ENOSPC, "full")),
        ErrorType.RESOURCE_EXHAUSTION,
        "disk_full",
    ),
    (raised_while_handling(DetectorError("batch"), MemoryError()), ErrorType.RESOURCE_EXHAUSTION, "out_of_memory"),
    # ... unless the code that raised it said the earlier exception was not the cause.
    (raised_while_handling(DetectorError("batch"), MemoryError(), hidden=True), ErrorType.MODEL, "model_error"),
    (DetectorUnavailable("weights missing"), ErrorType.MODEL, "model_unavailable"),
    (DetectorError("NaN in the output"), ErrorType.MODEL, "model_error"),
    (DatabaseUnreachable("server closed the connection"), ErrorType.DATABASE, "database_unavailable"),
    (OperationalError("could not serialize access"), ErrorType.DATABASE, "database_error"),
    (IntegrityError("duplicate key"), ErrorType.DATABASE, "database_error"),
    (TimeoutError("read timed out"), ErrorType.NETWORK_TIMEOUT, "timeout"),
    (ConnectionResetError("reset by peer"), ErrorType.NETWORK_TIMEOUT, "timeout"),
    (ConnectionRefusedError("refused"), ErrorType.NETWORK_TIMEOUT, "timeout"),
    # Where media lives: the store away or the scratch disk full are waited for; an original gone is not.
    (MediaStoreUnavailable("connect timeout"), ErrorType.RESOURCE_EXHAUSTION, "media_store_unavailable"),
    (
        caused_by(RuntimeError("playback files not stored"), MediaStoreUnavailable("read timeout")),
        ErrorType.RESOURCE_EXHAUSTION,
        "media_store_unavailable",
    ),
    (ScratchSpaceExhausted("no room for the copy"), ErrorType.RESOURCE_EXHAUSTION, "scratch_full"),
    (MediaObjectMissing("no stored object 'videos/ab/x.mp4'"), ErrorType.FILE_CORRUPTION, "original_missing"),
    # Weights gone from the store are the model's failure (the registry says so), not the original's.
    (
        caused_by(DetectorUnavailable("weights missing from storage"), MediaObjectMissing("models/x.pt")),
        ErrorType.MODEL,
        "model_unavailable",
    ),
    # Neither a full disk nor a network failure: a bug or an environment fault for a person to look at.
    (OSError(errno.EACCES, "Permission denied"), ErrorType.INTERNAL, "internal_error"),
    (ValueError("unexpected"), ErrorType.INTERNAL, "internal_error"),
    (KeyError("stage"), ErrorType.INTERNAL, "internal_error"),
]


@pytest.mark.parametrize(
    ("exc", "error_type", "code"),
    CLASSIFICATION,
    ids=[f"{type(exc).__name__}->{code}" for exc, _, code in CLASSIFICATION],
)
def test_classify_failure(exc, error_type, code):
    failure = classify_failure(exc)
    assert (failure.error_type, failure.code) == (error_type, code)
    assert failure.message


def test_an_internal_failure_names_the_exception_type():
    assert "ValueError: unexpected" in classify_failure(ValueError("unexpected")).message


RECOVERY = [
    # (error type, strategy, retries, severity, delays before attempts 1, 2 and 3 in seconds)
    (ErrorType.NETWORK_TIMEOUT, RecoveryStrategy.RETRY, 3, Severity.MEDIUM, [60, 120, 240]),
    (ErrorType.MODEL, RecoveryStrategy.IMMEDIATE_RETRY, 2, Severity.HIGH, [0, 0, 0]),
    (ErrorType.FILE_CORRUPTION, RecoveryStrategy.USER_NOTIFICATION, 0, Severity.LOW, [0, 0, 0]),
    (ErrorType.VALIDATION, RecoveryStrategy.USER_NOTIFICATION, 0, Severity.LOW, [0, 0, 0]),
    (ErrorType.RESOURCE_EXHAUSTION, RecoveryStrategy.DELAYED_RETRY, 5, Severity.HIGH, [300, 300, 300]),
    (ErrorType.DATABASE, RecoveryStrategy.LINEAR_BACKOFF, 10, Severity.HIGH, [5, 10, 15]),
    (ErrorType.INTERNAL, RecoveryStrategy.MANUAL_INTERVENTION, 0, Severity.CRITICAL, [0, 0, 0]),
]


@pytest.fixture
def retry_settings(settings):
    settings.RETRY_NETWORK_BACKOFF_BASE_SECONDS = 60
    settings.RETRY_RESOURCE_DELAY_SECONDS = 300
    settings.RETRY_DATABASE_BACKOFF_STEP_SECONDS = 5
    return settings


@pytest.mark.parametrize(("error_type", "strategy", "retries", "severity", "delays"), RECOVERY)
def test_recovery_matrix(retry_settings, error_type, strategy, retries, severity, delays):
    rule = RECOVERY_MATRIX[error_type]
    assert (rule.strategy, rule.max_retries, rule.severity) == (strategy, retries, severity)
    assert [rule.delay_seconds(attempt) for attempt in (1, 2, 3)] == delays


def test_every_error_type_has_a_rule_and_the_table_above_covers_it():
    assert set(RECOVERY_MATRIX) == set(ErrorType.values) == {row[0] for row in RECOVERY}


def test_every_classified_failure_has_a_rule():
    assert {error_type for _, error_type, _ in CLASSIFICATION} <= set(RECOVERY_MATRIX)
