from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from mediaplatform.api.fields import HttpUrlTextField
from mediaplatform.api.strict import StrictJsonTypesMixin
from videos.models import Priority, Video, VideoStateTransition
from videos.runs import RUN_OPTION_NAMES
from videos.selectors_playback import playback_fields


def run_options_from_data(data) -> dict:
    """The run options a request names, as plain values for the run engine (`videos.runs`), which checks them.

    A form may repeat `classes` or send it comma-separated; JSON sends a list.
    """
    options = {}
    if not hasattr(data, "keys"):
        return options
    for name in RUN_OPTION_NAMES:
        if name not in data:
            continue
        if name == "classes" and hasattr(data, "getlist"):
            values = data.getlist(name)
            options[name] = values[0] if len(values) == 1 else values
        else:
            options[name] = data[name]
    return options


class RunOptionsSerializer(StrictJsonTypesMixin, serializers.Serializer):
    """Documents a run's options; the run engine checks them against the chosen model and names a bad field."""

    model = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="A registered model's name; default the default"
    )
    classes = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=1000,
        help_text="Class names to keep (a list, or comma-separated in a form); empty: every class",
    )
    confidence = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0.000001,
        max_value=1,
        help_text="Lowest confidence kept, above 0 and at most 1; default the model's",
    )
    frame_step = serializers.IntegerField(min_value=1, max_value=10_000, required=False)
    start_frame = serializers.IntegerField(min_value=0, max_value=2_147_483_647, required=False)
    end_frame = serializers.IntegerField(min_value=0, max_value=2_147_483_647, required=False, allow_null=True)
    max_fps = serializers.FloatField(min_value=0.01, max_value=1000, required=False, allow_null=True)
    track = serializers.BooleanField(required=False, help_text="Follow objects across frames")
    priority = serializers.ChoiceField(
        choices=Priority.choices,
        required=False,
        help_text="How soon the run starts when runs wait for a worker; default normal",
    )


class VideoCreateSerializer(RunOptionsSerializer):
    """A new video: a multipart `file`, or a `source_url` the server fetches (http/https, public hosts), with
    the options of its first run."""

    file = serializers.FileField(required=False, allow_empty_file=True, use_url=False)
    source_url = HttpUrlTextField(required=False, max_length=2000, help_text="http(s) URL of a video to fetch")
    title = serializers.CharField(max_length=255, required=False, allow_blank=True)


class VideoUploadSerializer(RunOptionsSerializer):
    """A new video from a file (multipart), with the options of its first run."""

    file = serializers.FileField(allow_empty_file=True, use_url=False)
    title = serializers.CharField(max_length=255, required=False, allow_blank=True)


class VideoUrlImportSerializer(RunOptionsSerializer):
    """A new video the server fetches from `source_url` (http/https, public hosts), with its first run's options."""

    source_url = HttpUrlTextField(max_length=2000, help_text="http(s) URL of a video to fetch")
    title = serializers.CharField(max_length=255, required=False, allow_blank=True)


class StateTransitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = VideoStateTransition
        fields = ["from_state", "to_state", "transition", "reason", "created_at"]


class VideoListSerializer(serializers.ModelSerializer):
    state = serializers.CharField(source="workflow_state", read_only=True)
    poster_url = serializers.SerializerMethodField(help_text="A still of the video (JPEG); null until it is made")

    def get_poster_url(self, video: Video) -> str | None:
        return playback_fields(video)["poster_url"]

    class Meta:
        model = Video
        fields = [
            "id",
            "title",
            "original_filename",
            "state",
            "cancelled_at",
            "current_stage",
            "progress_percentage",
            "objects_detected_count",
            "size_bytes",
            "created_at",
            "updated_at",
            "poster_url",
        ]


STATS_DEFAULT_WINDOW = timedelta(hours=24)


class StatsQuerySerializer(serializers.Serializer):
    """The window [from, to): validated_data always holds both, the defaults filled in."""

    scope = serializers.ChoiceField(
        choices=["visible", "own"],
        required=False,
        default="visible",
        help_text="visible: every video you may see (staff: everyone's); own: only your own",
    )

    # "from"/"to" are Python keywords: declared below under their query names.
    def validate(self, attrs):
        created_to = attrs.get("to") or timezone.now()
        created_from = attrs.get("from")
        if created_from is None:
            try:
                created_from = created_to - STATS_DEFAULT_WINDOW
            except OverflowError:  # `to` within a day of the year 1: the default window would start before it
                raise serializers.ValidationError(
                    {"to": "to is too early for the default 24-hour window before it; give from as well."}
                )
        if created_from >= created_to:
            raise serializers.ValidationError({"to": "to must come after from."})
        return {"from": created_from, "to": created_to, "scope": attrs.get("scope") or "visible"}


StatsQuerySerializer._declared_fields["from"] = serializers.DateTimeField(
    required=False, help_text="Window start (ISO 8601); default 24 hours before `to`"
)
StatsQuerySerializer._declared_fields["to"] = serializers.DateTimeField(
    required=False, help_text="Window end (ISO 8601); default now"
)


class StatsSerializer(serializers.Serializer):
    total_videos = serializers.IntegerField()
    videos_per_state = serializers.DictField(child=serializers.IntegerField())
    avg_processing_time_seconds = serializers.FloatField(allow_null=True)
    total_objects_detected = serializers.IntegerField()
    last_updated = serializers.DateTimeField(allow_null=True)


StatsSerializer._declared_fields["from"] = serializers.DateTimeField()
StatsSerializer._declared_fields["to"] = serializers.DateTimeField()


class VideoRenameSerializer(StrictJsonTypesMixin, serializers.Serializer):
    whole_on_patch = True  # PATCH takes the field: a body without it is refused

    title = serializers.CharField(
        max_length=255, allow_blank=True, trim_whitespace=True, help_text="The new title; blank: the file name"
    )


class VideoBulkSerializer(StrictJsonTypesMixin, serializers.Serializer):
    """One action on up to 100 of your videos (any video for staff); each is done or refused on its own."""

    action = serializers.ChoiceField(choices=["archive", "retry", "delete"])
    ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=100)


class VideoBulkResultSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    ok = serializers.BooleanField()
    status = serializers.IntegerField(help_text="What the single-video endpoint answers: 200/202/204, 404, 409, 410")
    code = serializers.CharField(allow_blank=True)
    message = serializers.CharField(allow_blank=True)


class VideoBulkResponseSerializer(serializers.Serializer):
    action = serializers.CharField()
    results = VideoBulkResultSerializer(many=True)
