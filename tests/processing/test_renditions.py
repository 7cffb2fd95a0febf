"""Playable renditions, posters and seek thumbnails: made by the real pipeline with PyAV's libx264, checked frame by
frame against the source the detector numbered."""

from pathlib import Path

import av
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image

from audit.models import StorageOperation
from processing.models import Detection, ProcessingJob
from processing.renditions import make_playback_files
from processing.services.jobs import JobOptions, job_create
from tests.factories import UserFactory
from tests.processing.running import settle
from tests.videofiles import write_test_video, write_timed_clip
from videos.models import Video
from videos.services.creation import video_create

AVI_CODECS = ["msmpeg4", "mpeg4", "cinepak"]
# Frame times of a variable-rate clip whose first frame is not at zero.
VFR_TIMES = [1.5, 1.54, 1.6, 1.8, 1.81, 2.0, 2.4, 2.5, 2.52, 2.9]


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(frame.time) for frame in container.decode(container.streams.video[0])]


def stream_facts(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        return {
            "codec": video.codec_context.name,
            "pixel_format": video.codec_context.format.name,
            "size": (video.codec_context.width, video.codec_context.height),
            "audio": [stream.codec_context.name for stream in container.streams.audio],
            "audio_seconds": [
                float(stream.duration * stream.time_base) if stream.duration else 0.0
                for stream in container.streams.audio
            ],
        }


def moov_before_mdat(path: Path) -> bool:
    head = path.read_bytes()
    return 0 <= head.find(b"moov") < head.find(b"mdat")


@pytest.mark.parametrize("codec", AVI_CODECS)
def test_an_avi_becomes_h264_with_every_frame_at_its_time(tmp_path, codec):
    source = write_test_video(tmp_path / f"{codec}.avi", seconds=3, fps=10, codec=codec)

    made = make_playback_files(str(source), directory=tmp_path / "out", key="k", make_rendition=True, duration_hint=3)

    assert frame_times(made.rendition) == pytest.approx(frame_times(source))
    assert made.frames == 30
    facts = stream_facts(made.rendition)
    assert (facts["codec"], facts["pixel_format"], facts["size"]) == ("h264", "yuv420p", (320, 240))
    assert moov_before_mdat(made.rendition), "the index must come first so playback starts before the download ends"
    assert Image.open(made.poster).size == (320, 240)
    sprite = Image.open(made.sprite)
    assert sprite.size == (made.thumbnails["columns"] * 160, made.thumbnails["tile_height"])
    assert made.thumbnails["times"] == [0.0, 2.0]


def test_a_variable_rate_clip_starting_late_keeps_its_spacing_from_zero_and_its_sound(tmp_path):
    source = write_timed_clip(tmp_path / "vfr.mp4", times=VFR_TIMES, audio_seconds=3.2)

    made = make_playback_files(str(source), directory=tmp_path / "out", key="k", make_rendition=True, duration_hint=1.4)

    assert frame_times(made.rendition) == pytest.approx([t - VFR_TIMES[0] for t in VFR_TIMES], abs=1e-4)
    assert made.first_timestamp == pytest.approx(1.5)
    facts = stream_facts(made.rendition)
    assert facts["audio"] == ["aac"]
    # The sound before the first picture is cut with it: 3.2 s of tone from 0 leaves 1.7 s from the picture's start.
    assert facts["audio_seconds"][0] == pytest.approx(1.7, abs=0.1)


def test_rotation_is_turned_into_the_pixels(tmp_path):
    source = write_timed_clip(tmp_path / "turned.mp4", times=[i / 10 for i in range(10)], rotation=90)

    made = make_playback_files(str(source), directory=tmp_path / "out", key="k", make_rendition=True, duration_hint=1)

    assert made.rotation_applied == 90
    assert stream_facts(made.rendition)["size"] == (120, 160)
    assert Image.open(made.poster).size == (120, 160)
    with av.open(str(made.rendition)) as container:
        assert next(container.decode(video=0)).rotation == 0


# -- through the pipeline ---------------------------------------------------------------------------------------


def upload(path: Path, **options) -> Video:
    return video_create(
        owner=UserFactory(),
        uploaded_file=SimpleUploadedFile(path.name, path.read_bytes()),
        job_options=JobOptions(**options),
        enqueue=False,
    )


def stored(name) -> Path:
    return Path(settings.MEDIA_ROOT) / str(name)


@pytest.mark.django_db(transaction=True)
def test_a_run_with_a_step_and_a_range_draws_each_box_on_its_own_frame_of_the_rendition(tmp_path):
    source = write_timed_clip(tmp_path / "vfr.avi", codec="mpeg4", times=VFR_TIMES, width=320, height=240)
    video = upload(source, frame_step=3, start_frame=1, end_frame=8)

    job = settle(ProcessingJob.objects.get(video=video).pk)
    video.refresh_from_db()

    assert job.status == "completed"
    assert video.playback_kind == "rendition" and video.rendition.name.endswith(".mp4")
    assert video.playback_time_offset == pytest.approx(frame_times(source)[0])
    rendition_times = frame_times(stored(video.rendition))
    source_times = frame_times(source)
    assert len(rendition_times) == len(source_times) == len(VFR_TIMES)  # every frame, not only the sampled ones
    for frame_index, timestamp in Detection.objects.filter(job=job).values_list("frame_index", "timestamp_seconds"):
        assert frame_index in (1, 4, 7)
        assert rendition_times[frame_index] + video.playback_time_offset == pytest.approx(timestamp, abs=1e-4)
    assert stored(video.poster).is_file() and stored(video.thumbnails_sprite).is_file()
    written = set(StorageOperation.objects.filter(video_id=video.pk, operation="upload").values_list("path", flat=True))
    assert set(video.derived_file_names()) <= written


@pytest.mark.django_db(transaction=True)
def test_another_run_reuses_the_rendition(tmp_path):
    video = upload(write_test_video(tmp_path / "clip.avi", seconds=1, fps=10, codec="msmpeg4"))
    settle(ProcessingJob.objects.get(video=video).pk)
    video.refresh_from_db()
    first = {name: stored(name).stat().st_mtime_ns for name in video.derived_file_names()}
    operations = StorageOperation.objects.filter(video_id=video.pk, operation="upload").count()

    again = job_create(video=video, options=JobOptions(frame_step=2), enqueue=False)
    assert settle(again.pk).status == "completed"
    video.refresh_from_db()

    assert {name: stored(name).stat().st_mtime_ns for name in video.derived_file_names()} == first
    assert StorageOperation.objects.filter(video_id=video.pk, operation="upload").count() == operations


@pytest.mark.django_db(transaction=True)
def test_a_video_browsers_play_keeps_its_original_and_gets_a_poster_and_thumbnails(tmp_path):
    video = upload(write_test_video(tmp_path / "clip.mp4", seconds=5, fps=10))

    settle(ProcessingJob.objects.get(video=video).pk)
    video.refresh_from_db()

    assert (video.playback_kind, video.rendition.name, video.playback_time_offset) == ("original", "", 0)
    assert stored(video.poster).is_file()
    assert video.thumbnails_index["times"] == [0.0, 2.0, 4.0]


@pytest.mark.django_db(transaction=True)
@override_settings(RENDITION_PRESET="no-such-preset")
def test_when_no_rendition_can_be_made_the_video_says_why_and_detection_goes_on(tmp_path):
    video = upload(write_test_video(tmp_path / "clip.avi", seconds=1, fps=10, codec="mpeg4"))

    job = settle(ProcessingJob.objects.get(video=video).pk)
    video.refresh_from_db()

    assert job.status == "completed"
    assert video.playback_kind == "none"
    assert "cannot be played in the browser" in video.playback_reason
    assert video.derived_file_names() == []
    assert not list((Path(settings.MEDIA_ROOT) / "renditions").rglob("*.part"))


@pytest.mark.django_db(transaction=True)
@override_settings(PROGRESS_EVENT_MIN_INTERVAL_SECONDS=0)
def test_a_cancel_while_the_rendition_is_made_stops_it_and_leaves_no_file(tmp_path):
    import threading
    import time

    from django.db import connection

    from processing.models import JobStage
    from processing.services.pipeline import job_run
    from videos.services.workflow import video_cancel

    video = upload(write_test_video(tmp_path / "long.avi", seconds=60, fps=25, codec="mpeg4"))
    job = ProcessingJob.objects.get(video=video)

    def run_as_a_worker() -> None:
        try:
            job_run(job_id=job.pk)
        finally:
            connection.close()

    runner = threading.Thread(target=run_as_a_worker)
    runner.start()
    try:
        # The extraction stage reports the pass's progress with each heartbeat: cancel once it has begun.
        while not JobStage.objects.filter(job=job, stage="extraction", progress_percentage__gt=0).exists():
            assert runner.is_alive(), "the run ended before its playback pass reported progress"
            time.sleep(0.01)
        video_cancel(video_id=video.pk)
    finally:
        runner.join()

    job.refresh_from_db()
    video.refresh_from_db()
    assert job.status == "cancelled"
    assert video.playback_kind == "" and video.derived_file_names() == []
    assert not list((Path(settings.MEDIA_ROOT) / "renditions").rglob(f"*{video.pk}*/*"))
