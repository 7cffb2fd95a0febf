from django.conf import settings
from django.db import models
from django.utils import timezone


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"
    # A progress tick that a later tick of the same video made obsolete before it
    # went out; it stays in the table so that replay still has every seq.
    SUPERSEDED = "superseded", "Superseded"


class EventType(models.TextChoices):
    UPLOAD_STARTED = "upload_started", "Upload started"
    UPLOAD_COMPLETED = "upload_completed", "Upload completed"
    PROCESSING_STARTED = "processing_started", "Processing started"
    PROCESSING_PROGRESS = "processing_progress", "Processing progress"
    PROCESSING_COMPLETED = "processing_completed", "Processing completed"
    PROCESSING_FAILED = "processing_failed", "Processing failed"
    PROCESSING_CANCELLED = "processing_cancelled", "Processing cancelled"
    GROUND_TRUTH_GENERATED = "ground_truth_generated", "Ground truth generated"
    ERROR_OCCURRED = "error_occurred", "Error occurred"
    STATE_CHANGED = "state_changed", "State changed"
    ANNOTATED_VIDEO = "annotated_video", "Annotated video"
    # Platform alerts: for staff only (the staff websocket group, staff users' webhooks and emails).
    ALERT_OPENED = "alert_opened", "Alert opened"
    ALERT_ESCALATED = "alert_escalated", "Alert escalated"
    ALERT_RESOLVED = "alert_resolved", "Alert resolved"


class OutboxEvent(models.Model):
    """An event for websocket clients, written in the transaction of the change it reports.

    The table is both the delivery queue and the replay log: rows stay after
    delivery (whatever their status) until purged, so a reconnecting client can
    be sent every event after the last seq it saw. Priority runs from 1 (most
    urgent) to 10; failures and completions go out before progress ticks.
    """

    video = models.ForeignKey("videos.Video", null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField(help_text="Gap-free sequence number within the video's events")
    # Target: the channel-layer groups the event goes to; the user is kept
    # for filtering (there are no per-session targets).
    target_groups = models.JSONField(default=list, help_text="Channel-layer groups the event is sent to")
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    payload = models.JSONField()
    priority = models.PositiveSmallIntegerField(default=5)
    status = models.CharField(max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=5)
    last_error = models.TextField(blank=True)
    scheduled_at = models.DateTimeField(default=timezone.now, help_text="Not delivered before this time")
    next_retry_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Not pushed live after this time")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["video", "seq"], name="outbox_video_seq_unique")]
        indexes = [
            models.Index(fields=["status", "priority", "id"], name="outbox_status_priority_idx"),
            models.Index(fields=["next_retry_at", "status"], name="outbox_retry_idx"),
            models.Index(fields=["scheduled_at"], name="outbox_scheduled_idx"),
            models.Index(fields=["event_type"], name="outbox_event_type_idx"),
            models.Index(fields=["status", "created_at"], name="outbox_status_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.seq} ({self.status})"


class WebhookEndpoint(models.Model):
    """A URL of the user's that the platform POSTs signed events to."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    secret = models.CharField(max_length=64, help_text="Shared secret for the HMAC-SHA256 signature")
    event_types = models.JSONField(default=list, help_text="Event types sent; empty: completed and failed")
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for one endpoint, tried until it succeeds or runs out of attempts."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    video = models.ForeignKey("videos.Video", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One POST of a delivery: what came back, how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.response_status or self.error[:40]}"


class AlertCheck(models.TextChoices):
    """The figures watched, each against a warning and a critical threshold (settings ALERT_*)."""

    FAILED_RATE = "failed_rate", "Failed processing rate"
    ERROR_RATE = "error_rate", "Error rate"
    QUEUE_BACKLOG = "queue_backlog", "Queue backlog"
    QUEUE_AGE = "queue_age", "Queue age"
    PROCESSING_TIME = "processing_time", "Processing time"


class AlertSeverity(models.TextChoices):
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Alert(models.Model):
    """A figure over its threshold: open until an evaluation finds it back under the warning threshold.

    At most one alert per check is open (a constraint, so two evaluations at once cannot both open one).
    """

    check_name = models.CharField("check", max_length=30, choices=AlertCheck.choices)
    severity = models.CharField(max_length=10, choices=AlertSeverity.choices)
    status = models.CharField(max_length=10, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    value = models.FloatField(help_text="The figure when the alert opened")
    threshold = models.FloatField(help_text="The threshold it crossed (of its severity)")
    window_seconds = models.PositiveIntegerField(help_text="The window the figure was measured over")
    peak_value = models.FloatField(help_text="The highest figure seen while open")
    last_value = models.FloatField(help_text="The figure at the latest evaluation")
    opened_at = models.DateTimeField(default=timezone.now)
    last_evaluated_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["check_name"], condition=models.Q(status="open"), name="alert_single_open_per_check"
            )
        ]
        indexes = [models.Index(fields=["status", "-opened_at"], name="alert_status_opened_idx")]

    def __str__(self) -> str:
        return f"{self.get_check_name_display()} {self.severity} ({self.status})"
