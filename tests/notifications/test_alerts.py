"""Platform alerts from the pipeline's real rows: opened once with their figures, raised to critical, resolved by
themselves; each change audited and told to staff (socket group, email, subscribed staff webhooks)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import AuditLogEntry
from notifications.groups import STAFF_ALERTS_GROUP
from notifications.models import Alert, OutboxEvent, OutboxStatus, WebhookDelivery, WebhookEndpoint
from notifications.services.alerts import alerts_evaluate
from notifications.services.webhooks import WebhookRefused, webhook_endpoint_create
from processing.alert_figures import pipeline_figures_read
from processing.models import JobStatus, ProcessingErrorLog
from tests.factories import ProcessingJobFactory, UserFactory
from tests.notifications.helpers import listen, receive

pytestmark = pytest.mark.django_db


def finished_job(status: str, *, minutes_ago: float = 1, run_seconds: float = 10, error: bool = False):
    finished_at = timezone.now() - timedelta(minutes=minutes_ago)
    job = ProcessingJobFactory(
        status=status, started_at=finished_at - timedelta(seconds=run_seconds), finished_at=finished_at
    )
    if error:
        ProcessingErrorLog.objects.create(
            video=job.video,
            job=job,
            stage="validation",
            error_type="file_corruption",
            message="not a decodable video",
            recovery_strategy="user_notification",
        )
    return job


def test_the_figures_count_the_jobs_finished_within_the_window(settings):
    for _ in range(3):
        finished_job(JobStatus.COMPLETED, run_seconds=20)
    finished_job(JobStatus.COMPLETED, run_seconds=40, error=True)  # recovered by a retry: an error, no failure
    finished_job(JobStatus.FAILED, error=True)
    finished_job(JobStatus.FAILED, minutes_ago=90, error=True)  # outside the hour
    ProcessingJobFactory(status=JobStatus.QUEUED)

    figures = pipeline_figures_read(window_seconds=3600)

    assert figures.finished_jobs == 5
    assert figures.failed_rate == pytest.approx(1 / 5)
    assert figures.error_rate == pytest.approx(2 / 5)
    assert figures.processing_time_seconds == pytest.approx((3 * 20 + 40) / 4)
    assert 0 <= figures.queue_age_seconds < 60


def test_an_alert_opens_once_rises_to_critical_and_resolves_by_itself(settings, django_capture_on_commit_callbacks):
    settings.ALERT_WINDOW_SECONDS = 3600
    staff = UserFactory(is_staff=True, email="oncall@example.com")
    UserFactory(is_staff=True, email="")  # staff without an address gets no email
    UserFactory(email="viewer@example.com")  # not staff: never told
    channel = listen(STAFF_ALERTS_GROUP)
    for _ in range(9):
        finished_job(JobStatus.COMPLETED)
    finished_job(JobStatus.FAILED, error=True)  # 10% failed: over the 5% warning, under the 15% critical

    with django_capture_on_commit_callbacks(execute=True):
        first = alerts_evaluate()

    assert [alert.check_name for alert in first.opened] == ["failed_rate", "error_rate"]
    failed = Alert.objects.get(check_name="failed_rate")
    assert (failed.status, failed.severity, failed.value, failed.threshold, failed.window_seconds) == (
        "open",
        "warning",
        0.1,
        0.05,
        3600,
    )
    pushed = receive(channel, count=2)
    assert {message["event"]["event_type"] for message in pushed} == {"alert_opened"}
    assert {message["event"]["alert"]["check"] for message in pushed} == {"failed_rate", "error_rate"}
    assert sorted(message.to for message in mail.outbox) == [[staff.email]] * 2
    failed_email = next(message for message in mail.outbox if "Failed processing rate" in message.subject)
    assert failed_email.subject == "[mediaplatform] WARNING alert opened: Failed processing rate"
    assert "Severity: warning (over 0.05)\nLatest figure: 0.1; peak: 0.1; when opened: 0.1\nWindow: 3600 s" in (
        failed_email.body
    )

    # Still over: no second alert, no second message; the figures follow.
    finished_job(JobStatus.FAILED, error=True)  # 2 of 11 failed: 18%, over the critical threshold
    with django_capture_on_commit_callbacks(execute=True):
        second = alerts_evaluate()
    assert second.opened == [] and len(second.still_open) == 2
    assert Alert.objects.filter(check_name="failed_rate").count() == 1
    failed.refresh_from_db()
    assert (failed.severity, failed.threshold, failed.value) == ("critical", 0.15, 0.1)
    assert failed.last_value == failed.peak_value == pytest.approx(2 / 11, abs=1e-6)
    # Both cross their critical thresholds (failed 18% > 15%, errors 18% > 10%): each escalation is told once.
    escalated = [message["event"] for message in receive(channel, count=2)]
    assert {(event["event_type"], event["alert"]["check"], event["alert"]["severity"]) for event in escalated} == {
        ("alert_escalated", "failed_rate", "critical"),
        ("alert_escalated", "error_rate", "critical"),
    }
    assert len(mail.outbox) == 4 and "CRITICAL alert escalated" in mail.outbox[3].subject

    # Back under: the failures leave the window.
    settings.ALERT_WINDOW_SECONDS = 1
    with django_capture_on_commit_callbacks(execute=True):
        third = alerts_evaluate()
    assert sorted(alert.check_name for alert in third.resolved) == ["error_rate", "failed_rate"]
    failed.refresh_from_db()
    assert failed.status == "resolved" and failed.resolved_at is not None and failed.last_value == 0
    resolved = receive(channel, count=2)
    assert {message["event"]["event_type"] for message in resolved} == {"alert_resolved"}
    assert len(mail.outbox) == 6

    actions = list(
        AuditLogEntry.objects.filter(object_type="notifications.Alert", object_id=str(failed.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["alert.open", "alert.escalate", "alert.resolve"]
    events = OutboxEvent.objects.filter(video__isnull=True).order_by("id")
    assert [event.event_type for event in events] == ["alert_opened"] * 2 + ["alert_escalated"] * 2 + [
        "alert_resolved"
    ] * 2
    assert all(event.target_groups == [STAFF_ALERTS_GROUP] for event in events)
    assert all(event.status == OutboxStatus.SENT for event in events)

    # Over again later: a new alert, the old one stays in the history.
    settings.ALERT_WINDOW_SECONDS = 3600
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate()
    assert Alert.objects.filter(check_name="failed_rate").count() == 2


def test_alert_webhooks_go_to_subscribed_staff_only(settings, django_capture_on_commit_callbacks):
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    staff = UserFactory(is_staff=True)
    subscribed = webhook_endpoint_create(
        owner=staff, url="http://127.0.0.1:9/hooks", event_types=["alert_opened", "alert_resolved"]
    )
    webhook_endpoint_create(owner=staff, url="http://127.0.0.1:9/videos-only")  # the default video events
    user = UserFactory()
    with pytest.raises(WebhookRefused, match="Only staff"):
        webhook_endpoint_create(owner=user, url="http://127.0.0.1:9/hooks", event_types=["alert_opened"])
    # A subscription made while staff stops counting once its owner is no longer staff.
    demoted = UserFactory(is_staff=True)
    webhook_endpoint_create(owner=demoted, url="http://127.0.0.1:9/demoted", event_types=["alert_opened"])
    demoted.is_staff = False
    demoted.save()
    finished_job(JobStatus.FAILED, error=True)

    with django_capture_on_commit_callbacks(execute=False):
        alerts_evaluate()

    deliveries = WebhookDelivery.objects.all()
    assert {delivery.endpoint_id for delivery in deliveries} == {subscribed.pk}
    assert sorted(delivery.payload["check"] for delivery in deliveries) == ["error_rate", "failed_rate"]
    assert all(delivery.video_id is None and delivery.event_type == "alert_opened" for delivery in deliveries)
    assert WebhookEndpoint.objects.count() == 3


def test_a_figure_under_its_thresholds_opens_nothing():
    for _ in range(20):
        finished_job(JobStatus.COMPLETED)
    evaluation = alerts_evaluate()
    assert evaluation.opened == [] and not Alert.objects.exists()


def test_the_admin_lists_open_and_past_alerts(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    finished_job(JobStatus.FAILED, error=True)
    alerts_evaluate()
    Alert.objects.filter(check_name="error_rate").update(status="resolved", resolved_at=timezone.now())

    listed = client.get("/admin/notifications/alert/")
    only_open = client.get("/admin/notifications/alert/?status__exact=open")

    assert listed.status_code == 200
    assert listed.content.decode().count('class="field-check_name"') == 2
    assert only_open.content.decode().count('class="field-check_name"') == 1
    assert client.get(f"/admin/notifications/alert/{Alert.objects.first().pk}/change/").status_code == 200


def test_the_sweep_delivers_an_alert_event_left_pending(django_capture_on_commit_callbacks):
    from notifications.services.delivery import deliver_pending_events

    channel = listen(STAFF_ALERTS_GROUP)
    finished_job(JobStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=False):  # as when the process died right after the commit
        alerts_evaluate()
    event = OutboxEvent.objects.get(video__isnull=True)
    assert event.status == OutboxStatus.PENDING

    assert deliver_pending_events(grace=timedelta(0)) == 1

    event.refresh_from_db()
    assert (event.status, event.attempts) == (OutboxStatus.SENT, 1)
    assert receive(channel)[0]["event"]["alert"]["check"] == "failed_rate"


def test_two_evaluations_at_once_open_one_alert():
    from notifications.services.alerts import alert_open

    opened = [
        alert_open(check="queue_age", severity="warning", value=400.0, threshold=300.0, window_seconds=3600)
        for _ in range(2)
    ]
    assert opened[0] is not None and opened[1] is None
    assert Alert.objects.filter(check_name="queue_age").count() == 1


def test_an_unreadable_broker_leaves_the_backlog_alert_as_it_is(settings, monkeypatch):
    import redis

    from processing import alert_figures

    def broker_down():
        raise redis.ConnectionError("Connection refused")

    settings.ALERT_QUEUE_BACKLOG_WARNING = -1  # any readable backlog would open an alert
    monkeypatch.setattr(alert_figures, "queue_depths", broker_down)
    finished_job(JobStatus.FAILED)

    evaluation = alerts_evaluate()

    assert evaluation.figures.queue_backlog is None
    assert [alert.check_name for alert in evaluation.opened] == ["failed_rate"]
