"""Media on an S3-compatible object store against the local filesystem: upload MB/s and processing frames/s.

    python bench/storage.py [--upload-mb 128] [--seconds 6] [--fps 25] [--width 1280] [--height 720]
                            [--image-size 640] [--runs 3] [--smoke]

Both sides in the same run, on the same throwaway database, with the store a moto server on loopback (the
suite's S3 server: a Python process keeping objects in memory, slower than a real store, so its figures are a
floor). Upload: a file of --upload-mb random bytes put under a media name through the storage layer
(`media_store.store_file`, as uploads and workers write media: a copy into MEDIA_ROOT, or a multipart upload),
then read back as a worker reads an original (`media_store.local_copy`: a ranged download into scratch; on the
filesystem the stored file itself, nothing to measure). Processing: the whole job as a worker runs it
(`job_run`: the original read from where media lives, probe, poster and seek thumbnails made and stored, decode,
inference, every detection stored), frames/s per run, after a warm-up run on each side; the runs alternate
between the sides so that the machine's other load falls on both. The last line is `processing_ratio=...
upload_ratio=...` (object store over filesystem; the processing goal is >= 0.9), then each side's figures.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdb import SMOKE_HELP, django_setup, last_line, throwaway_database  # noqa: E402

SIDES = ("local", "s3")
MB = 1024**2


@contextmanager
def media_on(side: str, *, server, media_root: Path):
    """This process's media on the filesystem under `media_root`, or on the object store."""
    from django.test import override_settings

    if side == "local":
        storages = {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        with override_settings(STORAGES=storages, MEDIA_STORAGE="local", MEDIA_ROOT=str(media_root)):
            yield
    else:
        with override_settings(
            STORAGES=server.storages_setting(), MEDIA_STORAGE="s3", MEDIA_S3_PUBLIC_ENDPOINT_URL=None
        ):
            yield


def transfer_figures(*, source: Path, name: str) -> tuple[float, float]:
    """MB/s putting `source` under `name` through the storage layer, and reading it back to a local path."""
    from videos import media_store

    size_mb = source.stat().st_size / MB
    started = time.perf_counter()
    media_store.store_file(source=source, name=name, move=False)
    upload = size_mb / (time.perf_counter() - started)
    started = time.perf_counter()
    with media_store.local_copy(name) as path:
        copied = path.stat().st_size
    download = size_mb / (time.perf_counter() - started)
    assert copied == source.stat().st_size, f"read back {copied} bytes of {source.stat().st_size}"
    media_store.delete(name)
    return upload, download


def model_weights_copy(*, server, media_root: Path) -> None:
    """The registered models' weights, written on the filesystem side's first run, under the same names in the
    store: one database serves both sides, and its model rows name their weights by storage name."""
    from processing.models import DetectorModel
    from videos import media_store

    for name in DetectorModel.objects.exclude(weights="").values_list("weights", flat=True):
        with (
            media_on("local", server=server, media_root=media_root),
            media_store.local_copy(name) as path,
            media_on("s3", server=server, media_root=media_root),
        ):
            media_store.store_file(source=path, name=name, move=False)


def processing_fps(*, video: Path, frame_step: int) -> tuple[float, int]:
    """The whole job's frames/s on one upload of `video`, and the detections it stored."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from processing.models import ProcessingJob
    from processing.services.jobs import JobOptions
    from processing.services.pipeline import job_run
    from tests.factories import UserFactory
    from videos.services.creation import video_create

    created = video_create(
        owner=UserFactory(),
        uploaded_file=SimpleUploadedFile(video.name, video.read_bytes()),
        job_options=JobOptions(frame_step=frame_step),
        enqueue=False,
    )
    job = ProcessingJob.objects.get(video=created)
    started = time.perf_counter()
    job_run(job_id=job.pk)
    elapsed = time.perf_counter() - started
    job.refresh_from_db()
    if job.status != "completed":
        raise SystemExit(f"the run ended {job.status}: {job.last_error_message}")
    return job.processed_frames / elapsed, job.detections_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upload-mb", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--image-size", type=int, default=640)
    parser.add_argument("--frame-step", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3, help="measured processing runs per side, after a warm-up")
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    args = parser.parse_args()
    if args.smoke:
        args.upload_mb, args.seconds, args.fps, args.width, args.height = 2, 0.5, 8, 160, 96
        args.image_size, args.runs = 64, 1

    os.environ.setdefault("DETECTOR_DEVICE", "cpu")
    os.environ.setdefault("DETECTOR_BACKEND", "torch")  # the same backend on both sides, no measuring pass
    django_setup()

    from django.test import override_settings

    from tests.object_store import ObjectStoreServer
    from tests.videofiles import write_test_video

    with (
        tempfile.TemporaryDirectory() as scratch,
        ObjectStoreServer(prefix="bench") as server,
        throwaway_database(),
        override_settings(
            DETECTOR_IMAGE_SIZE=args.image_size,
            REUSE_IDENTICAL_UPLOADS=False,
            MEDIA_SCRATCH_DIR=Path(scratch) / "scratch",
            MEDIA_SCRATCH_MIN_FREE_BYTES=0,
        ),
    ):
        workdir = Path(scratch)
        media_root = workdir / "media"
        payload = workdir / "payload.bin"
        with payload.open("wb") as handle:
            for _ in range(args.upload_mb):
                handle.write(os.urandom(MB))
        video = write_test_video(
            workdir / "bench.mp4", seconds=args.seconds, fps=args.fps, width=args.width, height=args.height
        )
        print(
            f"upload: {args.upload_mb} MiB; video: {args.width}x{args.height}, {int(args.seconds * args.fps)} frames, "
            f"image size {args.image_size}, frame step {args.frame_step}; store: moto server at {server.endpoint_url}"
        )

        upload, download = {}, {}
        for side in SIDES:
            with media_on(side, server=server, media_root=media_root):
                upload[side], download[side] = transfer_figures(source=payload, name="bench/payload.bin")
            # On the filesystem local_copy hands out the stored file itself: nothing is copied, no figure to show.
            read_back = f"{download[side]:,.1f} MiB/s" if side == "s3" else "the stored file itself"
            print(f"{side}: store_file {upload[side]:,.1f} MiB/s, local_copy {read_back}")

        for side in SIDES:  # warm-up: the model registered and loaded, the first connections made
            with media_on(side, server=server, media_root=media_root):
                processing_fps(video=video, frame_step=args.frame_step)
            if side == "local":
                model_weights_copy(server=server, media_root=media_root)
        fps = {side: [] for side in SIDES}
        for _ in range(args.runs):
            for side in SIDES:
                with media_on(side, server=server, media_root=media_root):
                    measured, detections = processing_fps(video=video, frame_step=args.frame_step)
                fps[side].append(measured)
        for side in SIDES:
            runs = ", ".join(f"{value:.2f}" for value in fps[side])
            print(f"{side}: job {statistics.median(fps[side]):.2f} frames/s (runs {runs})")
        stored_objects = len(server.keys())
        print(f"{detections} detections a run; {stored_objects} objects left in the bucket (originals, playback files)")

    processing = {side: statistics.median(values) for side, values in fps.items()}
    print(
        last_line(
            processing_ratio=processing["s3"] / processing["local"],
            upload_ratio=upload["s3"] / upload["local"],
            s3_fps=processing["s3"],
            local_fps=processing["local"],
            s3_upload_mb_s=upload["s3"],
            local_upload_mb_s=upload["local"],
            s3_download_mb_s=download["s3"],
        )
    )


if __name__ == "__main__":
    main()
