import pytest
from django.core.management import call_command

from processing.management.commands.load_sample_video import SAMPLE_TITLE
from processing.models import ProcessingJob
from tests.factories import UserFactory
from videos.models import Video


@pytest.mark.django_db
def test_the_sample_video_is_given_once(capsys):
    user = UserFactory(username="newcomer")

    call_command("load_sample_video", "--owner", "newcomer")
    call_command("load_sample_video", "--owner", "newcomer")

    video = Video.objects.get(owner=user, title=SAMPLE_TITLE)
    assert (video.workflow_state, video.mime_type) == ("uploaded", "video/mp4")
    assert ProcessingJob.objects.filter(video=video).count() == 1
    assert "there already" in capsys.readouterr().out
