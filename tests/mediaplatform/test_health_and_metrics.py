import pytest
from django.utils import timezone

from mediaplatform.health import by_disk_usage, by_response_time
from processing.models import ProcessingErrorLog
from tests.factories import ProcessingJobFactory, VideoFactory


def test_thresholds_follow_seeds_002():
    assert [by_response_time(ms) for ms in (5, 99.9, 100, 500, 501)] == [
        "healthy",
        "healthy",
        "degraded",
        "degraded",
        "unhealthy",
    ]
    assert [by_disk_usage(p) for p in (10, 79.9, 80, 90, 90.1)] == [
        "healthy",
        "healthy",
        "degraded",
        "degraded",
        "unhealthy",
    ]


@pytest.mark.django_db
def test_liveness_answers_without_touching_anything(client):
    response = client.get("/health/live")
    assert response.status_code == 200 and response.json()["status"] == "alive"


@pytest.mark.django_db
def test_a_busy_worker_counts_as_alive(client, settings):
    settings.HEALTH_WORKER_PING_TIMEOUT_SECONDS = 0.3
    ProcessingJobFactory(status="running", heartbeat_at=timezone.now(), video__workflow_state="processing")
    workers = client.get("/health/ready").json()["components"]["workers"]
    assert workers["status"] == "degraded" and "heartbeat" in workers["detail"]


@pytest.mark.django_db
def test_readiness_is_unhealthy_without_a_worker_and_says_why(client, settings):
    settings.HEALTH_WORKER_PING_TIMEOUT_SECONDS = 0.3
    response = client.get("/health/ready")

    assert response.status_code == 503
    components = response.json()["components"]
    assert components["workers"] == {
        "status": "unhealthy",
        "response_time_ms": components["workers"]["response_time_ms"],
        "detail": "no worker answered",
    }
    for name in ("database", "redis", "broker", "channel_layer", "disk"):
        assert components[name]["status"] in ("healthy", "degraded"), (name, components[name])
    assert components["model"]["status"] == "degraded"  # the untrained architecture


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_readiness_is_served_with_a_worker_answering(client, live_worker_process, settings):
    settings.HEALTH_WORKER_PING_TIMEOUT_SECONDS = 5  # the suite's machine is busy
    response = client.get("/health/ready")
    body = response.json()
    assert body["components"]["workers"]["status"] in ("healthy", "degraded"), body["components"]["workers"]
    # Response times judge the rest, and this machine is busy: check the rule, not the weather.
    statuses = {component["status"] for component in body["components"].values()}
    assert response.status_code == (503 if "unhealthy" in statuses else 200), body
    assert body["status"] == max(statuses, key=["healthy", "degraded", "unhealthy"].index)


@pytest.mark.django_db
def test_metrics_report_states_jobs_errors_and_outbox(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_PUBLIC = "", True
    VideoFactory.create_batch(2, workflow_state="completed")
    job = ProcessingJobFactory(status="running", frames_per_second=12.5, video__workflow_state="processing")
    ProcessingErrorLog.objects.create(
        video=job.video,
        job=job,
        stage="inference",
        error_type="ml_model_error",
        message="x",
        recovery_strategy="immediate_retry",
    )

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    lines = response.content.decode().splitlines()
    assert 'mediaplatform_videos{state="completed"} 2.0' in lines
    assert 'mediaplatform_videos{state="processing"} 1.0' in lines
    assert "mediaplatform_jobs_running 1.0" in lines
    assert "mediaplatform_frames_per_second 12.5" in lines
    assert 'mediaplatform_errors_total{error_type="ml_model_error"} 1.0' in lines
    assert any(line.startswith('mediaplatform_queue_depth{queue="inference"}') for line in lines)
    assert "# TYPE mediaplatform_event_delivery_latency_seconds gauge" in lines


@pytest.mark.django_db
def test_metrics_can_require_a_token(client, settings):
    settings.METRICS_TOKEN = "s3cret"
    settings.METRICS_PUBLIC = True  # the token decides when there is one
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3crét").status_code == 401  # not ASCII: no 500
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


@pytest.mark.django_db
def test_metrics_are_closed_unless_configured(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_PUBLIC = "", False
    refused = client.get("/metrics")
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "metrics_not_configured"
    assert "METRICS_TOKEN" in error["message"] and "METRICS_PUBLIC" in error["message"]
    assert "mediaplatform_" not in refused.content.decode()
    settings.METRICS_PUBLIC = True
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_metrics_exposition_parses_with_every_family_each_app_registers(client, settings):
    from prometheus_client.parser import text_string_to_metric_families

    settings.METRICS_TOKEN, settings.METRICS_PUBLIC = "", True
    text = client.get("/metrics").content.decode()
    families = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert families == {
        "mediaplatform_videos": "gauge",  # videos.metrics
        "mediaplatform_queue_depth": "gauge",  # processing.metrics
        "mediaplatform_queue_depth_by_priority": "gauge",
        "mediaplatform_jobs_waiting": "gauge",
        "mediaplatform_jobs_running": "gauge",
        "mediaplatform_frames_per_second": "gauge",
        "mediaplatform_jobs": "gauge",
        "mediaplatform_errors": "counter",  # exposed as mediaplatform_errors_total
        "mediaplatform_alert_window_seconds": "gauge",  # processing.alert_figures
        "mediaplatform_jobs_finished_in_window": "gauge",
        "mediaplatform_processing_failed_ratio": "gauge",
        "mediaplatform_processing_error_ratio": "gauge",
        "mediaplatform_processing_time_seconds": "gauge",
        "mediaplatform_queue_oldest_age_seconds": "gauge",
        "mediaplatform_outbox_events": "gauge",  # notifications.metrics
        "mediaplatform_event_delivery_latency_seconds": "gauge",
    }
