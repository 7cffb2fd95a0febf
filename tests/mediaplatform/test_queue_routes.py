"""Which queue each task goes to, and that every deployment has a worker consuming each of those queues.

Inference (processing.tasks.process_video: the model over every frame) goes to "inference", for workers on GPU
hosts or with the cores to spare; everything else (annotated videos, model installs, media analysis downloads,
webhooks, beat's sweeps) goes to "default". A queue that no worker consumes would hold its tasks forever, so the
worker commands of `make run` and of docker-compose.yml are checked against the routes.
"""

import re
import shlex
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from mediaplatform.celery import app

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
INFERENCE_TASKS = {"processing.tasks.process_video"}


def platform_task_names() -> list[str]:
    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def routed_queue(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def consumed_queues(command: str) -> set[str]:
    """The queues a `celery ... worker -Q a,b` command line consumes (Celery's default queue without -Q)."""
    words = shlex.split(command)
    if "-Q" not in words:
        return {settings.CELERY_TASK_DEFAULT_QUEUE}
    return set(words[words.index("-Q") + 1].split(","))


def test_every_platform_task_is_known_here():
    # A new task is routed to "default" unless it says otherwise; this list makes adding one a visible choice.
    assert set(platform_task_names()) >= INFERENCE_TASKS
    assert len(platform_task_names()) >= 10


@pytest.mark.parametrize("task_name", platform_task_names())
def test_inference_goes_to_the_inference_queue_and_everything_else_to_default(task_name):
    expected = "inference" if task_name in INFERENCE_TASKS else "default"
    assert routed_queue(task_name) == expected


def test_beat_schedules_do_not_override_the_routes():
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert "queue" not in entry.get("options", {}), name
        assert routed_queue(entry["task"]) == "default", name


def test_make_run_starts_a_worker_for_every_routed_queue():
    script = (REPOSITORY_ROOT / "scripts" / "run_platform.sh").read_text()
    commands = [line.partition("-A mediaplatform worker")[2] for line in script.splitlines()]
    consumed = set().union(*(consumed_queues(command) for command in commands if command))
    assert consumed >= {routed_queue(name) for name in platform_task_names()}


def compose_services() -> dict:
    return yaml.safe_load((REPOSITORY_ROOT / "docker-compose.yml").read_text())["services"]


def compose_worker_queues(service: dict, *, worker_queues: str | None = None) -> set[str]:
    command = service["command"]
    # ${WORKER_QUEUES:-default,inference}: the value the variable would give, else its default.
    command = re.sub(
        r"\$\{(\w+):-([^}]*)\}", lambda match: worker_queues if worker_queues is not None else match[2], command
    )
    return consumed_queues(command)


def test_compose_without_a_gpu_runs_both_queues_on_the_cpu_worker():
    services = compose_services()
    plain = {name: service for name, service in services.items() if not service.get("profiles")}
    queues = set().union(*(compose_worker_queues(s) for s in plain.values() if "worker" in str(s.get("command"))))
    assert queues >= {routed_queue(name) for name in platform_task_names()}


def test_compose_gpu_profile_takes_inference_on_the_gpu_and_leaves_default_to_the_cpu_worker():
    services = compose_services()
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert compose_worker_queues(gpu) == {"inference"}
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert "deploy" not in services["worker"], "the CPU worker reserves no GPU"
    assert compose_worker_queues(services["worker"], worker_queues="default") == {"default"}


def test_compose_s3_profile_has_the_store_and_a_one_shot_bucket_maker():
    services = compose_services()
    assert services["minio"]["profiles"] == ["s3"]
    maker = services["createbucket"]
    assert maker["profiles"] == ["s3"]
    assert maker["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "mc mb" in " ".join(maker["command"])
