"""The disk filling up under a worker: resource exhaustion, a delayed retry with half the batch, then completion.

What a worker writes while processing is the ONNX export of its network (a file of about
12 MB per weights and input shape); the test puts that cache on a small tmpfs filled to the
last byte, so the write fails with a real ENOSPC, then frees the space as an operator would.
A tmpfs is the faithful fault (a full filesystem, for every writer); it needs the right to mount,
and the test is skipped with that reason where it is missing.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from processing.models import Detection, ProcessingErrorLog, ProcessingJob
from processing.services.jobs import JobOptions
from tests import faults, live
from tests.factories import UserFactory
from tests.videofiles import write_test_video
from videos.models import Video
from videos.services.creation import video_create

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.skipif(not faults.tmpfs_mountable(), reason="no permission to mount a tmpfs here"),
]


def test_a_full_disk_is_retried_later_with_half_the_batch_and_completes_once_space_is_freed(tmp_path):
    content = write_test_video(tmp_path / "clip.mp4", seconds=2, fps=10).read_bytes()
    video = video_create(
        owner=UserFactory(),
        uploaded_file=SimpleUploadedFile("clip.mp4", content),
        job_options=JobOptions(batch_size=4),
        enqueue=False,
    )
    job = ProcessingJob.objects.get(video=video)

    with faults.small_tmpfs("48m") as disk, faults.private_redis() as redis, faults.processes() as started:
        filler = faults.fill(disk)
        env = {
            **redis.env(),
            "DETECTOR_ONNX_CACHE_DIR": str(disk / "onnx-cache"),
            "RETRY_RESOURCE_DELAY_SECONDS": "3",
        }
        worker = live.start_celery_worker("worker-full-disk", extra_env=env)
        started.append(worker)
        faults.send_process_video(redis, job.pk)

        first = faults.wait_until(
            lambda: ProcessingErrorLog.objects.filter(job=job).first(),
            timeout=180,
            what="the full disk to be reported",
            logs=[worker],
        )
        filler.unlink()  # the operator makes room; the delayed retry finds it
        faults.wait_until(
            lambda: Video.objects.get(pk=video.pk).workflow_state in ("completed", "failed"),
            timeout=180,
            what="the retried job to finish",
            logs=[worker],
        )

    job.refresh_from_db()
    errors = list(ProcessingErrorLog.objects.filter(job=job).order_by("created_at"))
    print(f"disk full: {len(errors)} error row(s): {first.message[:120]}; batch size now {job.batch_size}")
    assert Video.objects.get(pk=video.pk).workflow_state == "completed"
    assert {(e.error_type, e.error_code, e.recovery_strategy) for e in errors} == {
        ("resource_exhaustion", "disk_full", "delayed_retry")
    }
    assert "No space left on device" in first.message
    assert 1 <= len(errors) <= 5
    assert job.batch_size == max(1, 4 >> len(errors)), "each delayed retry halves the batch"
    assert job.processed_frames == job.total_frames == 20
    assert Detection.objects.filter(job=job).values("frame_index").distinct().count() == 20
