"""What the videos app asks of the app that runs detection on its videos, without importing it.

Videos come first: the processing app depends on them, never the other way round. Where a video's
workflow needs its runs (an upload starts the first one, a cancel stops them, a retry queues the
latest again), it calls the `VideoRuns` registered here; the processing app registers its
implementation when Django starts (`ProcessingConfig.ready`).
"""

from collections.abc import Mapping
from typing import Any, Protocol

from django.contrib.auth.models import AbstractBaseUser

from videos.models import Video

# The run options a request may name, in the run engine's words; the engine checks their values.
RUN_OPTION_NAMES = (
    "model",
    "classes",
    "confidence",
    "frame_step",
    "start_frame",
    "end_frame",
    "max_fps",
    "track",
    "priority",
)


class VideoRuns(Protocol):
    def options_check(self, *, options: Mapping[str, Any]) -> None:
        """Refuse (a ServiceError naming the field) run options a first run could not be made with.

        Options are plain names (`RUN_OPTION_NAMES`) and values, checked before the upload is stored so a bad
        one stores nothing.
        """

    def start_first(self, *, video: Video, options: Any, actor: AbstractBaseUser | None, enqueue: bool) -> None:
        """Create the video's first run (queued once the transaction commits, when `enqueue`)."""

    def stop_active(self, *, video: Video) -> dict[str, Any] | None:
        """End the video's active runs as cancelled, under the video's lock; what was stopped, or None."""

    def queue_again(self, *, video: Video, actor: AbstractBaseUser | None) -> Any:
        """Queue the video's latest run again (a new attempt that resumes), or a first one if it has none."""

    def video_detail(self, *, user: AbstractBaseUser, video_id) -> dict[str, Any] | None:
        """The API's detail body of a video the user may see, with its latest run; None when they may not."""


_registered: VideoRuns | None = None


def video_runs_register(runs: VideoRuns) -> None:
    global _registered
    _registered = runs


def video_runs() -> VideoRuns:
    if _registered is None:
        raise RuntimeError("No app runs detection on videos: is 'processing' in INSTALLED_APPS?")
    return _registered
