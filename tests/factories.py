import factory
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from processing.models import Detection, ProcessingJob
from videos.models import Video


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def persist_password(self, create, extracted, **kwargs):
        if create:
            self.save(update_fields=["password"])


class TokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Token

    user = factory.SubFactory(UserFactory)


class VideoFactory(factory.django.DjangoModelFactory):
    """A video in any workflow state; the state is set at creation, as the FSM field is protected afterwards."""

    class Meta:
        model = Video

    owner = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"clip {n}")
    original_filename = factory.LazyAttribute(lambda video: f"{video.title}.mp4")
    workflow_state = "uploaded"


class ProcessingJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProcessingJob

    video = factory.SubFactory(VideoFactory)
    model_name = "yolov8n (untrained)"
    frame_step = 1


def add_detections(job, rows, *, class_names, fps: float = 10) -> list[Detection]:
    """Store a run's boxes: rows of (frame, class id, confidence, (x1, y1, x2, y2)[, track id]).

    `class_names` maps a class id to its name (a list or a dict).
    """
    return Detection.objects.bulk_create(
        Detection(
            job=job,
            frame_index=frame,
            timestamp_seconds=frame / fps,
            class_id=class_id,
            class_name=class_names[class_id],
            confidence=confidence,
            x1=box[0],
            y1=box[1],
            x2=box[2],
            y2=box[3],
            track_id=track[0] if track else None,
        )
        for frame, class_id, confidence, box, *track in rows
    )
