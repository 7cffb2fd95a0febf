"""The frames an int8 quantisation is calibrated on, and the frames its accuracy guard judges it on.

Two sources (setting OPENVINO_CALIBRATION_SOURCE):
- library (the default): frames of the platform's own completed videos, spread evenly across the videos and
  across each video's duration, letterboxed as the pipeline hands frames to the network (scaled to fit, padded
  right and below with the letterbox grey). Int8 statistics taken on real scenes keep accuracy on them.
- synthetic: frames the platform renders itself (processing.synthetic), used too whenever the library holds
  too few videos or frames, or its videos cannot be read.

The set is named by a key (which videos, which positions, how many frames), computed from the database alone
so a cached int8 model is found without decoding anything. The key names a *tier* of the library, not its
newest videos: the set is taken from the first T completed videos (oldest first), T the largest tier the
library has reached (OPENVINO_CALIBRATION_MIN_VIDEOS, then times OPENVINO_CALIBRATION_GROWTH each step). So a
model calibrated on synthetic frames is rebuilt once real footage exists, and again each time the library has
grown by that factor, but not on every upload.

Every few frames one is held out of calibration for the accuracy guard (openvino_backend.int8_guard).
"""

import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from django.conf import settings

logger = logging.getLogger(__name__)

LIBRARY, SYNTHETIC = "library", "synthetic"
SOURCES = (LIBRARY, SYNTHETIC)
PAD_VALUE = 114  # the letterbox grey the detector pads with (processing.detector.PAD_VALUE)
SYNTHETIC_SEED = 4242  # a fixed seed: the same weights always quantise to the same model
HELD_OUT_EVERY = 4  # one frame in four is kept back from calibration for the accuracy guard
# Bumped when how frames are chosen or prepared changes, so models calibrated the old way are rebuilt.
RECIPE_VERSION = 1


class CalibrationUnavailable(Exception):
    """The library's frames could not be read (a video missing from storage, one that no longer decodes)."""


@dataclass(frozen=True)
class LibraryVideo:
    video_id: str
    file_name: str
    file_hash: str
    duration_seconds: float
    frame_count: int


@dataclass
class CalibrationSet:
    """Which frames calibrate one input shape; `load()` decodes or renders them (uint8 NHWC batches of one)."""

    source: str
    input_height: int
    input_width: int
    frame_total: int  # calibration and held-out frames together
    videos: list[LibraryVideo] = field(default_factory=list)
    frames_per_video: list[int] = field(default_factory=list)
    library_videos: int = 0  # completed videos in the library when the set was chosen
    tier: int = 0
    fallback_reason: str = ""

    @property
    def key(self) -> str:
        """Short and stable: which frames, from what, prepared how. Goes into the int8 cache's folder name."""
        identity = {
            "recipe": RECIPE_VERSION,
            "source": self.source,
            "frames": self.frame_total,
            "held_out_every": HELD_OUT_EVERY,
            "videos": [
                [video.video_id, video.file_hash, count]
                for video, count in zip(self.videos, self.frames_per_video, strict=True)
            ],
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.source}-{digest}"

    def describe(self) -> dict:
        """What the int8 model was calibrated on, for the backend choice's record and the logs."""
        described = {
            "source": self.source,
            "key": self.key,
            "frames": self.frame_total,
            "calibration_frames": self.frame_total - held_out_count(self.frame_total),
            "held_out_frames": held_out_count(self.frame_total),
        }
        if self.source == LIBRARY:
            described.update(
                videos=[video.video_id for video in self.videos],
                frames_per_video=list(self.frames_per_video),
                library_videos=self.library_videos,
                tier=self.tier,
            )
        if self.fallback_reason:
            described["fallback_reason"] = self.fallback_reason
        return described

    def load(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(calibration frames, held-out frames), every HELD_OUT_EVERY-th frame held out."""
        if self.source == LIBRARY:
            frames = _library_frames(self)
        else:
            frames = synthetic_frames(
                input_height=self.input_height, input_width=self.input_width, count=self.frame_total
            )
        held_out = [frame for number, frame in enumerate(frames) if number % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
        calibration = [frame for number, frame in enumerate(frames) if number % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
        return calibration, held_out


def held_out_count(total: int) -> int:
    return total // HELD_OUT_EVERY


def frame_total_for(calibration_frames: int) -> int:
    """Frames to draw so `calibration_frames` remain for calibration after every HELD_OUT_EVERY-th is held out."""
    return calibration_frames + math.ceil(calibration_frames / (HELD_OUT_EVERY - 1))


# -- choosing ---------------------------------------------------------------


def library_tier(*, library_videos: int, min_videos: int, growth: float) -> int:
    """The largest tier (min_videos, min_videos*growth, ... rounded up) the library has reached; 0 below the first."""
    if library_videos < min_videos:
        return 0
    tier = min_videos
    while True:
        following = max(tier + 1, math.ceil(tier * growth))
        if following > library_videos:
            return tier
        tier = following


def _completed_library() -> list[LibraryVideo]:
    """Completed, live videos with a stored file and a known length, oldest first."""
    from videos.models import Video, WorkflowState

    rows = (
        Video.objects.filter(
            workflow_state=WorkflowState.COMPLETED,
            deleted_at__isnull=True,
            duration_seconds__gt=0,
            frame_count__gt=0,
        )
        .exclude(file="")
        .order_by("created_at", "id")
        .values_list("id", "file", "file_hash", "duration_seconds", "frame_count")
    )
    return [
        LibraryVideo(str(video_id), name, file_hash, float(duration), int(count))
        for video_id, name, file_hash, duration, count in rows
    ]


def spread_frames(*, frame_total: int, capacities: list[int]) -> list[int]:
    """`frame_total` frames dealt round-robin over videos holding `capacities` frames: as even as they allow."""
    counts = [0] * len(capacities)
    dealt = 0
    while dealt < frame_total:
        progressed = False
        for slot, capacity in enumerate(capacities):
            if dealt == frame_total:
                break
            if counts[slot] < capacity:
                counts[slot] += 1
                dealt += 1
                progressed = True
        if not progressed:
            break
    return counts


def calibration_set(
    *,
    input_height: int,
    input_width: int,
    source: str | None = None,
    calibration_frames: int | None = None,
    videos: int | None = None,
) -> CalibrationSet:
    """The calibration set the settings ask for at this input shape; synthetic when the library cannot fill it."""
    source = source or settings.OPENVINO_CALIBRATION_SOURCE
    if source not in SOURCES:
        raise ValueError(f"OPENVINO_CALIBRATION_SOURCE is {source!r}: one of {', '.join(SOURCES)}")
    frame_total = frame_total_for(calibration_frames or settings.OPENVINO_CALIBRATION_FRAMES)
    synthetic = CalibrationSet(SYNTHETIC, input_height, input_width, frame_total)
    if source == SYNTHETIC:
        return synthetic
    from django.db import DatabaseError

    try:
        library = _completed_library()
    except DatabaseError as exc:
        logger.warning("int8 calibration: the video library could not be read (%s): synthetic frames instead", exc)
        synthetic.fallback_reason = f"the library could not be read: {exc}"[:300]
        return synthetic
    min_videos = max(1, settings.OPENVINO_CALIBRATION_MIN_VIDEOS)
    tier = library_tier(library_videos=len(library), min_videos=min_videos, growth=settings.OPENVINO_CALIBRATION_GROWTH)
    if not tier:
        synthetic.fallback_reason = f"{len(library)} completed videos in the library, fewer than {min_videos}"
        return synthetic
    chosen = library[:tier][-max(1, videos or settings.OPENVINO_CALIBRATION_VIDEOS) :]
    counts = spread_frames(frame_total=frame_total, capacities=[video.frame_count for video in chosen])
    if sum(counts) < frame_total:
        synthetic.fallback_reason = f"the library's {len(chosen)} chosen videos hold {sum(counts)} frames"
        return synthetic
    return CalibrationSet(
        LIBRARY,
        input_height,
        input_width,
        frame_total,
        videos=chosen,
        frames_per_video=counts,
        library_videos=len(library),
        tier=tier,
    )


# -- preparing frames ---------------------------------------------------------


def letterbox(image: np.ndarray, *, input_height: int, input_width: int) -> np.ndarray:
    """An RGB frame already scaled to fit, padded right and below to the input shape, as one NHWC batch."""
    padded = np.full((1, input_height, input_width, 3), PAD_VALUE, dtype=np.uint8)
    padded[0, : image.shape[0], : image.shape[1]] = image[:input_height, :input_width]
    return padded


def fitted_size(*, width: int, height: int, input_height: int, input_width: int) -> tuple[int, int]:
    """The size a width x height frame is scaled to so it fits the input shape, aspect ratio kept."""
    ratio = min(input_width / width, input_height / height)
    return max(1, min(input_width, round(width * ratio))), max(1, min(input_height, round(height * ratio)))


def synthetic_frames(*, input_height: int, input_width: int, count: int) -> list[np.ndarray]:
    """Frames the platform renders itself, letterboxed as the pipeline does, as uint8 NHWC batches of one."""
    from processing.synthetic import make_scene, render_frame

    frames = []
    per_scene = 4
    for scene_number in range((count + per_scene - 1) // per_scene):
        scene = make_scene(seed=(SYNTHETIC_SEED, scene_number), width=input_width, height=input_height)
        for frame_index in range(per_scene):
            if len(frames) == count:
                break
            frames.append(render_frame(scene=scene, frame_index=frame_index * 7).image_rgb[None])
    return frames


def positions(*, duration_seconds: float, count: int) -> list[float]:
    """`count` times spread evenly across the video: the middle of each of `count` equal spans."""
    return [duration_seconds * (number + 0.5) / count for number in range(count)]


def _decode_at(path: str, *, times: list[float], input_height: int, input_width: int) -> list[np.ndarray]:
    """The first frame at or after each time (seeking to the key frame before it), letterboxed."""
    import av

    frames = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = stream.time_base or Fraction(1, 1_000_000)
        start = float(stream.start_time * time_base) if stream.start_time is not None else 0.0
        for seconds in times:
            target = start + seconds
            container.seek(int(target / time_base), stream=stream, backward=True, any_frame=False)
            found = None
            for frame in container.decode(stream):
                found = frame
                if frame.time is None or frame.time >= target - 1e-3:
                    break
            if found is None:
                raise CalibrationUnavailable(f"no frame at {seconds:.2f}s")
            width, height = fitted_size(
                width=found.width, height=found.height, input_height=input_height, input_width=input_width
            )
            image = found.reformat(width=width, height=height, format="rgb24", interpolation="BILINEAR")
            frames.append(letterbox(image.to_ndarray(), input_height=input_height, input_width=input_width))
    return frames


def _library_frames(chosen: CalibrationSet) -> list[np.ndarray]:
    """The set's frames, video after video (so every fourth, held out, comes from across the videos)."""
    import av

    from videos.media_store import MediaStoreError, local_copy

    frames = []
    for video, count in zip(chosen.videos, chosen.frames_per_video, strict=True):
        if not count:
            continue
        try:
            with local_copy(video.file_name) as path:
                frames += _decode_at(
                    str(path),
                    times=positions(duration_seconds=video.duration_seconds, count=count),
                    input_height=chosen.input_height,
                    input_width=chosen.input_width,
                )
        except (MediaStoreError, av.error.FFmpegError, OSError) as exc:
            raise CalibrationUnavailable(f"video {video.video_id} could not be read: {exc}") from exc
    return frames
