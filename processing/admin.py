from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html, format_html_join
from django_celery_beat.admin import PeriodicTaskAdmin, PeriodicTaskForm
from django_celery_beat.models import PeriodicTask

from audit.admin_mixins import AuditedAdminMixin
from processing.catalog import CATALOG, SPEED_MEASURED_ON, catalog_with_installed
from processing.models import (
    AnnotatedVideo,
    DetectorModel,
    Evaluation,
    InferenceBackendChoice,
    JobPriority,
    JobStage,
    ModelInstall,
    ProcessingErrorLog,
    ProcessingJob,
)
from processing.selectors import video_latest_job
from processing.services.model_install import InstallRefused, model_install_enqueue, model_install_request
from processing.services.registry import InvalidWeights, detector_model_save_edited, inspect_uploaded_weights
from videos.admin import ReadOnlyInline, VideoAdmin, progress_bar, state_badge
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
        "status_badge",
        "model_name",
        "priority",
        "current_stage",
        "progress",
        "processed_frames",
        "detections_count",
        "frames_per_second",
        "is_ground_truth",
        "created_at",
    ]
    list_filter = ["origin", "status", "priority", "current_stage", "model_name", "track", "is_ground_truth"]
    search_fields = ["id", "video__title", "celery_task_id"]
    list_select_related = ["video"]
    readonly_fields = [field.name for field in ProcessingJob._meta.fields]
    inlines = [JobStageInline, ErrorInline]
    actions = ["retry_videos", "cancel_videos", "make_urgent", "make_high", "make_normal", "make_low"]
    change_list_template = "admin/processing/processingjob/change_list.html"

    def get_urls(self):
        urls = [path("usage/", self.admin_site.admin_view(self.usage_view), name="processing_usage")]
        return urls + super().get_urls()

    def usage_view(self, request):
        """Usage per user over a chosen range, and where the stored bytes are, for staff."""
        from processing.selectors_queue import storage_statistics, usage_for_every_user
        from processing.serializers_queue import UsageRangeSerializer

        if not self.has_view_permission(request):
            raise PermissionDenied
        given = UsageRangeSerializer(data=request.GET)
        valid = given.is_valid()
        since = given.validated_data.get("since") if valid else None
        until = given.validated_data.get("until") if valid else None
        context = {
            **self.admin_site.each_context(request),
            "title": "Usage and storage",
            "opts": self.model._meta,
            "range_errors": given.errors if not valid else {},
            "since": request.GET.get("since", ""),
            "until": request.GET.get("until", ""),
            "usage": usage_for_every_user(since=since, until=until),
            "storage": storage_statistics(),
        }
        return TemplateResponse(request, "admin/processing/usage.html", context)

    class Media:
        css = {"all": ["css/admin_video.css"]}

    def has_add_permission(self, request):
        return False

    @admin.display(description="status", ordering="status")
    def status_badge(self, job: ProcessingJob):
        return state_badge(job.status, job.get_status_display())

    @admin.display(description="progress", ordering="progress_percentage")
    def progress(self, job: ProcessingJob):
        return progress_bar(job.progress_percentage)

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

    def _set_priority(self, request, queryset, priority: str) -> None:
        from processing.services.job_queue import job_set_priority

        changed = 0
        for job_id in queryset.values_list("pk", flat=True):
            try:
                job_set_priority(job_id=job_id, priority=priority, actor=request.user)
                changed += 1
            except ProcessingJob.DoesNotExist:
                continue  # deleted meanwhile
        self.message_user(request, f"{changed} run(s) now have {priority} priority; waiting ones moved in the queue.")

    @admin.action(description="Priority: urgent (waiting runs start next)", permissions=["change"])
    def make_urgent(self, request, queryset):
        self._set_priority(request, queryset, JobPriority.URGENT)

    @admin.action(description="Priority: high", permissions=["change"])
    def make_high(self, request, queryset):
        self._set_priority(request, queryset, JobPriority.HIGH)

    @admin.action(description="Priority: normal", permissions=["change"])
    def make_normal(self, request, queryset):
        self._set_priority(request, queryset, JobPriority.NORMAL)

    @admin.action(description="Priority: low", permissions=["change"])
    def make_low(self, request, queryset):
        self._set_priority(request, queryset, JobPriority.LOW)


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
        self.instance.framework = details["framework"]
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


def _catalog_table() -> str:
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{} MB</td><td>{} M</td><td>{} px</td><td>{} frames/s</td><td>{} classes: {}</td>"
        "<td>{}</td></tr>",
        (
            (
                entry["name"],
                entry["file_size_mb"],
                entry["parameters_m"],
                entry["input_size"],
                entry["cpu_fps"],
                len(entry["class_names"]),
                ", ".join(entry["class_names"][:8]) + ", ...",
                "installed" if entry["installed"] else "",
            )
            for entry in catalog_with_installed()
        ),
    )
    return format_html(
        "<table><tr><th>Model</th><th>File</th><th>Parameters</th><th>Input</th><th>CPU speed (network)</th>"
        "<th>Finds</th><th></th></tr>{}</table><p>CPU speed measured on {}.</p>",
        rows,
        SPEED_MEASURED_ON,
    )


class ModelInstallForm(forms.ModelForm):
    source = forms.ChoiceField(label="Model", choices=[])

    class Meta:
        model = ModelInstall
        fields = ["source", "make_default"]

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        if "source" not in self.fields:
            return  # an install already made: the admin shows it read-only
        self.fields["source"].choices = [(name, name) for name in CATALOG]
        self.fields["source"].help_text = _catalog_table()
        self.fields["make_default"].label = "Make it the default model"

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        # The service's own checks (unknown name, installed or under way) become the form's errors.
        try:
            self.instance = model_install_request(
                actor=self.actor, source=cleaned["source"], make_default=cleaned.get("make_default", False)
            )
        except InstallRefused as exc:
            raise forms.ValidationError(exc.message)
        return cleaned


@admin.register(ModelInstall)
class ModelInstallAdmin(admin.ModelAdmin):
    """Installs of catalog models: "Add" is the Install button; each row shows how its download stands."""

    form = ModelInstallForm
    list_display = ["source", "status", "progress", "detector_model", "error", "created_at"]
    list_filter = ["status"]
    readonly_fields = [
        "source", "catalog_name", "url", "make_default", "status", "bytes_done", "bytes_total", "sha256",
        "error_code", "error", "detector_model", "requested_by", "created_at", "updated_at",
    ]  # fmt: skip

    @admin.display(description="Progress")
    def progress(self, obj: ModelInstall) -> str:
        if obj.bytes_total:
            return f"{obj.bytes_done * 100 // obj.bytes_total}% of {obj.bytes_total / 1e6:.1f} MB"
        return f"{obj.bytes_done / 1e6:.1f} MB" if obj.bytes_done else ""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class WithActor(form):
            def __init__(self, *args, **form_kwargs):
                super().__init__(*args, actor=request.user, **form_kwargs)

        return WithActor

    def get_fields(self, request, obj=None):
        return ["source", "make_default"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # The form's clean recorded the install through the service; the download starts after the commit.
        model_install_enqueue(install=obj)


@admin.register(InferenceBackendChoice)
class InferenceBackendChoiceAdmin(admin.ModelAdmin):
    """What each worker host measured for each model and shape; deleting a row makes that host measure again."""

    list_display = [
        "model_name",
        "input_width",
        "input_height",
        "host",
        "backend",
        "precision",
        "model_only_fps",
        "int8_calibrated_on",
    ]
    list_filter = ["backend", "precision", "host"]
    search_fields = ["model_name", "weights_sha256", "host"]
    exclude = ["trials", "int8_calibration"]  # shown as the tables below
    readonly_fields = [
        field.name for field in InferenceBackendChoice._meta.fields if field.name not in ("trials", "int8_calibration")
    ] + ["candidates_measured", "int8_calibration_details"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # measured, not edited: delete the row to measure again

    @admin.display(description="int8 calibrated on")
    def int8_calibrated_on(self, obj):
        calibration = (obj.int8_calibration or {}).get("calibration") or {}
        if not calibration:
            return "-"
        source = calibration.get("source", "")
        if source == "library":
            source = f"library ({len(calibration.get('videos', []))} videos)"
        verdict = "" if obj.int8_calibration.get("accepted", True) else ", refused"
        return f"{source}{verdict}"

    @admin.display(description="int8 calibration")
    def int8_calibration_details(self, obj):
        report = obj.int8_calibration or {}
        calibration = report.get("calibration") or {}
        if not calibration:
            return "int8 was not tried"

        def figure(value):
            return "" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

        rows = [
            ("source", calibration.get("source", "")),
            ("calibration set", calibration.get("key", "")),
            ("calibration frames", figure(calibration.get("calibration_frames"))),
            ("held-out frames", figure(calibration.get("held_out_frames"))),
        ]
        if calibration.get("source") == "library":
            rows += [
                ("videos", ", ".join(calibration.get("videos", []))),
                ("frames per video", ", ".join(str(count) for count in calibration.get("frames_per_video", []))),
                ("library size when chosen", figure(calibration.get("library_videos"))),
            ]
        if calibration.get("fallback_reason"):
            rows.append(("why not the library", calibration["fallback_reason"]))
        rows += [
            ("agreement with f32", figure(report.get("agreement"))),
            ("judged on", report.get("judged_on", "")),
            (
                "box F1 / recall / precision",
                " / ".join(figure(report.get(name)) for name in ("box_f1", "box_recall", "box_precision")),
            ),
            ("score correlation", figure(report.get("score_correlation"))),
            ("threshold", figure(report.get("min_agreement"))),
            ("verdict", "accepted" if report.get("accepted") else f"refused: {report.get('reason', '')}"),
        ]
        return format_html(
            "<table><tbody>{}</tbody></table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )

    @admin.display(description="Candidates measured")
    def candidates_measured(self, obj):
        rows = format_html_join(
            "",
            "<tr><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    trial.get("backend"),
                    trial.get("precision"),
                    "" if trial.get("model_only_fps") is None else f"{trial['model_only_fps']:.1f}",
                    "" if trial.get("recall") is None else f"{trial['recall']:.3f}",
                    "" if trial.get("precision_score") is None else f"{trial['precision_score']:.3f}",
                    "accepted" if trial.get("accepted") else f"refused: {trial.get('reason', '')}",
                )
                for trial in obj.trials
            ),
        )
        return format_html(
            "<table><thead><tr><th>backend</th><th>model-only frames/s</th><th>recall vs f32</th>"
            "<th>precision vs f32</th><th>verdict</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "job", "reference_job", "status", "precision", "recall", "map50", "map50_95"]
    list_filter = ["status"]
    search_fields = ["job__id", "job__video__title"]
    readonly_fields = [field.name for field in Evaluation._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(AnnotatedVideo)
class AnnotatedVideoAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Renders can be looked at and deleted (their file goes with them), never edited: the worker writes them."""

    list_display = ["created_at", "job", "status", "progress_percentage", "frames_done", "size_bytes", "requested_by"]
    list_filter = ["status"]
    search_fields = ["id", "job__id", "job__video__title"]
    list_select_related = ["job", "requested_by"]
    readonly_fields = [field.name for field in AnnotatedVideo._meta.fields]

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


class PeriodicTaskWithRegisteredTaskForm(PeriodicTaskForm):
    """django-celery-beat's form leaves "Task (registered)" blank on a task's change page even when its task is
    registered (only "Task (custom)" shows it): the registered one is chosen there too."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        task = self.instance.task if self.instance is not None else ""
        if task and task in dict(self.fields["regtask"].widget.choices):
            self.initial.setdefault("regtask", task)


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskWithRegisteredTaskAdmin(PeriodicTaskAdmin):
    form = PeriodicTaskWithRegisteredTaskForm
