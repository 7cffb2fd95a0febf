"""Platform alerts: the pipeline's figures against the ALERT_* thresholds, every minute on beat.

A figure over its warning threshold opens an alert for its check (critical over the critical one); while it is
open no second one opens, each evaluation records the latest and the peak figure and escalates it to critical
when the figure crosses the critical threshold; back under the warning threshold, the alert resolves. Opening,
escalating and resolving each change the alert, write an audit row, an outbox event for staff's sockets and the
webhook deliveries in one transaction; the emails to staff and the pushes go out once it commits.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from notifications.alert_figures import PipelineFigures, pipeline_figures
from notifications.groups import STAFF_ALERTS_GROUP
from notifications.models import Alert, AlertCheck, AlertSeverity, AlertStatus, EventType, OutboxEvent
from notifications.selectors import alert_email_recipients, alert_payload
from notifications.services.webhooks import alert_webhooks_enqueue

logger = logging.getLogger(__name__)

EVALUATION_ACTOR = "alert evaluation"
# An alert is news for a day on the staff sockets; after that the admin and the open-alerts snapshot tell it.
ALERT_LIVE_TTL = timedelta(hours=24)
ALERT_EVENT_PRIORITY = 1


@dataclass(frozen=True)
class Thresholds:
    warning: float
    critical: float

    def severity(self, value: float) -> str | None:
        """The severity a figure calls for (strictly over a threshold), or None when it is fine."""
        if value > self.critical:
            return AlertSeverity.CRITICAL
        if value > self.warning:
            return AlertSeverity.WARNING
        return None

    def of(self, severity: str) -> float:
        return self.critical if severity == AlertSeverity.CRITICAL else self.warning


def alert_thresholds() -> dict[str, Thresholds]:
    """Each check's thresholds, read from settings at every evaluation."""
    return {
        AlertCheck.FAILED_RATE: Thresholds(settings.ALERT_FAILED_RATE_WARNING, settings.ALERT_FAILED_RATE_CRITICAL),
        AlertCheck.ERROR_RATE: Thresholds(settings.ALERT_ERROR_RATE_WARNING, settings.ALERT_ERROR_RATE_CRITICAL),
        AlertCheck.QUEUE_BACKLOG: Thresholds(
            settings.ALERT_QUEUE_BACKLOG_WARNING, settings.ALERT_QUEUE_BACKLOG_CRITICAL
        ),
        AlertCheck.QUEUE_AGE: Thresholds(
            settings.ALERT_QUEUE_AGE_WARNING_SECONDS, settings.ALERT_QUEUE_AGE_CRITICAL_SECONDS
        ),
        AlertCheck.PROCESSING_TIME: Thresholds(
            settings.ALERT_PROCESSING_TIME_WARNING_SECONDS, settings.ALERT_PROCESSING_TIME_CRITICAL_SECONDS
        ),
    }


@dataclass
class AlertEvaluation:
    figures: PipelineFigures
    opened: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    still_open: list[Alert] = field(default_factory=list)


def _email(*, alert: Alert, event_type: str) -> None:
    recipients = alert_email_recipients()
    if not recipients:
        return
    verb = {EventType.ALERT_OPENED: "opened", EventType.ALERT_ESCALATED: "escalated"}.get(event_type, "resolved")
    subject = f"[mediaplatform] {alert.severity.upper()} alert {verb}: {alert.get_check_name_display()}"
    body = (
        f"{alert.get_check_name_display()} alert {verb}.\n\n"
        f"Severity: {alert.severity} (over {alert.threshold:g})\n"
        f"Latest figure: {alert.last_value:g}; peak: {alert.peak_value:g}; when opened: {alert.value:g}\n"
        f"Window: {alert.window_seconds} s\n"
        f"Opened: {alert.opened_at.isoformat()}\n"
        + (f"Resolved: {alert.resolved_at.isoformat()}\n" if alert.resolved_at else "")
    )
    # One message per address: staff do not see each other's addresses.
    send_mass_mail([(subject, body, None, [address]) for address in recipients], fail_silently=False)


def _announce(*, alert: Alert, event_type: str) -> None:
    """Outbox event and webhook deliveries in the caller's transaction; emails and pushes after commit."""
    now = timezone.now()
    payload = alert_payload(alert)
    event = OutboxEvent.objects.create(
        video=None,
        # Alerts have no video and so no per-video sequence: staff sockets take them as they come.
        seq=0,
        target_groups=[STAFF_ALERTS_GROUP],
        event_type=event_type,
        payload={"event_type": str(event_type), "timestamp": now.isoformat(), "alert": payload},
        priority=ALERT_EVENT_PRIORITY,
        scheduled_at=now,
        expires_at=now + ALERT_LIVE_TTL,
    )
    alert_webhooks_enqueue(event_type=event_type, payload=payload)

    from notifications.services.delivery import deliver_after_commit

    # robust: the alert is committed whatever happens to its messages; a failure is logged, never raised.
    transaction.on_commit(lambda: deliver_after_commit(event=event, behind_backlog=False), robust=True)
    transaction.on_commit(lambda: _email(alert=alert, event_type=event_type), robust=True)


def alert_open(*, check: str, severity: str, value: float, threshold: float, window_seconds: int) -> Alert | None:
    """Open an alert for the check; None when one is open already (another evaluation got there first)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                check_name=check,
                severity=severity,
                status=AlertStatus.OPEN,
                value=value,
                threshold=threshold,
                window_seconds=window_seconds,
                peak_value=value,
                last_value=value,
                opened_at=now,
                last_evaluated_at=now,
            )
            audit_record(action="alert.open", obj=alert, actor_label=EVALUATION_ACTOR, new_values=alert_payload(alert))
            _announce(alert=alert, event_type=EventType.ALERT_OPENED)
    except IntegrityError:
        logger.info("alert for %s not opened: one is open already", check)
        return None
    logger.warning("alert opened: %s %s, %g over %g (window %s s)", check, severity, value, threshold, window_seconds)
    return alert


def alert_resolve(*, alert: Alert, value: float) -> Alert | None:
    """Resolve an open alert (re-checked under its row lock); the figure is the one back under the threshold.
    None when it was resolved meanwhile."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if alert.status != AlertStatus.OPEN:
            return None
        old = {"status": alert.status, "last_value": alert.last_value}
        now = timezone.now()
        alert.status, alert.resolved_at = AlertStatus.RESOLVED, now
        alert.last_value, alert.last_evaluated_at = value, now
        alert.save(update_fields=["status", "resolved_at", "last_value", "last_evaluated_at"])
        audit_record(
            action="alert.resolve",
            obj=alert,
            actor_label=EVALUATION_ACTOR,
            old_values=old,
            new_values={"status": alert.status, "last_value": value, "resolved_at": now.isoformat()},
        )
        _announce(alert=alert, event_type=EventType.ALERT_RESOLVED)
    logger.warning("alert resolved: %s, now %g", alert.check_name, value)
    return alert


def alert_figures_record(*, alert: Alert, value: float, severity: str, threshold: float) -> Alert:
    """An open alert's latest figure and peak; the severity only rises while it is open."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if alert.status != AlertStatus.OPEN:
            return alert
        alert.last_value, alert.peak_value = value, max(alert.peak_value, value)
        alert.last_evaluated_at = timezone.now()
        fields = ["last_value", "peak_value", "last_evaluated_at"]
        if severity == AlertSeverity.CRITICAL and alert.severity != AlertSeverity.CRITICAL:
            audit_record(
                action="alert.escalate",
                obj=alert,
                actor_label=EVALUATION_ACTOR,
                old_values={"severity": alert.severity, "threshold": alert.threshold},
                new_values={"severity": severity, "threshold": threshold, "value": value},
            )
            alert.severity, alert.threshold = severity, threshold
            fields += ["severity", "threshold"]
            alert.save(update_fields=fields)
            _announce(alert=alert, event_type=EventType.ALERT_ESCALATED)
        else:
            alert.save(update_fields=fields)
    return alert


def alerts_evaluate() -> AlertEvaluation:
    """Read the pipeline's figures once and open, update or resolve each check's alert."""
    window_seconds = settings.ALERT_WINDOW_SECONDS
    figures = pipeline_figures(window_seconds=window_seconds)
    evaluation = AlertEvaluation(figures=figures)
    open_by_check = {alert.check_name: alert for alert in Alert.objects.filter(status=AlertStatus.OPEN)}
    for check, thresholds in alert_thresholds().items():
        figure = figures.value(check)
        if figure is None:
            logger.warning("alert check %s skipped: its figure could not be read", check)
            continue
        value = round(figure, 6)
        severity = thresholds.severity(value)
        current = open_by_check.get(check)
        if current is None and severity is not None:
            opened = alert_open(
                check=check,
                severity=severity,
                value=value,
                threshold=thresholds.of(severity),
                window_seconds=window_seconds,
            )
            if opened is not None:
                evaluation.opened.append(opened)
        elif current is not None and severity is None:
            resolved = alert_resolve(alert=current, value=value)
            if resolved is not None:
                evaluation.resolved.append(resolved)
        elif current is not None:
            evaluation.still_open.append(
                alert_figures_record(alert=current, value=value, severity=severity, threshold=thresholds.of(severity))
            )
    return evaluation
