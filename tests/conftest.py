import os
import shutil
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from tests import live
from tests.factories import TokenFactory, UserFactory
from tests.videofiles import write_test_video

TESTS_ROOT = Path(__file__).resolve().parent
# Fixtures that start server or worker processes: a test using one needs more than PostgreSQL and Redis.
PROCESS_FIXTURES = {"live_server_process", "live_worker_process", "private_stack"}
# Modules that need only PostgreSQL and Redis but take long: hundreds of cases (every route for every kind of
# caller; a schemathesis run over the whole schema), real runs of the detector (exports, training, the hostile
# upload corpus through the pipeline, runs raced on threads). `make test` runs them, `make test-fast` does not.
SLOW_MODULES = {
    TESTS_ROOT / "api" / "test_schema_fuzz.py",
    TESTS_ROOT / "mediaplatform" / "test_authorisation_matrix.py",
    TESTS_ROOT / "processing" / "test_lock_order_and_rechecks.py",
    TESTS_ROOT / "processing" / "test_onnx_export.py",
    TESTS_ROOT / "processing" / "test_safe_weights.py",
    TESTS_ROOT / "videos" / "test_hostile_uploads.py",
}


def pytest_collection_modifyitems(config, items):
    """Mark tests by what they need, so `make test-fast` can leave out processes, the browser and the benches."""
    for item in items:
        path = Path(str(item.path)).resolve()
        if TESTS_ROOT / "browser" in path.parents:
            item.add_marker(pytest.mark.browser)
        if path.name == "test_benches.py":
            item.add_marker(pytest.mark.bench)
        if path in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session", autouse=True)
def clean_test_services():
    """Start from empty test Redis databases (broker, channel layer, cache), an empty media folder and no staged
    uploads (a session left by an earlier run would count against a user of this run with the same id)."""
    for db in (settings.CELERY_REDIS_DB, settings.CHANNELS_REDIS_DB, settings.CACHE_REDIS_DB):
        redis.Redis.from_url(f"{settings.REDIS_URL}/{db}").flushdb()
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
    Path(settings.MEDIA_ROOT).mkdir(parents=True, exist_ok=True)
    shutil.rmtree(settings.UPLOAD_STAGING_DIR, ignore_errors=True)
    yield


@pytest.fixture(autouse=True)
def runs_settled_before_the_flush(request):
    """After a test that commits, no worker of the suite is inside one of its runs when the tables are emptied.

    A live worker takes whatever a test queued; if it is still running that job while the test's
    database is flushed, its locks and the TRUNCATE can deadlock. The test's unfinished runs are ended
    as cancelled (the worker stops at its next step) and the flush waits until no run lock is held.
    """
    yield
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
        return
    from django.db import connection

    from processing.models import JobStatus, ProcessingJob
    from processing.services.jobs import ACTIVE_JOB_STATUSES

    ProcessingJob.objects.filter(status__in=ACTIVE_JOB_STATUSES).update(status=JobStatus.CANCELLED)
    deadline = time.monotonic() + 60
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                " WHERE l.locktype = 'advisory' AND d.datname = current_database() AND l.pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def api_client(user):
    client = APIClient()
    token = TokenFactory(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    client.user = user
    return client


@pytest.fixture
def video_path(tmp_path) -> Path:
    return write_test_video(tmp_path / "clip.mp4", seconds=2, fps=10)


@pytest.fixture(scope="session")
def release_assets(tmp_path_factory):
    """Catalog weights on a local server, for the platform processes this suite starts: no test reaches the internet.

    yolo11n is served as an untrained network of that architecture: not the demo model, so installing it as
    the default ends the demo notice.
    """
    from processing.weights_loading import yolo_load
    from tests.release_assets import AssetServer

    weights = tmp_path_factory.mktemp("release") / "yolo11n.pt"
    yolo_load("yolo11n.yaml").save(str(weights))
    with AssetServer({"yolo11n.pt": weights.read_bytes()}) as server:
        os.environ["MODEL_DOWNLOAD_BASE_URL"] = server.base_url
        yield server


@pytest.fixture(scope="session")
def live_server_process(django_db_setup, django_db_blocker, release_assets):
    """The web front (nginx, gunicorn, Daphne) serving HTTP and websockets against the test database."""
    with django_db_blocker.unblock():
        process, port = live.start_web()
    yield f"127.0.0.1:{port}"
    process.stop()


@pytest.fixture(scope="session")
def live_worker_process(django_db_setup, django_db_blocker, release_assets):
    """A Celery worker process consuming the default and inference queues of the test broker."""
    with django_db_blocker.unblock():
        process = live.start_celery_worker()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def object_store_server():
    """A real S3-compatible server (moto's standalone server) with an empty bucket, for the whole session."""
    from tests.object_store import ObjectStoreServer

    with ObjectStoreServer() as server:
        yield server


@pytest.fixture
def s3_media(object_store_server, settings):
    """This process stores media in the object store for the test (the storage cache follows the setting)."""
    settings.STORAGES = object_store_server.storages_setting()
    settings.MEDIA_STORAGE = "s3"
    settings.MEDIA_S3_PUBLIC_ENDPOINT_URL = None
    yield object_store_server
