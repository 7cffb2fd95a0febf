"""/health/ready carries the platform's version, its database connections and the error-rate threshold."""

import re

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_readiness_reports_version_connections_and_the_error_rate_threshold(client, settings):
    settings.HEALTH_WORKER_PING_TIMEOUT_SECONDS = 0.3
    settings.PLATFORM_VERSION = "9.8.7"
    settings.ALERT_ERROR_RATE_WARNING = 0.03

    body = client.get("/health/ready").json()

    assert body["version"] == "9.8.7"
    database = body["database_pool"]["database"]
    assert database["total"] >= 1 and database["in_use"] >= 1, "this very request's connection is active"
    assert database["max"] >= database["total"]
    if connection.pool is not None:
        pool = body["database_pool"]["pool"]
        assert pool["max"] == settings.DATABASE_POOL_MAX_SIZE
        assert pool["in_use"] >= 1
    assert body["alert_thresholds"] == {
        "error_rate": {"warning": 0.03, "critical": 0.10, "window_seconds": settings.ALERT_WINDOW_SECONDS}
    }


def test_the_default_version_is_the_projects():
    from mediaplatform.settings import BASE_DIR, _project_version

    declared = re.search(r'^version = "([^"]+)"', (BASE_DIR / "pyproject.toml").read_text(), re.MULTILINE)
    assert _project_version() == declared.group(1)
