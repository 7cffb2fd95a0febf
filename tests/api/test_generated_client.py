"""A client generated from the live schema with openapi-python-client imports and runs the README's API flow."""

import importlib
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.factories import UserFactory
from tests.videofiles import write_test_video

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's
TUS_OPERATIONS = {"POST /api/v1/tus/", "PATCH /api/v1/tus/{upload_id}/"}


def generate_client(schema_url: str, into: Path) -> Path:
    generator = shutil.which("openapi-python-client", path=os.path.dirname(sys.executable))
    assert generator, "openapi-python-client is not installed (requirements.txt)"
    package = into / "mediaplatform_client"
    completed = subprocess.run(
        [generator, "generate", "--url", schema_url, "--meta", "none", "--output-path", str(package)],
        cwd=into,
        env={**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    # The generator warns and leaves an operation out when it cannot express it. The one allowed: the tus
    # upload's raw `application/offset+octet-stream` bodies, which tus clients (tuspy, tus-js-client) send.
    skipped = re.findall(r"WARNING parsing (\w+ \S+) within \w+\. Endpoint will not be generated\.\s+(.+)", output)
    assert all("application/offset+octet-stream" in why for _, why in skipped), output
    assert {operation for operation, _ in skipped} <= TUS_OPERATIONS, output
    assert output.count("WARNING") == len(skipped), output
    return package


@pytest.fixture
def generated(live_server_process, tmp_path):
    generate_client(f"http://{live_server_process}/api/schema/", tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("mediaplatform_client")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.startswith("mediaplatform_client")]:
            del sys.modules[name]


def test_every_module_of_the_generated_client_imports(generated):
    import pkgutil

    failures = []
    for package in ("api", "models"):
        root = importlib.import_module(f"mediaplatform_client.{package}")
        for module in pkgutil.walk_packages(root.__path__, f"mediaplatform_client.{package}."):
            try:
                importlib.import_module(module.name)
            except Exception as exc:  # every failure is listed, not only the first
                failures.append(f"{module.name}: {exc!r}")
    assert not failures, "\n".join(failures)


def test_the_readme_flow_through_the_generated_client(generated, live_server_process, live_worker_process, tmp_path):
    from mediaplatform_client import AuthenticatedClient, Client
    from mediaplatform_client.api.v1 import (
        v1_auth_token_create,
        v1_jobs_export_retrieve,
        v1_videos_create,
        v1_videos_detections_list,
        v1_videos_retrieve,
    )
    from mediaplatform_client.models import ApiError, AuthTokenRequest, VideoUploadRequest
    from mediaplatform_client.types import File

    base_url = f"http://{live_server_process}"
    user = UserFactory()

    token = v1_auth_token_create.sync(
        client=Client(base_url=base_url), body=AuthTokenRequest(username=user.username, password=PASSWORD)
    )
    api = AuthenticatedClient(base_url=base_url, token=token.token, prefix="Token", timeout=60)

    clip = write_test_video(tmp_path / "street.mp4", seconds=2, fps=10)
    with open(clip, "rb") as handle:
        created = v1_videos_create.sync_detailed(
            client=api,
            body=VideoUploadRequest(file=File(payload=handle, file_name="street.mp4", mime_type="video/mp4")),
        )
    assert created.status_code == 201, created.content
    video = created.parsed

    deadline = time.monotonic() + 240
    while video.state not in ("completed", "failed") and time.monotonic() < deadline:
        time.sleep(0.5)
        video = v1_videos_retrieve.sync(video_id=video.id, client=api)
    assert video.state == "completed", video.to_dict()

    detections = v1_videos_detections_list.sync(video_id=video.id, client=api)
    assert detections.count == video.latest_job.detections_count
    assert detections.results, "the untrained suite model stores boxes at its tiny threshold"

    export = v1_jobs_export_retrieve.sync_detailed(job_id=video.latest_job.id, export_format="coco", client=api)
    assert export.status_code == 200
    assert export.parsed is not None

    missing = v1_videos_retrieve.sync_detailed(video_id=uuid.uuid4(), client=api)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, ApiError)
    assert missing.parsed.error.code == "not_found"
    assert missing.parsed.error.message
