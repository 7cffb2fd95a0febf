import uuid

from django.contrib import admin, messages
from django.db import models
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.timezone import localtime

from audit.admin_mixins import AuditedAdminMixin
from videos.models import Video, VideoStateTransition
from videos.services.workflow import WorkflowRefused, video_allowed_actions, video_archive, video_cancel, video_retry

# The state machine's transitions staff may ask for: (service, past tense for the message).
TRANSITIONS = {
    "retry": (video_retry, "queued for retry"),
    "cancel": (video_cancel, "cancelled"),
    "archive": (video_archive, "archived"),
}


def video_transition_apply(request, video: Video, action: str) -> bool:
    """Run one transition service for the admin; a refusal by the state machine becomes an error message."""
    service, done = TRANSITIONS[action]
    try:
        service(video_id=video.pk, actor=request.user)
    except WorkflowRefused as refused:
        allowed = ", ".join(refused.allowed) or "nothing"
        messages.error(request, f"“{video}”: {refused.message} Allowed now: {allowed}.")
        return False
    messages.success(request, f"“{video}” {done}.")
    return True


def _transition_action(action: str, description: str):
    def run(modeladmin, request, queryset):
        for video in queryset.order_by("created_at"):
            video_transition_apply(request, video, action)

    run.__name__ = f"{action}_videos"
    return admin.action(description=description, permissions=["change"])(run)


def state_badge(state: str, label: str, *, cancelled: bool = False) -> str:
    """A coloured badge for a state (static/css/admin_video.css); a cancel reads as cancelled, not failed."""
    if cancelled:
        state, label = "cancelled", "Cancelled"
    return format_html('<span class="admin-badge admin-state-{}">{}</span>', state, label)


def progress_bar(percentage) -> str:
    """A bar with the whole percentage beside it, instead of "37.20"."""
    value = max(0.0, min(100.0, float(percentage or 0)))
    return format_html(
        '<span class="admin-progress"><progress max="100" value="{}" aria-label="Progress">{}%</progress> {}%</span>',
        f"{value:.2f}",
        f"{value:.0f}",
        f"{value:.0f}",
    )


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class VideoStateTransitionInline(ReadOnlyInline):
    model = VideoStateTransition
    fields = ["created_at", "from_state", "to_state", "transition", "actor", "reason"]
    readonly_fields = fields
    show_change_link = False


@admin.register(Video)
class VideoAdmin(AuditedAdminMixin, admin.ModelAdmin):
    # Few, narrow columns, so the list fits a laptop screen without scrolling sideways.
    list_display = [
        "title_or_filename",
        "owner",
        "state",
        "stage",
        "progress",
        "objects",
        "error_reason",
        "added",
    ]
    list_display_links = ["title_or_filename"]
    list_filter = ["workflow_state", ("owner", admin.RelatedOnlyFieldListFilter), "priority", "created_at"]
    search_fields = ["title", "original_filename", "file_hash"]
    date_hierarchy = "created_at"
    list_select_related = ["owner"]
    readonly_fields = [
        "id",
        "workflow_state",
        "transitions_allowed",
        "current_stage",
        "progress",
        "last_error_message",
        "last_event_seq",
        "file",
        "file_hash",
        "size_bytes",
        "mime_type",
        "original_filename",
        "duration_seconds",
        "fps",
        "width",
        "height",
        "frame_count",
        "codec",
        "container",
        "rotation",
        "has_audio",
        "objects_detected_count",
        "annotations_count",
        "total_processing_seconds",
        "frames_per_second_processed",
        # Made by the worker from the original (processing/renditions.py), never typed in.
        "playback_kind",
        "playback_reason",
        "playback_time_offset",
        "rendition",
        "rendition_rotation",
        "poster",
        "thumbnails_sprite",
        "thumbnails_index",
        "created_at",
        "updated_at",
    ]
    # Shown as the `progress` bar; the worker sets it, so the form never offers it for typing.
    exclude = ["progress_percentage"]
    inlines = [VideoStateTransitionInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = [
        _transition_action("retry", "Retry the selected failed videos"),
        _transition_action("cancel", "Cancel the processing of the selected videos"),
        _transition_action("archive", "Archive the selected completed or failed videos"),
    ]
    change_form_template = "admin/videos/video/change_form.html"

    class Media:
        css = {"all": ["css/admin_video.css"]}

    @admin.display(description="title", ordering="title")
    def title_or_filename(self, video: Video):
        return Truncator(video.title or video.original_filename or str(video.pk)).chars(60)

    @admin.display(description="state", ordering="workflow_state")
    def state(self, video: Video):
        cancelled = video.workflow_state == "failed" and video.cancelled_at is not None
        return state_badge(video.workflow_state, video.get_workflow_state_display(), cancelled=cancelled)

    @admin.display(description="stage", ordering="current_stage")
    def stage(self, video: Video):
        return video.current_stage.replace("_", " ").capitalize() if video.current_stage else "–"

    @admin.display(description="progress", ordering="progress_percentage")
    def progress(self, video: Video):
        return progress_bar(video.progress_percentage)

    @admin.display(description="objects", ordering="objects_detected_count")
    def objects(self, video: Video):
        return video.objects_detected_count

    @admin.display(description="added", ordering="created_at")
    def added(self, video: Video):
        return format_html('<span class="admin-date">{}</span>', localtime(video.created_at).strftime("%Y-%m-%d %H:%M"))

    @admin.display(description="error reason")
    def error_reason(self, video: Video):
        if video.workflow_state != "failed" or video.cancelled_at is not None or not video.last_error_message:
            return "–"
        message = video.last_error_message
        return format_html('<span title="{}">{}</span>', message, Truncator(message).chars(70))

    @admin.display(description="transitions allowed")
    def transitions_allowed(self, video: Video):
        return ", ".join(video_allowed_actions(video=video)) or "none"

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/transition/<str:action>/",
                self.admin_site.admin_view(self.transition_view),
                name="videos_video_transition",
            )
        ]
        return urls + super().get_urls()

    def transition_view(self, request, object_id, action):
        """The change page's buttons: POST one transition, then back to the page with what happened."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            video_id = uuid.UUID(object_id)
        except ValueError:  # the URL takes any path; an id that is no UUID names no video
            raise Http404("No such video.")
        video = get_object_or_404(Video, pk=video_id)
        if not self.has_change_permission(request, video):
            messages.error(request, "You may not change this video.")
        elif action not in TRANSITIONS:
            messages.error(request, f"No transition called {action!r}.")
        else:
            video_transition_apply(request, video, action)
        return HttpResponseRedirect(reverse("admin:videos_video_change", args=[video.pk]))

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is not None:
            allowed = video_allowed_actions(video=obj)
            context["transitions"] = [(action, action in allowed) for action in TRANSITIONS]
            context["allowed_transitions"] = ", ".join(action for action in TRANSITIONS if action in allowed) or "none"
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)
