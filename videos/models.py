import uuid

from django.conf import settings
from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMField, transition


class WorkflowState(models.TextChoices):
    INITIALIZING = "initializing", "Initializing"
    UPLOADING = "uploading", "Uploading"
    UPLOADED = "uploaded", "Uploaded"
    VALIDATING = "validating", "Validating"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    ARCHIVED = "archived", "Archived"


LIVE_STATES = (
    WorkflowState.INITIALIZING,
    WorkflowState.UPLOADING,
    WorkflowState.UPLOADED,
    WorkflowState.VALIDATING,
    WorkflowState.PROCESSING,
)


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


CONTAINER_EXTENSIONS = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/3gpp": "3gp",
    "video/webm": "webm",
    "video/x-matroska": "mkv",
    "video/x-msvideo": "avi",
    "video/mpeg": "mpg",
    "video/mp2t": "ts",
    "video/x-flv": "flv",
    "video/ogg": "ogv",
    "video/x-ms-asf": "wmv",
}


class PlaybackKind(models.TextChoices):
    """What the video page's player loads: the stored original, a rendition made for browsers, or nothing."""

    ORIGINAL = "original", "Original"
    RENDITION = "rendition", "Rendition"
    NONE = "none", "None"


def sees_every_video(user) -> bool:
    """Whether the user may see every user's videos (staff may); anyone else sees only their own."""
    return bool(user.is_staff)


class VideoQuerySet(models.QuerySet):
    def visible_to(self, user) -> "VideoQuerySet":
        """The videos the user may see: every one for staff, their own for anyone else.

        Soft-deleted videos are kept: a caller serving live videos adds `.live()`, one telling a deleted
        video (410) from another user's (404) looks at `deleted_at` itself.
        """
        return self if sees_every_video(user) else self.filter(owner=user)

    def live(self) -> "VideoQuerySet":
        """Videos not soft-deleted."""
        return self.filter(deleted_at__isnull=True)


def video_upload_path(instance: "Video", filename: str) -> str:
    # Neither the client's name nor its extension reaches the disk: the id names the file and
    # the sniffed container gives the extension, so no path trick or ".exe" is ever stored.
    extension = CONTAINER_EXTENSIONS.get(instance.mime_type, "bin")
    return f"videos/{instance.id.hex[:2]}/{instance.id}.{extension}"


class Video(ConcurrentTransitionMixin, models.Model):
    """An uploaded video and where it stands in the processing workflow.

    `workflow_state` only moves through the transition methods below; the
    services in `videos.services.transitions` call them under a row lock and
    record history, audit and events in the same transaction.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="videos")
    title = models.CharField(max_length=255, blank=True)
    original_filename = models.CharField(max_length=500, blank=True)
    file = models.FileField(upload_to=video_upload_path, max_length=500, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    file_hash = models.CharField(max_length=64, blank=True, db_index=True, help_text="SHA-256 of the file")
    mime_type = models.CharField(max_length=100, blank=True)
    source_url = models.URLField(max_length=2000, blank=True)

    workflow_state = FSMField(
        max_length=20,
        choices=WorkflowState.choices,
        default=WorkflowState.INITIALIZING,
        protected=True,
        db_index=True,
    )
    current_stage = models.CharField(max_length=30, blank=True)
    progress_percentage = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    last_error_message = models.TextField(blank=True)
    cancelled_at = models.DateTimeField(
        null=True, blank=True, help_text="When a person stopped the processing; a failed video with it was cancelled"
    )
    needs_review = models.BooleanField(default=False, help_text="A failure that needs a person to look at it")
    last_event_seq = models.PositiveBigIntegerField(
        default=0, help_text="Sequence number of the latest event emitted for this video"
    )

    duration_seconds = models.FloatField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    frame_count = models.PositiveIntegerField(null=True, blank=True)
    codec = models.CharField(max_length=50, blank=True)
    container = models.CharField(max_length=100, blank=True)
    rotation = models.SmallIntegerField(default=0, help_text="Display rotation in degrees")
    has_audio = models.BooleanField(null=True, blank=True)

    # What browsers are given to play, made by the worker (processing.renditions). Derived files live under
    # MEDIA_ROOT/renditions/, named after the source's content and the recipe, so a URL never changes meaning.
    playback_kind = models.CharField(
        max_length=10, choices=PlaybackKind.choices, blank=True, help_text="Empty until the worker has looked"
    )
    playback_reason = models.CharField(max_length=300, blank=True, help_text="Why nothing can be played")
    playback_time_offset = models.FloatField(
        default=0, help_text="Seconds added to the player's clock give the source timestamp detections carry"
    )
    rendition = models.FileField(max_length=500, blank=True, help_text="H.264 MP4 made for browsers")
    rendition_rotation = models.SmallIntegerField(
        default=0, help_text="Display rotation turned into the rendition's pixels (degrees counter-clockwise)"
    )
    poster = models.FileField(max_length=500, blank=True)
    thumbnails_sprite = models.FileField(max_length=500, blank=True)
    thumbnails_index = models.JSONField(default=dict, blank=True, help_text="Tile geometry and each tile's time")

    objects_detected_count = models.PositiveIntegerField(default=0)
    annotations_count = models.PositiveIntegerField(default=0)
    total_processing_seconds = models.FloatField(null=True, blank=True)
    frames_per_second_processed = models.FloatField(null=True, blank=True)

    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    expiry_date = models.DateTimeField(null=True, blank=True, db_index=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VideoQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="video_owner_created_idx"),
            # API list/history filtered by state, newest first, live rows only.
            models.Index(
                fields=["owner", "workflow_state", "-created_at"],
                name="video_owner_state_created_idx",
                condition=models.Q(deleted_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.original_filename or str(self.id)

    def save(self, *args, **kwargs) -> None:
        # last_event_seq is only ever advanced by an atomic UPDATE in the event
        # service; a whole-row save from a stale instance must not roll it back.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name != "last_event_seq"
            ]
        super().save(*args, **kwargs)

    def derived_file_names(self) -> list[str]:
        """The stored names of the files made from the original for playback (rendition, poster, thumbnails)."""
        return [field.name for field in (self.rendition, self.poster, self.thumbnails_sprite) if field]

    @property
    def is_live(self) -> bool:
        return self.workflow_state in LIVE_STATES

    # Transitions. Their bodies stay empty: the services own the side effects.

    @transition(field=workflow_state, source=WorkflowState.INITIALIZING, target=WorkflowState.UPLOADING)
    def start_upload(self) -> None:
        pass

    @transition(field=workflow_state, source=WorkflowState.UPLOADING, target=WorkflowState.UPLOADED)
    def finish_upload(self) -> None:
        pass

    @transition(
        field=workflow_state,
        source=[WorkflowState.UPLOADED, WorkflowState.FAILED],
        target=WorkflowState.VALIDATING,
    )
    def start_validation(self) -> None:
        pass

    @transition(field=workflow_state, source=WorkflowState.VALIDATING, target=WorkflowState.PROCESSING)
    def start_processing(self) -> None:
        pass

    @transition(field=workflow_state, source=WorkflowState.PROCESSING, target=WorkflowState.COMPLETED)
    def complete(self) -> None:
        pass

    @transition(field=workflow_state, source=list(LIVE_STATES), target=WorkflowState.FAILED)
    def fail(self) -> None:
        pass

    @transition(
        field=workflow_state,
        source=[WorkflowState.COMPLETED, WorkflowState.FAILED],
        target=WorkflowState.ARCHIVED,
    )
    def archive(self) -> None:
        pass


class VideoStateTransition(models.Model):
    """One move of a video's workflow state: the history shown on its timeline."""

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="state_transitions")
    from_state = models.CharField(max_length=20, choices=WorkflowState.choices)
    to_state = models.CharField(max_length=20, choices=WorkflowState.choices)
    transition = models.CharField(max_length=40)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["video", "id"]

    def __str__(self) -> str:
        return f"{self.video_id}: {self.from_state} -> {self.to_state}"


class AnalysisMediaType(models.TextChoices):
    VIDEO = "video", "Video"
    AUDIO = "audio", "Audio"
    DOCUMENT = "document", "Document"
    IMAGE = "image", "Image"
    UNKNOWN = "unknown", "Unknown"


class MediaAnalysisRequest(models.Model):
    """What a client asked for through the media analysis API (`/api/media/analyze`); the analysis itself is the
    video.

    The row is written with its video, in the request's transaction, before the media is fetched: the download
    runs in a task sent on commit, and `fetch_finished_at` stays empty until that task has taken the media or
    failed the analysis, so a sweep can hand a row whose task was lost to a worker again. The row outlives its
    video: when retention removes the video (SET_NULL), `analysis_id`, `owner` and `deleted_at` stay behind as
    the tombstone that keeps answering 410 Gone.
    """

    analysis_id = models.UUIDField(unique=True, help_text="The analysis's id: its video's id, kept after retention")
    video = models.OneToOneField(
        "videos.Video", null=True, blank=True, on_delete=models.SET_NULL, related_name="analysis_request"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="analysis_requests"
    )
    prompt = models.TextField(blank=True)
    requested_media_type = models.CharField(max_length=20, choices=AnalysisMediaType.choices)
    source_url = models.URLField(max_length=2000, blank=True)
    analysis_config = models.JSONField(default=dict, blank=True)
    analysis_options = models.JSONField(default=dict, blank=True)
    run_options = models.JSONField(
        default=dict, blank=True, help_text="The run options the config and prompt resolved to (model, classes, ...)"
    )
    prompt_classes = models.JSONField(default=list, blank=True, help_text="Class names the prompt asked about")
    unmatched_prompt_words = models.JSONField(
        default=list, blank=True, help_text="Words of the prompt that named no class of the model"
    )
    fetch_task_id = models.CharField(max_length=255, blank=True)
    fetch_queued_at = models.DateTimeField(null=True, blank=True)
    fetch_attempts = models.PositiveSmallIntegerField(default=0)
    fetch_finished_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The sweep's question: fetches queued long ago and still not finished.
            models.Index(
                fields=["fetch_queued_at"],
                name="analysis_fetch_pending_idx",
                condition=models.Q(fetch_finished_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"analysis {self.analysis_id}"

    def save(self, *args, **kwargs) -> None:
        if self.analysis_id is None and self.video_id is not None:
            self.analysis_id = self.video_id  # the analysis is known by its video's id
        if self.owner_id is None and self.video_id is not None:
            self.owner_id = self.video.owner_id
        super().save(*args, **kwargs)
