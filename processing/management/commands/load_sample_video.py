"""Give a user a sample video to look at: a synthetic scene the default model knows, queued for processing."""

import tempfile
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.management.base import BaseCommand, CommandError

from processing.synthetic.video import write_synthetic_video
from videos.models import Video
from videos.services.creation import video_create

SAMPLE_TITLE = "Sample: moving shapes (synthetic)"
SAMPLE_SEED = 4242  # never used in training


class Command(BaseCommand):
    help = "Upload a synthetic sample video for a user (once) so a new installation shows real detections."

    def add_arguments(self, parser):
        parser.add_argument("--owner", required=True, help="Username that gets the sample")

    def handle(self, *args, owner: str, **options):
        user = get_user_model().objects.filter(username=owner).first()
        if user is None:
            raise CommandError(f"No user {owner!r}")
        if Video.objects.filter(owner=user, title=SAMPLE_TITLE).exists():
            self.stdout.write("The sample video is there already.")
            return
        with tempfile.TemporaryDirectory() as scratch:
            sample = write_synthetic_video(path=Path(scratch) / "sample.mp4", seed=SAMPLE_SEED, frame_count=150)
            upload = TemporaryUploadedFile("sample.mp4", "video/mp4", sample.path.stat().st_size, None)
            upload.write(sample.path.read_bytes())
            upload.seek(0)
            video = video_create(owner=user, uploaded_file=upload, title=SAMPLE_TITLE)
            upload.close()
        self.stdout.write(f"Sample video {video.pk} queued for {owner}: open http://127.0.0.1:8000/videos/{video.pk}/")
