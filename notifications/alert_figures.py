"""What the alert evaluation asks of the app that runs the pipeline, without importing it.

The figures behind alerts (failed and error rates, the queue's backlog and age, processing time) live in the
processing app's tables and its Celery broker; it registers a provider here when Django starts
(ProcessingConfig.ready), and notifications.services.alerts reads the figures through it.
"""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class PipelineFigures:
    """One reading of the pipeline, for the ALERT_* thresholds and /metrics alike."""

    window_seconds: int
    finished_jobs: int  # completed or failed within the window
    failed_rate: float  # share of the finished jobs that failed
    error_rate: float  # share of the finished jobs that recorded any error (retried ones included)
    queue_backlog: int | None  # tasks waiting in the Celery queues; None when the broker did not answer
    queue_age_seconds: float  # how long the oldest queued job has waited
    processing_time_seconds: float  # mean run time of the jobs completed within the window

    def value(self, check: str) -> float | None:
        """The check's figure; None when it could not be read (its alert then stays as it is)."""
        return {
            "failed_rate": self.failed_rate,
            "error_rate": self.error_rate,
            "queue_backlog": None if self.queue_backlog is None else float(self.queue_backlog),
            "queue_age": self.queue_age_seconds,
            "processing_time": self.processing_time_seconds,
        }[check]


class PipelineFiguresProvider(Protocol):
    def __call__(self, *, window_seconds: int) -> PipelineFigures: ...


_provider: PipelineFiguresProvider | None = None


def pipeline_figures_register(provider: PipelineFiguresProvider) -> None:
    global _provider
    _provider = provider


def pipeline_figures(*, window_seconds: int) -> PipelineFigures:
    if _provider is None:
        raise RuntimeError("no pipeline figures provider is registered (the processing app is not installed)")
    return _provider(window_seconds=window_seconds)
