from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join

from audit.admin_mixins import AuditedAdminMixin
from processing.models import DetectorModel, Evaluation, JobStage, ProcessingErrorLog, ProcessingJob
from processing.selectors import video_latest_job
from processing.services.registry import InvalidWeights, detector_model_save_edited, inspect_uploaded_weights
from videos.admin import ReadOnlyInline, VideoAdmin
from videos.models import Video


class JobStageInline(admin.TabularInline):
    model = JobStage
    extra = 0
    can_delete = False
    fields = ["stage", "status", "progress_percentage", "started_at", "finished_at", "duration", "detail"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="duration (s)")
    def duration(self, stage: JobStage):
        seconds = stage.duration_seconds
        return "" if seconds is None else f"{seconds:.1f}"


class ErrorInline(admin.TabularInline):
    model = ProcessingErrorLog
    extra = 0
    can_delete = False
    fields = ["created_at", "stage", "error_type", "error_code", "message", "recovery_strategy", "severity"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ProcessingJob)
class ProcessingJobAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "video",
        "origin",
        "status",
        "model_name",
        "current_stage",
        "progress_percentage",
        "processed_frames",
        "detections_count",
        "frames_per_second",
        "is_ground_truth",
        "created_at",
    ]
    list_filter = ["origin", "status", "current_stage", "model_name", "track", "is_ground_truth"]
    search_fields = ["id", "video__title", "celery_task_id"]
    list_select_related = ["video"]
    readonly_fields = [field.name for field in ProcessingJob._meta.fields]
    inlines = [JobStageInline, ErrorInline]
    actions = ["retry_videos", "cancel_videos"]

    def has_add_permission(self, request):
        return False

    def _transition(self, request, queryset, action: str) -> None:
        from videos.admin import video_transition_apply

        seen = set()
        for job in queryset.select_related("video").order_by("created_at"):
            if job.video_id not in seen:
                seen.add(job.video_id)
                video_transition_apply(request, job.video, action)

    @admin.action(description="Retry the videos of the selected runs (failed ones)", permissions=["change"])
    def retry_videos(self, request, queryset):
        self._transition(request, queryset, "retry")

    @admin.action(description="Cancel the videos of the selected runs", permissions=["change"])
    def cancel_videos(self, request, queryset):
        self._transition(request, queryset, "cancel")


@admin.register(ProcessingErrorLog)
class ProcessingErrorLogAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "video", "stage", "error_type", "error_code", "severity", "recovery_strategy"]
    list_filter = ["error_type", "severity", "stage", "recovery_strategy"]
    search_fields = ["message", "error_code", "correlation_id", "video__title"]
    list_select_related = ["video"]
    readonly_fields = [field.name for field in ProcessingErrorLog._meta.fields]

    def has_add_permission(self, request):
        return False


class DetectorModelForm(forms.ModelForm):
    # Not the model's field: the registry's one-default rule sets is_default when saving (taking the flag from the
    # model that had it), so validating the instance must not see two defaults first.
    make_default = forms.BooleanField(required=False, label="Is default")

    class Meta:
        model = DetectorModel
        fields = ["name", "version", "weights", "input_size", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["make_default"].initial = self.instance.is_default

    def clean_weights(self):
        weights = self.cleaned_data["weights"]
        if weights is None or not hasattr(weights, "chunks") or getattr(weights, "_committed", False):
            return weights
        # Prove the upload loads as the workers would before anything is registered.
        try:
            details, sha256 = inspect_uploaded_weights(
                weights=weights, image_size=self.cleaned_data.get("input_size") or 640
            )
        except InvalidWeights as exc:
            raise forms.ValidationError(f"These weights do not load: {exc}")
        self.instance.class_names = details["class_names"]
        self.instance.sha256 = sha256
        return weights


@admin.register(DetectorModel)
class DetectorModelAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = DetectorModelForm
    list_display = ["name", "version", "framework", "input_size", "is_default", "sha256", "created_at"]
    list_filter = ["framework", "is_default"]
    search_fields = ["name", "version", "sha256"]
    readonly_fields = ["sha256", "class_names", "created_at"]

    fields = ["name", "version", "weights", "input_size", "make_default", "description"]

    def save_model(self, request, obj, form, change):
        detector_model_save_edited(model=obj, is_default=form.cleaned_data["make_default"])


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "job", "reference_job", "status", "precision", "recall", "map50", "map50_95"]
    list_filter = ["status"]
    search_fields = ["job__id", "job__video__title"]
    readonly_fields = [field.name for field in Evaluation._meta.fields]

    def has_add_permission(self, request):
        return False


class VideoRunInline(ReadOnlyInline):
    model = ProcessingJob
    fields = ["created_at", "status", "model_name", "frame_step", "processed_frames", "detections_count"]
    readonly_fields = fields


class VideoErrorInline(ReadOnlyInline):
    model = ProcessingErrorLog
    fields = ["created_at", "stage", "error_type", "error_code", "message", "recovery_strategy", "severity"]
    readonly_fields = fields
    ordering = ["-created_at"]


# The video's admin page with its runs: this app extends the videos app's page, which knows nothing of runs.
admin.site.unregister(Video)


@admin.register(Video)
class VideoWithRunsAdmin(VideoAdmin):
    readonly_fields = [
        *VideoAdmin.readonly_fields[: VideoAdmin.readonly_fields.index("transitions_allowed") + 1],
        "stage_timeline",
        *VideoAdmin.readonly_fields[VideoAdmin.readonly_fields.index("transitions_allowed") + 1 :],
    ]
    inlines = [VideoRunInline, VideoErrorInline, *VideoAdmin.inlines]

    @admin.display(description="stage timeline (latest run)")
    def stage_timeline(self, video: Video):
        job = video_latest_job(video=video)
        if job is None:
            return "No run yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    stage.stage,
                    stage.status,
                    stage.started_at or "",
                    stage.finished_at or "",
                    "" if stage.duration_seconds is None else f"{stage.duration_seconds:.2f} s",
                )
                for stage in job.stages.order_by("id")
            ),
        )
        return format_html(
            '<table class="stage-timeline"><thead><tr><th>stage</th><th>status</th><th>started</th>'
            "<th>finished</th><th>duration</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )
