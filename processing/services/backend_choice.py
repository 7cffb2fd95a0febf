"""The measured backend choice per model, shape and host, and which backend ran a job."""

import logging
import socket

from django.db import DatabaseError

from processing.models import InferenceBackendChoice, ProcessingJob

logger = logging.getLogger(__name__)


def this_host() -> str:
    return socket.gethostname()[:255]


def backend_choice_get(*, weights_sha256: str, input_height: int, input_width: int, host: str) -> tuple | None:
    """(backend, precision) remembered for this model, shape and host; None when never measured here.

    A database that cannot answer is no reason to fail a run: the worker measures again instead.
    """
    try:
        row = (
            InferenceBackendChoice.objects.filter(
                weights_sha256=weights_sha256, input_height=input_height, input_width=input_width, host=host
            )
            .values_list("backend", "precision")
            .first()
        )
    except DatabaseError as exc:
        logger.warning("the remembered backend choice could not be read: %s", exc)
        return None
    return tuple(row) if row else None


def backend_choice_record(
    *,
    weights_sha256: str,
    model_name: str,
    input_height: int,
    input_width: int,
    host: str,
    backend: str,
    precision: str,
    model_only_fps: float | None,
    trials: list[dict],
    int8_calibration: dict | None = None,
) -> None:
    """Remember a measured choice; a later measurement of the same model, shape and host replaces it."""
    try:
        InferenceBackendChoice.objects.update_or_create(
            weights_sha256=weights_sha256,
            input_height=input_height,
            input_width=input_width,
            host=host,
            defaults={
                "model_name": model_name[:200],
                "backend": backend,
                "precision": precision,
                "model_only_fps": model_only_fps,
                "trials": trials,
                "int8_calibration": int8_calibration or {},
            },
        )
    except DatabaseError as exc:
        # The choice still holds for this worker's life; only a restart measures again.
        logger.warning("the backend choice could not be stored: %s", exc)


def backend_choice_calibration_record(
    *, weights_sha256: str, input_height: int, input_width: int, host: str, int8_calibration: dict
) -> None:
    """Bring a remembered choice's int8 calibration record up to date (int8 was calibrated again, on a grown
    library); nothing when the choice is not stored yet (its measurement writes it)."""
    try:
        InferenceBackendChoice.objects.filter(
            weights_sha256=weights_sha256, input_height=input_height, input_width=input_width, host=host
        ).update(int8_calibration=int8_calibration)
    except DatabaseError as exc:
        logger.warning("the int8 calibration record could not be stored: %s", exc)


def job_inference_backend_record(*, job_id, backend: str, precision: str) -> None:
    """Write down which runtime and precision run this job's model, for its details."""
    ProcessingJob.objects.filter(pk=job_id).update(inference_backend=backend, inference_precision=precision)
