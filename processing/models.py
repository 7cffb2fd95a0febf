import uuid

from django.conf import settings
from django.db import models

from videos.models import Priority, sees_every_video


class Stage(models.TextChoices):
    UPLOAD = "upload", "Upload"
    VALIDATION = "validation", "Validation"
    EXTRACTION = "extraction", "Extraction"
    INFERENCE = "inference", "Inference"
    GROUND_TRUTH = "ground_truth", "Ground truth"


class StageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Waiting to retry"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


def initial_stage_statuses() -> dict[str, str]:
    # Kept because migration 0001 refers to it; the timeline now lives in JobStage.
    return {stage.value: StageStatus.PENDING.value for stage in Stage}


class Framework(models.TextChoices):
    PYTORCH = "pytorch", "PyTorch"
    ONNX = "onnx", "ONNX"


def detector_weights_path(instance: "DetectorModel", filename: str) -> str:
    suffix = ".onnx" if filename.lower().endswith(".onnx") else ".pt"
    return f"models/{uuid.uuid4().hex}{suffix}"


class JobOrigin(models.TextChoices):
    RUN = "run", "Detector run"
    IMPORT = "import", "Imported reference"


# How soon a waiting run starts: the inference queue hands out the most urgent message first. A run takes the
# levels of its video's priority, which its first run's options set at upload.
JobPriority = Priority


# The message priority each level is sent with. kombu's Redis transport keeps a list per step of
# CELERY_BROKER_TRANSPORT_OPTIONS["priority_steps"] and pops them in ascending order: 0 is served first.
BROKER_PRIORITIES = {JobPriority.URGENT: 0, JobPriority.HIGH: 3, JobPriority.NORMAL: 6, JobPriority.LOW: 9}


class DetectorModel(models.Model):
    """A registered set of detection weights that runs can use."""

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=50, default="1")
    weights = models.FileField(upload_to=detector_weights_path, max_length=500)
    sha256 = models.CharField(max_length=64, blank=True, editable=False)
    framework = models.CharField(max_length=10, choices=Framework.choices, default=Framework.PYTORCH)
    class_names = models.JSONField(default=dict, blank=True, editable=False, help_text="Class id to name")
    input_size = models.PositiveIntegerField(default=640)
    is_default = models.BooleanField(default=False)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="detector_model_name_version_unique"),
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="detector_model_single_default"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class InstallStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    DOWNLOADING = "downloading", "Downloading"
    VERIFYING = "verifying", "Verifying"
    INSTALLED = "installed", "Installed"
    FAILED = "failed", "Failed"


class ModelInstall(models.Model):
    """One install of detection weights from the catalog, a URL or a path: its progress, then its outcome."""

    source = models.CharField(max_length=1000, help_text="Catalog name, URL or server path")
    catalog_name = models.CharField(max_length=100, blank=True)
    url = models.CharField(max_length=1000, blank=True, help_text="Where the file was downloaded from")
    make_default = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=InstallStatus.choices, default=InstallStatus.QUEUED)
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    error = models.TextField(blank=True)
    detector_model = models.ForeignKey(
        DetectorModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="installs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.source} ({self.status})"


class ProcessingJobQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ProcessingJobQuerySet":
        """The jobs of the videos the user may see (videos.models.VideoQuerySet.visible_to): all for staff, else
        those of their own videos. Jobs of soft-deleted videos are kept: callers serving live ones filter them."""
        return self if sees_every_video(user) else self.filter(video__owner=user)

    def runs(self) -> "ProcessingJobQuerySet":
        """Runs of the detector: an imported reference is a job too, holding a person's annotations, never a run."""
        return self.filter(origin=JobOrigin.RUN)

    def runs_latest_first(self) -> "ProcessingJobQuerySet":
        """Runs, the latest first: the first one is a video's latest run, everywhere it is shown or acted on."""
        return self.runs().order_by("-created_at")


class ProcessingJob(models.Model):
    """One run of a detection model over a video."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    video = models.ForeignKey("videos.Video", on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)

    detector_model = models.ForeignKey(
        DetectorModel, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    model_name = models.CharField(max_length=200)
    frame_step = models.PositiveIntegerField(default=1)
    start_frame = models.PositiveIntegerField(default=0)
    end_frame = models.PositiveIntegerField(null=True, blank=True, help_text="Last frame index, inclusive")
    max_fps = models.FloatField(null=True, blank=True, help_text="Sample at most this many frames per second")
    track = models.BooleanField(default=False, help_text="Follow objects across frames with ByteTrack")
    classes = models.JSONField(
        default=list, blank=True, help_text="Class names kept, sorted; empty: every class the model knows"
    )
    confidence = models.FloatField(
        null=True, blank=True, help_text="Lowest confidence kept (the model's default unless asked)"
    )
    batch_size = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: chosen by device")
    config = models.JSONField(default=dict, blank=True, help_text="Inference settings used for this run")
    is_ground_truth = models.BooleanField(default=False)
    origin = models.CharField(
        max_length=10,
        choices=JobOrigin.choices,
        default=JobOrigin.RUN,
        db_index=True,
        help_text="run: the detector produced these boxes; import: reference annotations uploaded by a person",
    )
    priority = models.CharField(
        max_length=10,
        choices=JobPriority.choices,
        default=JobPriority.NORMAL,
        help_text="How soon the run starts when runs wait for a worker",
    )
    reused_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reused_by",
        help_text="A finished run on identical content whose detections this run copied",
    )

    celery_task_id = models.CharField(max_length=255, blank=True)
    processing_node_id = models.CharField(max_length=255, blank=True, help_text="Worker host that ran the job")
    inference_backend = models.CharField(
        max_length=20, blank=True, help_text="Runtime that ran the model: torch, onnx or openvino"
    )
    inference_precision = models.CharField(
        max_length=10, blank=True, help_text="Numeric precision: f32, f16, bf16, int8"
    )
    current_stage = models.CharField(max_length=30, choices=Stage.choices, default=Stage.UPLOAD)

    next_frame_index = models.PositiveIntegerField(
        default=0, help_text="Resume point: every sampled frame before it has its detections stored"
    )
    processed_frames = models.PositiveIntegerField(default=0)
    total_frames = models.PositiveIntegerField(null=True, blank=True)
    progress_percentage = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    frames_per_second = models.FloatField(null=True, blank=True)
    estimated_completion_at = models.DateTimeField(null=True, blank=True)
    detections_count = models.PositiveIntegerField(default=0)

    peak_memory_mb = models.FloatField(null=True, blank=True)
    cpu_percent = models.FloatField(null=True, blank=True)
    gpu_memory_mb = models.FloatField(null=True, blank=True)

    retry_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    last_error_message = models.TextField(blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProcessingJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["video", "-created_at"], name="job_video_created_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["video"], condition=models.Q(is_ground_truth=True), name="job_single_ground_truth_per_video"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_name} on {self.video_id} ({self.status})"


class JobStage(models.Model):
    """One stage of a job's timeline."""

    job = models.ForeignKey(ProcessingJob, on_delete=models.CASCADE, related_name="stages")
    stage = models.CharField(max_length=30, choices=Stage.choices)
    status = models.CharField(max_length=20, choices=StageStatus.choices, default=StageStatus.PENDING)
    progress_percentage = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    detail = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["job", "id"]
        constraints = [models.UniqueConstraint(fields=["job", "stage"], name="job_stage_unique")]

    def __str__(self) -> str:
        return f"{self.stage}: {self.status}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class ErrorType(models.TextChoices):
    VALIDATION = "validation_error", "Validation error"
    FILE_CORRUPTION = "file_corruption", "File corruption"
    MODEL = "ml_model_error", "Model error"
    RESOURCE_EXHAUSTION = "resource_exhaustion", "Resource exhaustion"
    NETWORK_TIMEOUT = "timeout", "Network timeout"
    DATABASE = "database_error", "Database error"
    INTERNAL = "internal_error", "Internal error"


class RecoveryStrategy(models.TextChoices):
    RETRY = "retry", "Retry with exponential backoff"
    IMMEDIATE_RETRY = "immediate_retry", "Immediate retry"
    DELAYED_RETRY = "delayed_retry", "Delayed retry"
    LINEAR_BACKOFF = "linear_backoff", "Retry with linear backoff"
    USER_NOTIFICATION = "user_notification", "No retry; the user is told"
    MANUAL_INTERVENTION = "manual_intervention", "Manual review"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class ProcessingErrorLog(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    video = models.ForeignKey("videos.Video", on_delete=models.CASCADE, related_name="errors")
    job = models.ForeignKey(ProcessingJob, null=True, blank=True, on_delete=models.CASCADE, related_name="errors")
    stage = models.CharField(max_length=30, choices=Stage.choices)
    error_type = models.CharField(max_length=40, choices=ErrorType.choices)
    error_code = models.CharField(max_length=60, blank=True)
    message = models.TextField()
    stack_trace = models.TextField(blank=True)
    system_state = models.JSONField(default=dict, blank=True)
    recovery_strategy = models.CharField(max_length=30, choices=RecoveryStrategy.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    correlation_id = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["video", "stage"], name="error_video_stage_idx")]

    def __str__(self) -> str:
        return f"{self.error_type} at {self.stage}: {self.message[:60]}"


class Detection(models.Model):
    """One object found in one frame. Written in bulk, never row by row."""

    job = models.ForeignKey(ProcessingJob, on_delete=models.CASCADE, related_name="detections")
    frame_index = models.PositiveIntegerField()
    timestamp_seconds = models.FloatField()
    class_id = models.PositiveIntegerField()
    class_name = models.CharField(max_length=100)
    confidence = models.FloatField()
    track_id = models.PositiveIntegerField(null=True, blank=True)
    x1 = models.FloatField()
    y1 = models.FloatField()
    x2 = models.FloatField()
    y2 = models.FloatField()

    class Meta:
        ordering = ["job", "frame_index", "id"]
        indexes = [models.Index(fields=["job", "frame_index"], name="detection_job_frame_idx")]

    def __str__(self) -> str:
        return f"{self.class_name} {self.confidence:.2f} @ frame {self.frame_index}"


class EvaluationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class Evaluation(models.Model):
    """How well one run's detections match the video's ground-truth run."""

    job = models.ForeignKey(ProcessingJob, on_delete=models.CASCADE, related_name="evaluations")
    reference_job = models.ForeignKey(
        ProcessingJob, on_delete=models.CASCADE, related_name="+", help_text="The ground-truth run compared with"
    )
    status = models.CharField(max_length=10, choices=EvaluationStatus.choices, default=EvaluationStatus.PENDING)
    iou_threshold = models.FloatField(default=0.5)
    precision = models.FloatField(null=True, blank=True)
    recall = models.FloatField(null=True, blank=True)
    map50 = models.FloatField(null=True, blank=True)
    map50_95 = models.FloatField(null=True, blank=True)
    report = models.JSONField(default=dict, blank=True, help_text="Per-class figures and precision-recall points")
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"evaluation of {self.job_id} against {self.reference_job_id} ({self.status})"


class RenderStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RENDERING = "rendering", "Rendering"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


def annotated_video_path(instance: "AnnotatedVideo", filename: str) -> str:
    # Next to the video's original (videos.models.video_upload_path), so its files stay together on disk.
    video_id = instance.job.video_id
    return f"videos/{video_id.hex[:2]}/{video_id}-annotated-{instance.pk}.mp4"


class AnnotatedVideo(models.Model):
    """One render of a run's boxes burned into its video, for one set of options; the same options reuse it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(ProcessingJob, on_delete=models.CASCADE, related_name="annotated_videos")
    options = models.JSONField(help_text="classes (empty: all), min_confidence, trails")
    options_hash = models.CharField(max_length=64, help_text="SHA-256 of the options and the run's finish time")
    status = models.CharField(max_length=10, choices=RenderStatus.choices, default=RenderStatus.QUEUED)
    progress_percentage = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    frames_done = models.PositiveIntegerField(default=0)
    frames_total = models.PositiveIntegerField(null=True, blank=True)
    file = models.FileField(upload_to=annotated_video_path, max_length=500, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["job", "options_hash"], name="annotated_video_job_options_unique")
        ]

    def __str__(self) -> str:
        return f"annotated video of {self.job_id} ({self.status})"


class InferenceBackendChoice(models.Model):
    """The backend and precision measured fastest for one model's weights and input shape on one worker host.

    Measured once, on the first run of that model and shape on the host; kept so a restarted worker does not
    measure again. `trials` holds every candidate's figures and, for a refused one, why.
    """

    weights_sha256 = models.CharField(max_length=64)
    model_name = models.CharField(max_length=200)
    input_height = models.PositiveIntegerField()
    input_width = models.PositiveIntegerField()
    host = models.CharField(max_length=255)
    backend = models.CharField(max_length=20)
    precision = models.CharField(max_length=10)
    model_only_fps = models.FloatField(null=True, blank=True)
    trials = models.JSONField(default=list, blank=True)
    int8_calibration = models.JSONField(
        default=dict,
        blank=True,
        help_text="What OpenVINO int8 was calibrated on (library videos or synthetic frames) and how it agreed "
        "with f32 on held-out frames; empty when int8 was not tried",
    )
    measured_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-measured_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["weights_sha256", "input_height", "input_width", "host"],
                name="backend_choice_per_model_shape_host",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.model_name} {self.input_width}x{self.input_height} on {self.host}: {self.backend}/{self.precision}"
        )
