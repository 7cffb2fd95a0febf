"""Run the processing pipeline on a file in the foreground, with a progress bar and a summary."""

import sys
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from processing.models import Detection, ProcessingJob
from processing.selectors import video_latest_job
from processing.services.jobs import JobOptions
from processing.services.pipeline import ProgressSnapshot, job_run
from videos.models import Video
from videos.services.creation import VideoRejected, video_create


class Command(BaseCommand):
    help = "Process a video file with the same pipeline the workers run, in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("path", help="Video file to process")
        parser.add_argument("--model", help="A registered model's name (default: the default model)")
        parser.add_argument("--frame-step", type=int, default=1, help="Look at every N-th frame")
        parser.add_argument("--start-frame", type=int, default=0)
        parser.add_argument("--end-frame", type=int, default=None)
        parser.add_argument("--max-fps", type=float, default=None)
        parser.add_argument("--track", action="store_true", help="Follow objects across frames (ByteTrack)")
        parser.add_argument("--owner", default="cli", help="Username that owns the video (created if missing)")

    def handle(self, *args, **options):
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        owner, _ = get_user_model().objects.get_or_create(username=options["owner"])
        try:
            job_options = JobOptions(
                frame_step=options["frame_step"],
                start_frame=options["start_frame"],
                end_frame=options["end_frame"],
                max_fps=options["max_fps"],
                track=options["track"],
                model_name=options["model"],
            )
        except ValueError as exc:
            raise CommandError(str(exc))
        video = self._create(path, owner, job_options)
        job = video_latest_job(video=video)

        started = time.monotonic()
        outcome = job_run(job_id=job.pk, on_progress=self._draw)
        while outcome is not None and outcome.retry_in_seconds is not None:
            self.stderr.write(f"\nretrying in {outcome.retry_in_seconds:.0f}s: {outcome.error.message}")
            time.sleep(outcome.retry_in_seconds)
            outcome = job_run(job_id=job.pk, on_progress=self._draw)
        self.stderr.write("\n")
        self._summarise(video.pk, job.pk, time.monotonic() - started)

    def _create(self, path: Path, owner, job_options: JobOptions) -> Video:
        upload = TemporaryUploadedFile(path.name, "application/octet-stream", path.stat().st_size, None)
        with path.open("rb") as source:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                upload.write(chunk)
        upload.seek(0)
        try:
            return video_create(owner=owner, uploaded_file=upload, job_options=job_options, enqueue=False)
        except (VideoRejected, ValueError) as exc:
            raise CommandError(getattr(exc, "message", str(exc)))
        finally:
            upload.close()

    def _draw(self, progress: ProgressSnapshot) -> None:
        width = 30
        fraction = progress.processed_frames / max(progress.total_frames, 1)
        bar = "#" * int(width * fraction)
        sys.stderr.write(
            f"\r[{bar:<{width}}] {fraction:6.1%} {progress.processed_frames}/{progress.total_frames} frames "
            f"{progress.frames_per_second:5.1f} frames/s {progress.detections} detections"
        )
        sys.stderr.flush()

    def _summarise(self, video_id, job_id, seconds: float) -> None:
        video = Video.objects.get(pk=video_id)
        job = ProcessingJob.objects.get(pk=job_id)
        self.stdout.write(f"video {video.pk}: {video.workflow_state}")
        if video.last_error_message:
            self.stdout.write(f"error: {video.last_error_message}")
        self.stdout.write(
            f"frames: {job.processed_frames} of {video.frame_count or '?'} "
            f"({video.width}x{video.height}, {video.fps or 0:.2f} fps, {video.codec})"
        )
        per_class = (
            Detection.objects.filter(job=job).values("class_name").annotate(n=Count("id")).order_by("-n", "class_name")
        )
        self.stdout.write(f"detections: {job.detections_count}")
        for row in per_class:
            self.stdout.write(f"  {row['class_name']}: {row['n']}")
        self.stdout.write(f"speed: {job.frames_per_second or 0:.1f} frames/s; total {seconds:.1f} s")
        if video.workflow_state != "completed":
            raise CommandError(f"processing ended {video.workflow_state}")
