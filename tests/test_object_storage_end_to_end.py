"""The platform on several hosts: a web front and two workers that share no files, only PostgreSQL, Redis and an
S3-compatible object store (moto's server).

Each "host" is a process given folders of its own (media root, scratch, weights and export caches, ultralytics
settings) that start empty; the media root must stay empty, since everything goes through the store. The
workers get only what another host would be given: the database and broker settings, the store's settings and
those folders, none of the test process's environment. The "GPU host" consumes the inference queue only, the
"CPU host" both queues, as docker-compose.yml and the README's "Several hosts" set them up.

Which worker takes a message is the broker's choice; so that each host provably runs some of the jobs, the test
steers them with Celery's remote control (a worker stops consuming the inference queue, then starts again), and
reads in each worker's log which task it ran. Faults: the store stops answering (SIGSTOP) under a job that has
started, which is retried and completes once the store answers again; an original deleted from the bucket before its job
runs fails that job once, with the reason, and nothing comes back to the queue.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import pytest
import redis
import requests
from celery import Celery
from celery.app.control import Control
from django.conf import settings

from processing.models import Detection, ErrorType, ProcessingJob, RecoveryStrategy
from tests.factories import TokenFactory
from tests.live import (
    LOG_DIR,
    ROOT,
    LiveProcess,
    child_environment,
    spare_broker_db,
    start_web,
    wait_for_log,
)
from tests.object_store import ObjectStoreServer
from tests.videofiles import write_test_video
from videos.models import Video

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# What one host keeps to itself: each is a folder of its own under the test's temporary folder.
HOST_FOLDERS = {
    "MEDIA_ROOT": "media",
    "MEDIA_SCRATCH_DIR": "scratch",
    "MEDIA_WEIGHTS_CACHE_DIR": "weights-cache",
    "DETECTOR_ONNX_CACHE_DIR": "onnx-cache",
    "YOLO_CONFIG_DIR": "ultralytics",
}
# What a worker on another host is given besides the store's settings and its folders: how to reach the database
# and Redis, the settings module, and the process basics. Nothing about media.
WORKER_ENVIRONMENT_PREFIXES = ("DATABASE_", "CHANNELS_", "CACHE_", "LOG_", "YOLO_", "DJANGO_")
WORKER_ENVIRONMENT_NAMES = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "REDIS_URL", "PYTHONUNBUFFERED"}
WORKER_ENVIRONMENT_NAMES |= {"MODEL_DOWNLOAD_BASE_URL"}  # the suite's stand-in for the model catalogue
TERMINAL_STATES = {"completed", "failed"}
# An unreachable store is a resource the job waits for, never the file's fault.
RETRYABLE_STORE_ERRORS = {ErrorType.NETWORK_TIMEOUT, ErrorType.RESOURCE_EXHAUSTION}
RETRYING_STRATEGIES = {RecoveryStrategy.RETRY, RecoveryStrategy.DELAYED_RETRY, RecoveryStrategy.LINEAR_BACKOFF}
HANG_GUARD_SECONDS = 600  # how long to wait before calling a run lost; nothing here asserts a duration


@dataclass
class Host:
    name: str
    folders: dict[str, Path]
    process: LiveProcess | None = None

    @property
    def node_name(self) -> str:
        return f"{self.name}@{socket.gethostname()}"

    def media_files(self) -> list[Path]:
        return [path for path in self.folders["MEDIA_ROOT"].rglob("*") if path.is_file()]

    def scratch_files(self) -> list[Path]:
        return [path for path in self.folders["MEDIA_SCRATCH_DIR"].rglob("*") if path.is_file()]

    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace") if self.process else ""

    def ran_task(self, task_id: str) -> bool:
        return f"processing.tasks.process_video[{task_id}] succeeded" in self.log()


@dataclass
class Stack:
    store: ObjectStoreServer
    base_url: str
    broker_url: str
    control: Control  # remote control of the workers, over this test's broker
    web: Host
    gpu: Host
    cpu: Host

    @property
    def workers(self) -> list[Host]:
        return [self.gpu, self.cpu]

    def logs(self) -> str:
        return "\n".join(f"--- {host.name}:\n{host.process.log_tail(40)}" for host in (self.web, *self.workers))


def private_broker_db() -> int:
    """A Redis database for this test's broker only: the one after this run's own (broker, channel layer, cache)
    where the server has it, so that runs isolated by database ranges keep to theirs; else a spare one."""
    taken = {settings.CELERY_REDIS_DB, settings.CHANNELS_REDIS_DB, settings.CACHE_REDIS_DB}
    try:
        available = int(redis.Redis.from_url(settings.REDIS_URL).config_get("databases")["databases"])
    except (redis.RedisError, KeyError, ValueError):
        available = 16
    following = max(taken) + 1
    return following if following < available else spare_broker_db()


def host_folders(base: Path, name: str) -> dict[str, Path]:
    folders = {setting: base / name / folder for setting, folder in HOST_FOLDERS.items()}
    for folder in folders.values():
        folder.mkdir(parents=True)
    # ultralytics' settings folder may hold files it would otherwise fetch (fonts); each host has its own copy.
    source = Path(os.environ.get("YOLO_CONFIG_DIR", ROOT / "var" / "ultralytics"))
    if source.is_dir():
        shutil.copytree(source, folders["YOLO_CONFIG_DIR"], dirs_exist_ok=True)
    return folders


def as_environment(folders: dict[str, Path]) -> dict[str, str]:
    return {setting: str(folder) for setting, folder in folders.items()}


def worker_environment(shared: dict[str, str], folders: dict[str, Path]) -> dict[str, str]:
    inherited = child_environment()
    env = {
        key: value
        for key, value in inherited.items()
        if key in WORKER_ENVIRONMENT_NAMES or key.startswith(WORKER_ENVIRONMENT_PREFIXES)
    }
    env["DJANGO_SETTINGS_MODULE"] = inherited["DJANGO_SETTINGS_MODULE"]
    # The recovery matrix's delays, short: a run hit by the store's outage comes back within seconds.
    env["RETRY_NETWORK_BACKOFF_BASE_SECONDS"] = "1"
    env["RETRY_RESOURCE_DELAY_SECONDS"] = "2"
    return {**env, **shared, **as_environment(folders)}


def start_worker(host: Host, *, queues: str, env: dict[str, str]) -> LiveProcess:
    """A Celery worker as start_celery_worker starts one, but with exactly `env` (no inherited environment)."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{host.name}.log"
    args = [sys.executable, "-m", "celery", "-A", "mediaplatform", "worker", "-Q", queues]
    args += ["--pool", "solo", "--concurrency", "1", "--without-gossip", "--without-mingle"]
    args += ["--loglevel", "INFO", "--hostname", f"{host.name}@%h"]
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    live = LiveProcess(name=host.name, process=process, log_path=log_path)
    try:
        wait_for_log(live, "ready.")
    except BaseException:
        live.stop()
        raise
    return live


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, release_assets, tmp_path_factory):
    base = tmp_path_factory.mktemp("hosts")
    broker_db = private_broker_db()
    broker_url = f"{settings.REDIS_URL}/{broker_db}"
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    web = Host("multihost-web", host_folders(base, "web"))
    gpu = Host("multihost-gpu", host_folders(base, "gpu"))
    cpu = Host("multihost-cpu", host_folders(base, "cpu"))
    # The suite's own Celery app publishes to the suite's broker; the workers listen on this test's.
    control = Celery("multihost-control", broker=broker_url, set_as_current=False)
    control.conf.broker_transport_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    with ObjectStoreServer() as store:
        shared = {**store.environment(), "CELERY_REDIS_DB": str(broker_db)}
        try:
            with django_db_blocker.unblock():
                web.process, port = start_web(web.name, extra_env={**shared, **as_environment(web.folders)})
                gpu.process = start_worker(gpu, queues="inference", env=worker_environment(shared, gpu.folders))
                cpu.process = start_worker(cpu, queues="default,inference", env=worker_environment(shared, cpu.folders))
            yield Stack(
                store=store,
                base_url=f"http://127.0.0.1:{port}",
                broker_url=broker_url,
                control=control.control,
                web=web,
                gpu=gpu,
                cpu=cpu,
            )
        finally:
            for host in (cpu, gpu, web):
                if host.process is not None:
                    host.process.stop()
            control.close()
            broker.flushdb()


def wait_until(check: Callable[[], object], *, what: str, stack: Stack, timeout: float = HANG_GUARD_SECONDS):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        for host in (stack.web, *stack.workers):
            if host.process.process.poll() is not None:
                raise AssertionError(f"{host.name} exited while waiting for {what}:\n{stack.logs()}")
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s\n{stack.logs()}")


def set_inference_consumer(stack: Stack, host: Host, *, consuming: bool) -> None:
    """Make one worker stop or start taking inference messages (Celery remote control, answered before going on)."""
    command = stack.control.add_consumer if consuming else stack.control.cancel_consumer
    replies = command("inference", destination=[host.node_name], reply=True, timeout=30)
    assert replies and host.node_name in replies[0], f"{host.name} did not answer: {replies}\n{stack.logs()}"


def upload(stack: Stack, auth: dict, clip: Path, *, content_type: str = "video/mp4") -> str:
    with clip.open("rb") as handle:
        response = requests.post(
            f"{stack.base_url}/api/v1/videos/",
            headers=auth,
            files={"file": (clip.name, handle, content_type)},
            data={"title": clip.stem},
            timeout=60,
        )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def video_state(video_id: str) -> str | None:
    return Video.objects.filter(pk=video_id).values_list("workflow_state", flat=True).first()


def wait_for_terminal_state(stack: Stack, video_id: str) -> str:
    return wait_until(
        lambda: (state := video_state(video_id)) in TERMINAL_STATES and state, what=f"video {video_id}", stack=stack
    )


def first_job(video_id: str) -> ProcessingJob:
    return ProcessingJob.objects.filter(video_id=video_id).order_by("created_at").first()


def stored_names(video: Video) -> list[str]:
    return [video.file.name, *video.derived_file_names()]


def object_key(stack: Stack, name: str) -> str:
    return f"{stack.store.prefix}/{name}"


def keys_naming(stack: Stack, video_id: str) -> list[str]:
    every_key = stack.store.keys()
    return [key for key in every_key if video_id in key]


def assert_complete_result(stack: Stack, auth: dict, video_id: str, *, frames: int) -> dict:
    """Detections, the run's figures and the playback files as objects, and a presigned URL that answers ranges."""
    detail = requests.get(f"{stack.base_url}/api/v1/videos/{video_id}/", headers=auth, timeout=30).json()
    job = first_job(video_id)
    stored = Detection.objects.filter(job=job).count()
    assert detail["state"] == "completed", detail
    assert job.status == "completed" and job.processed_frames == frames, (job.status, job.processed_frames)
    assert job.processing_node_id, "the job names the host that ran it"
    assert detail["objects_detected_count"] == job.detections_count == stored > 0

    video = Video.objects.get(pk=video_id)
    keys = set(stack.store.keys())
    assert video.poster and video.thumbnails_sprite, "every video gets a poster and seek thumbnails"
    for name in stored_names(video):
        assert object_key(stack, name) in keys, f"{name} is not in the bucket"

    playback = detail["playback"]
    assert playback["kind"] in {"original", "rendition"}, playback
    # The player's URL is the store's presigned URL, or the platform's that redirects there: either way the
    # bytes come from the store, not through the web host. (Credentials go to the platform only.)
    url = urljoin(stack.base_url, playback["url"])
    headers = {"Range": "bytes=0-1023", **(auth if url.startswith(stack.base_url) else {})}
    ranged = requests.get(url, headers=headers, timeout=30)
    assert ranged.url.startswith(stack.store.endpoint_url), f"served from {ranged.url}, not the store"
    assert ranged.status_code == 206, (ranged.status_code, ranged.text[:300])
    assert ranged.headers["Content-Range"].startswith("bytes 0-1023/") and len(ranged.content) == 1024
    assert ranged.content[4:8] == b"ftyp", "the player gets an MP4"
    return detail


def worker_that_ran(stack: Stack, video_id: str) -> set[str]:
    task_id = first_job(video_id).celery_task_id
    return {host.name for host in stack.workers if host.ran_task(task_id)}


def test_web_and_two_workers_share_only_the_database_redis_and_the_store(stack, tmp_path):
    token = TokenFactory()
    auth = {"Authorization": f"Token {token.key}"}
    # The web host's readiness names the store it writes to, and finds it answering.
    ready = requests.get(f"{stack.base_url}/health/ready", timeout=30).json()["components"]["media_store"]
    assert ready["status"] != "unhealthy" and ready["detail"] == f"s3: s3://{stack.store.bucket}", ready
    clips = {
        "street": write_test_video(tmp_path / "street.mp4", seconds=2, fps=10, variant=1),
        # MS-MPEG4 in AVI: no browser plays it, so the worker makes an H.264 rendition from its scratch copy.
        "legacy": write_test_video(tmp_path / "legacy.avi", seconds=2, fps=10, codec="msmpeg4", variant=2),
        "harbour": write_test_video(tmp_path / "harbour.mp4", seconds=3, fps=10, variant=3),
    }

    # The CPU host's turn: the GPU host stops taking inference while these two are uploaded and run.
    set_inference_consumer(stack, stack.gpu, consuming=False)
    on_cpu = [
        upload(stack, auth, clips["street"]),
        upload(stack, auth, clips["legacy"], content_type="video/x-msvideo"),
    ]
    for video_id in on_cpu:
        assert wait_for_terminal_state(stack, video_id) == "completed", first_job(video_id).last_error_message
    # Then the GPU host's, the CPU host taking none.
    set_inference_consumer(stack, stack.gpu, consuming=True)
    set_inference_consumer(stack, stack.cpu, consuming=False)
    on_gpu = upload(stack, auth, clips["harbour"])
    assert wait_for_terminal_state(stack, on_gpu) == "completed", first_job(on_gpu).last_error_message
    set_inference_consumer(stack, stack.cpu, consuming=True)

    for video_id in on_cpu:
        assert worker_that_ran(stack, video_id) == {stack.cpu.name}
    assert worker_that_ran(stack, on_gpu) == {stack.gpu.name}
    street = assert_complete_result(stack, auth, on_cpu[0], frames=20)
    legacy = assert_complete_result(stack, auth, on_cpu[1], frames=20)
    assert_complete_result(stack, auth, on_gpu, frames=30)
    assert street["playback"]["kind"] == "original"
    assert legacy["playback"]["kind"] == "rendition"

    # Exports: COCO from the web front; the annotated video drawn by the CPU host (the default queue) from the
    # store's copy of the original, into the store, and downloaded from there.
    job = first_job(on_cpu[0])
    coco = requests.get(f"{stack.base_url}/api/v1/jobs/{job.pk}/export/coco/", headers=auth, timeout=60)
    assert coco.status_code == 200, coco.text[:300]
    assert len(coco.json()["annotations"]) == job.detections_count
    asked = requests.post(f"{stack.base_url}/api/v1/jobs/{job.pk}/annotated-video/", headers=auth, json={}, timeout=30)
    assert asked.status_code in (200, 202), asked.text
    download_url = stack.base_url + asked.json()["download_url"]
    wait_until(
        lambda: (
            requests.get(download_url, headers={**auth, "Accept": "application/json"}, timeout=30).json()["status"]
            in {"ready", "failed"}
        ),
        what="the annotated video",
        stack=stack,
    )
    drawn = requests.get(download_url, headers=auth, timeout=60)
    assert drawn.status_code == 200, drawn.text[:300]
    assert drawn.content[4:8] == b"ftyp"
    render_ran = re.compile(r"processing\.tasks\.render_annotated_video\[[0-9a-f-]+\] succeeded")
    assert render_ran.search(stack.cpu.log())
    assert not render_ran.search(stack.gpu.log()), "the GPU host takes inference only"

    # Deletion: the video goes at once for its owner; retention's purge takes its objects out of the bucket.
    assert keys_naming(stack, on_cpu[0])
    deleted = requests.delete(f"{stack.base_url}/api/v1/videos/{on_cpu[0]}/", headers=auth, timeout=30)
    assert deleted.status_code == 204, deleted.text
    purge = subprocess.run(
        [sys.executable, "manage.py", "cleanup"],
        cwd=ROOT,
        env={
            **child_environment(),
            **stack.store.environment(),
            **as_environment(stack.web.folders),
            "RETENTION_PURGE_DELETED_DAYS": "0",
        },
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert not Video.objects.filter(pk=on_cpu[0]).exists()
    assert keys_naming(stack, on_cpu[0]) == [], "the deleted video's original, playback files and render"
    assert keys_naming(stack, on_cpu[1]), "the other videos keep theirs"

    # Nothing was ever written to a host's own media folder, and no scratch copy outlived its job.
    for host in (stack.web, *stack.workers):
        assert host.media_files() == [], f"{host.name} wrote media to its own disk"
    for host in stack.workers:
        assert host.scratch_files() == [], f"{host.name} left scratch copies"


def test_a_store_outage_mid_job_is_retried_and_the_run_completes_whole(stack, tmp_path):
    token = TokenFactory()
    auth = {"Authorization": f"Token {token.key}"}
    clip = write_test_video(tmp_path / "outage.mp4", seconds=3, fps=10, variant=4)
    # A job reads the store at its start (its copy of the original) and while it makes its playback files; after
    # that it needs only the database. So that the outage meets it there whatever this machine's speed, the job
    # waits unconsumed while the store stops answering, and starts into the outage.
    for host in stack.workers:
        set_inference_consumer(stack, host, consuming=False)
    video_id = upload(stack, auth, clip)
    stack.store.pause()
    try:
        for host in stack.workers:
            set_inference_consumer(stack, host, consuming=True)
        wait_until(lambda: first_job(video_id).error_count > 0, what="the job meeting the outage", stack=stack)
    finally:
        stack.store.resume()

    assert wait_for_terminal_state(stack, video_id) == "completed", first_job(video_id).last_error_message
    job = first_job(video_id)
    assert job.retry_count >= 1 and job.error_count >= 1
    first_error = job.errors.order_by("created_at").first()
    assert first_error.error_type in RETRYABLE_STORE_ERRORS, (first_error.error_type, first_error.message)
    assert first_error.recovery_strategy in RETRYING_STRATEGIES, first_error.message
    assert_complete_result(stack, auth, video_id, frames=30)
    # Nothing lost: the original is still the uploaded bytes.
    video = Video.objects.get(pk=video_id)
    body = stack.store.client().get_object(Bucket=stack.store.bucket, Key=object_key(stack, video.file.name))["Body"]
    assert body.read() == clip.read_bytes()
    for host in stack.workers:
        assert host.scratch_files() == [], f"{host.name} left scratch copies"


def test_an_original_missing_from_the_store_fails_its_job_once_with_the_reason(stack, tmp_path):
    token = TokenFactory()
    auth = {"Authorization": f"Token {token.key}"}
    clip = write_test_video(tmp_path / "vanishing.mp4", seconds=2, fps=10, variant=5)
    # Nobody takes inference while the original is taken out of the bucket under the queued job.
    for host in stack.workers:
        set_inference_consumer(stack, host, consuming=False)
    try:
        video_id = upload(stack, auth, clip)
        video = Video.objects.get(pk=video_id)
        stack.store.client().delete_object(Bucket=stack.store.bucket, Key=object_key(stack, video.file.name))
    finally:
        for host in stack.workers:
            set_inference_consumer(stack, host, consuming=True)

    assert wait_for_terminal_state(stack, video_id) == "failed"
    job = first_job(video_id)
    assert job.status == "failed" and job.retry_count == 0, (job.status, job.retry_count)
    assert job.last_error_message, "the failure says why"
    detail = requests.get(f"{stack.base_url}/api/v1/videos/{video_id}/", headers=auth, timeout=30).json()
    assert detail["state"] == "failed" and detail["last_error_message"]
    # No crash loop: the message was acknowledged, nothing waits to come back, and both workers still run.
    broker = redis.Redis.from_url(stack.broker_url)
    waiting = {key: broker.llen(key) for key in broker.scan_iter("inference*") if broker.type(key) == b"list"}
    assert sum(waiting.values()) == 0, waiting
    assert not any(job.celery_task_id in str(value) for value in broker.hvals("unacked")), "still unacknowledged"
    assert all(host.process.process.poll() is None for host in stack.workers)
    # And the next upload is processed as usual.
    after = upload(stack, auth, write_test_video(tmp_path / "after.mp4", seconds=2, fps=10, variant=6))
    assert wait_for_terminal_state(stack, after) == "completed", first_job(after).last_error_message
