"""What browsers can play of a video, and the files made so they can: a rendition, a poster, seek thumbnails.

One decode pass through the source makes all three, streaming: every frame is encoded as it is decoded, so
memory stays flat however long the video is.

Timeline contract: the rendition holds every frame of the source, in decode order (the order the detector
numbers them), each at the source's own timestamp shifted so that the first frame is at 0. So a detection
stored for frame N is drawn on the rendition's frame N at the source frame's time minus the first frame's, for
VFR sources too, whatever frame step or range the run used. The payload's `time_offset` is the first frame's
source timestamp: the player's clock plus it is the `timestamp_seconds` stored with each detection. A source is
played as it is (`original`) only when its first frame is at 0, so there both timelines are the same.

The rendition is H.264 (yuv420p, even width and height) in MP4 with its index at the front (faststart), AAC
audio when the source has audio, the source's display rotation applied to the pixels (the boxes are drawn on the
unrotated frames; the payload says which rotation was applied).
"""

import contextlib
import hashlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from django.conf import settings
from PIL import Image

logger = logging.getLogger(__name__)

# What Chromium, Firefox and Safari all decode in a <video> element.
BROWSER_VIDEO_CODECS = {"h264", "vp9", "av1", "vp8"}
BROWSER_PIXEL_FORMATS = {"yuv420p", "yuvj420p"}
BROWSER_AUDIO_CODECS = {"aac", "mp3", "opus", "vorbis", "flac"}
# The containers by mime type (what the upload sniffing stored), and the codecs each may carry to be played.
BROWSER_CONTAINERS = {
    "video/mp4": {"h264", "vp9", "av1"},
    "video/webm": {"vp8", "vp9", "av1"},
}
# A recipe change names new files, so a rendition made with other settings is never served as this one.
RECIPE_VERSION = 1
POSTER_MAX_WIDTH = 640
TILE_WIDTH = 160
TILE_COLUMNS = 10
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)


class RenditionError(Exception):
    """The source could not be turned into a playable file; the message says why, in words for a person."""


@dataclass(frozen=True)
class PlaybackCheck:
    """Whether browsers can play the stored file as it is, and what its timeline starts at."""

    playable: bool
    reason: str
    first_timestamp: float
    rotation: int
    has_audio: bool


@dataclass
class MadeFiles:
    """What one pass wrote: paths on disk (temporary names until the caller keeps them) and their facts."""

    rendition: Path | None
    poster: Path | None
    sprite: Path | None
    frames: int = 0
    first_timestamp: float = 0.0
    rotation_applied: int = 0
    thumbnails: dict = field(default_factory=dict)

    def paths(self) -> list[Path]:
        return [path for path in (self.rendition, self.poster, self.sprite) if path is not None]


def recipe_key(*, content_hash: str, make_rendition: bool) -> str:
    """The content address of the derived files: the source's SHA-256 and everything that shapes the output."""
    recipe = f"{content_hash}|v{RECIPE_VERSION}|{settings.RENDITION_PRESET}|{settings.RENDITION_CRF}|{make_rendition}"
    return hashlib.sha256(recipe.encode()).hexdigest()[:20]


def _rotation(frame: av.VideoFrame) -> int:
    """The display rotation a decoded frame carries (its stream's display matrix), counter-clockwise degrees."""
    try:
        return int(round(float(frame.rotation or 0))) % 360
    except (AttributeError, TypeError, ValueError):
        return 0


def playback_check(path: str, *, mime_type: str) -> PlaybackCheck:
    """Whether browsers play the file as stored (container, codecs, pixel format); raises RenditionError when
    it cannot even be opened."""
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise RenditionError("The file has no video stream.")
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            pixel_format = stream.codec_context.format.name if stream.codec_context.format else ""
            audio = container.streams.audio[0] if container.streams.audio else None
            first_frame = next(container.decode(stream), None)
            first = float(first_frame.time) if first_frame is not None and first_frame.time is not None else 0.0
            rotation = _rotation(first_frame) if first_frame is not None else 0
    except av.error.FFmpegError as exc:
        raise RenditionError(f"The file cannot be read as a video ({exc}).") from exc
    allowed = BROWSER_CONTAINERS.get(mime_type)
    if allowed is None:
        reason = f"browsers do not play the {mime_type or 'unknown'} container"
    elif codec not in allowed:
        reason = f"browsers do not play {codec} video in {mime_type}"
    elif pixel_format not in BROWSER_PIXEL_FORMATS:
        reason = f"browsers do not decode the {pixel_format or 'unknown'} pixel format"
    elif audio is not None and audio.codec_context.name not in BROWSER_AUDIO_CODECS:
        reason = f"browsers do not play {audio.codec_context.name} audio"
    else:
        reason = ""
    return PlaybackCheck(
        playable=not reason, reason=reason, first_timestamp=first, rotation=rotation, has_audio=audio is not None
    )


def _even(value: int) -> int:
    return max(2, value - value % 2)


def _rotated(frame: av.VideoFrame, rotation: int) -> av.VideoFrame:
    """The frame turned upright: the display matrix's angle is counter-clockwise, as numpy's rot90 turns."""
    if not rotation:
        return frame
    image = np.rot90(frame.to_ndarray(format="rgb24"), k=rotation // 90)
    turned = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
    turned.pts, turned.time_base = frame.pts, frame.time_base
    return turned


class _Thumbnails:
    """Seek-bar tiles, one per interval of the shifted timeline, pasted into one sprite as they come."""

    def __init__(self, *, duration: float, width: int, height: int):
        # One tile per interval; a long video spreads its tiles wider rather than growing the sprite.
        self.interval = max(settings.THUMBNAIL_INTERVAL_SECONDS, duration / settings.THUMBNAIL_MAX_TILES)
        self.count = max(1, min(settings.THUMBNAIL_MAX_TILES, math.ceil(duration / self.interval - 1e-6)))
        self.tile_width = TILE_WIDTH
        self.tile_height = _even(max(2, round(TILE_WIDTH * height / max(width, 1))))
        self.columns = min(TILE_COLUMNS, self.count)
        rows = math.ceil(self.count / self.columns)
        self.sprite = np.zeros((rows * self.tile_height, self.columns * self.tile_width, 3), dtype=np.uint8)
        self.times: list[float] = []

    def offer(self, frame: av.VideoFrame, time: float) -> None:
        if len(self.times) >= self.count or time + 1e-6 < len(self.times) * self.interval:
            return
        position = len(self.times)
        row, column = divmod(position, self.columns)
        tile = frame.reformat(width=self.tile_width, height=self.tile_height, format="rgb24").to_ndarray()
        top, left = row * self.tile_height, column * self.tile_width
        self.sprite[top : top + self.tile_height, left : left + self.tile_width] = tile
        self.times.append(round(time, 6))

    def save(self, path: Path) -> dict:
        rows = max(1, math.ceil(len(self.times) / self.columns))
        Image.fromarray(self.sprite[: rows * self.tile_height]).save(path, format="JPEG", quality=80)
        return {
            "tile_width": self.tile_width,
            "tile_height": self.tile_height,
            "columns": self.columns,
            "interval_seconds": round(self.interval, 6),
            "times": self.times,
        }


def make_playback_files(
    source: str,
    *,
    directory: Path,
    key: str,
    make_rendition: bool,
    duration_hint: float,
    on_frame: Callable[[int], None] | None = None,
) -> MadeFiles:
    """Decode `source` once and write the poster, the thumbnails sprite and (when asked) the rendition.

    Files are written under temporary names in `directory`; the caller renames them once recorded. Raises
    RenditionError (and leaves nothing behind) when the source cannot be decoded or encoded. `on_frame` is told
    how many frames are done after each one; whatever it raises stops the pass, leaving nothing behind either.
    """
    directory.mkdir(parents=True, exist_ok=True)
    made = MadeFiles(
        rendition=directory / f".{key}.mp4.part" if make_rendition else None,
        poster=directory / f".{key}-poster.jpg.part",
        sprite=directory / f".{key}-thumbs.jpg.part",
    )
    try:
        _decode_and_write(source, made=made, duration_hint=duration_hint, on_frame=on_frame)
    except BaseException:
        for path in made.paths():
            path.unlink(missing_ok=True)
        raise
    return made


def _decode_and_write(
    source: str, *, made: MadeFiles, duration_hint: float, on_frame: Callable[[int], None] | None
) -> None:
    try:
        container = av.open(source)
    except av.error.FFmpegError as exc:
        raise RenditionError(f"The file cannot be read as a video ({exc}).") from exc
    with container:
        video_in = container.streams.video[0]
        video_in.thread_type = "AUTO"
        audio_in = container.streams.audio[0] if (made.rendition and container.streams.audio) else None
        writer = None
        early_audio: list = []  # audio decoded before the first picture tells the rotation, hence the size
        rotation = 0
        thumbnails = None
        poster_time = None
        first_pts = None
        index = 0
        streams = [video_in] + ([audio_in] if audio_in is not None else [])
        try:
            for packet in container.demux(*streams):
                for frame in _decode(packet):
                    if packet.stream.type == "audio":
                        if writer is None:
                            early_audio.append(frame)
                        else:
                            writer.audio(frame)
                        continue
                    if first_pts is None:
                        first_pts = frame.pts if frame.pts is not None else 0
                        made.first_timestamp = float(frame.time) if frame.time is not None else 0.0
                        rotation = _rotation(frame)
                        if made.rendition is not None:
                            writer = _RenditionWriter(
                                made.rendition, video_in, audio_in, rotation, first_time=made.first_timestamp
                            )
                            for early in early_audio:
                                writer.audio(early)
                            early_audio.clear()
                    upright = _rotated(frame, rotation)
                    if thumbnails is None:
                        thumbnails = _Thumbnails(
                            duration=max(duration_hint, 1e-3), width=upright.width, height=upright.height
                        )
                        poster_time = min(duration_hint * 0.1, 1.0)
                    time = _shifted_time(frame, first_pts, index, video_in)
                    thumbnails.offer(upright, time)
                    if poster_time is not None and time + 1e-6 >= poster_time:
                        _save_poster(upright, made.poster)
                        poster_time = None
                    if writer is not None:
                        writer.video(upright, frame, first_pts, index)
                    index += 1
                    if on_frame is not None:
                        on_frame(index)
            if writer is not None:
                writer.close()
        except av.error.FFmpegError as exc:
            raise RenditionError(f"The video could not be decoded or encoded ({exc}).") from exc
        finally:
            if writer is not None:
                writer.abandon()
    if made.rendition is not None and writer is None:
        raise RenditionError("The video stream holds no decodable frame.")
    if thumbnails is None:
        raise RenditionError("The video stream holds no decodable frame.")
    if poster_time is not None:  # shorter than the poster's time: its last frame stands for it
        _save_poster(upright, made.poster)
    made.frames = index
    made.rotation_applied = rotation if writer is not None else 0
    made.thumbnails = thumbnails.save(made.sprite)


def _decode(packet) -> list:
    try:
        return packet.decode()
    except av.error.InvalidDataError:
        # One corrupt packet costs its frames, like in any player; the frame count then says so.
        logger.warning("skipped an undecodable packet at %s", packet.pts)
        return []


def _shifted_time(frame: av.VideoFrame, first_pts: int, index: int, stream) -> float:
    if frame.pts is not None and frame.time_base is not None:
        return float((frame.pts - first_pts) * frame.time_base)
    rate = float(stream.average_rate or 0) or 25.0
    return index / rate


def _save_poster(frame: av.VideoFrame, path: Path) -> None:
    width = min(frame.width, POSTER_MAX_WIDTH)
    height = _even(round(frame.height * width / frame.width))
    image = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
    Image.fromarray(image).save(path, format="JPEG", quality=85)


class _RenditionWriter:
    """libx264 + AAC into MP4 (faststart), each video frame at its source timestamp shifted to start at 0."""

    def __init__(self, path: Path, video_in, audio_in, rotation: int, first_time: float):
        self.closed = True
        self.path = path
        self.output = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
        self.closed = False
        width, height = video_in.codec_context.width, video_in.codec_context.height
        if rotation in (90, 270):
            width, height = height, width
        self.width, self.height = _even(width), _even(height)
        # The source's own time base keeps every timestamp exact (VFR included); a zero one falls back to 1/90000.
        self.time_base = video_in.time_base or Fraction(1, 90000)
        rate = video_in.average_rate or video_in.guessed_rate or Fraction(25)
        self.frame_duration = max(1, round(1 / (float(rate) * float(self.time_base))))
        self.video_out = self.output.add_stream("libx264", rate=rate)
        self.video_out.width, self.video_out.height = self.width, self.height
        self.video_out.pix_fmt = "yuv420p"
        self.video_out.time_base = self.time_base
        self.video_out.codec_context.time_base = self.time_base
        self.video_out.options = {"preset": settings.RENDITION_PRESET, "crf": str(settings.RENDITION_CRF)}
        self.video_out.thread_type = "AUTO"
        self.last_pts = -1
        self.audio_out = None
        if audio_in is not None:
            rate = audio_in.codec_context.sample_rate or 48000
            rate = rate if rate in AAC_RATES else 48000
            layout = "mono" if audio_in.codec_context.channels == 1 else "stereo"
            self.audio_out = self.output.add_stream("aac", rate=rate)
            self.audio_out.layout = layout
            self.audio_rate = rate
            self.audio_start = float(audio_in.start_time * audio_in.time_base) if audio_in.start_time else 0.0
            self.video_start = first_time
            self.audio_layout = layout
            self.audio_resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            self.audio_next = None
            self.audio_skip = 0

    def video(self, upright: av.VideoFrame, source: av.VideoFrame, first_pts: int, index: int) -> None:
        if source.pts is not None and source.time_base is not None:
            pts = round((source.pts - first_pts) * source.time_base / self.time_base)
        else:
            pts = index * self.frame_duration
        # A source repeating a timestamp would have its frame dropped by the muxer; keep every frame in order.
        pts = max(pts, self.last_pts + 1)
        self.last_pts = pts
        frame = upright.reformat(width=self.width, height=self.height, format="yuv420p")
        frame.pts, frame.time_base = pts, self.time_base
        self.output.mux(self.video_out.encode(frame))

    def audio(self, frame: av.AudioFrame) -> None:
        if self.audio_next is None:
            start = float(frame.time) if frame.time is not None else self.audio_start
            # Sound from before the first picture is cut, as the timeline starts at that picture.
            self.audio_skip = max(0, round((self.video_start - start) * self.audio_rate))
            self.audio_next = max(0, round((start - self.video_start) * self.audio_rate))
        frame.pts = None
        for resampled in self.audio_resampler.resample(frame):
            self._encode_audio(resampled)

    def _encode_audio(self, resampled: av.AudioFrame) -> None:
        if self.audio_skip >= resampled.samples:
            self.audio_skip -= resampled.samples
            return
        if self.audio_skip:
            kept = resampled.to_ndarray()[:, self.audio_skip :]
            self.audio_skip = 0
            resampled = av.AudioFrame.from_ndarray(np.ascontiguousarray(kept), format="fltp", layout=self.audio_layout)
            resampled.sample_rate = self.audio_rate
        resampled.pts = self.audio_next
        resampled.time_base = Fraction(1, self.audio_rate)
        self.audio_next += resampled.samples
        self.output.mux(self.audio_out.encode(resampled))

    def close(self) -> None:
        self.output.mux(self.video_out.encode(None))
        if self.audio_out is not None:
            if self.audio_next is not None:
                for resampled in self.audio_resampler.resample(None):
                    self._encode_audio(resampled)
            self.output.mux(self.audio_out.encode(None))
        self.output.close()
        self.closed = True

    def abandon(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(av.error.FFmpegError):
                self.output.close()
            self.path.unlink(missing_ok=True)
