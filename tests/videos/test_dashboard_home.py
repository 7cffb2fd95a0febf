"""The dashboard home: figures of the last 24 hours, filters and search, links to the video pages."""

import pytest

from tests.factories import UserFactory, VideoFactory

pytestmark = pytest.mark.django_db


def test_home_shows_the_figures_of_the_last_24_hours(client):
    user = UserFactory()
    VideoFactory(owner=user, workflow_state="completed", objects_detected_count=7, total_processing_seconds=4.0)
    VideoFactory(owner=user, workflow_state="failed")
    VideoFactory(workflow_state="completed", objects_detected_count=100)  # someone else's
    client.force_login(user)
    response = client.get("/")
    stats = response.context["stats"]
    assert stats["total_videos"] == 2
    assert stats["videos_per_state"]["completed"] == 1 and stats["videos_per_state"]["failed"] == 1
    assert stats["total_objects_detected"] == 7
    page = response.content.decode()
    assert '<dd data-stat="total_objects_detected">7</dd>' in page
    assert '<dd data-state="failed">1</dd>' in page


def test_home_filters_by_state_and_searches_titles(client):
    user = UserFactory()
    harbour = VideoFactory(owner=user, title="harbour at dawn", workflow_state="completed")
    VideoFactory(owner=user, title="street at night", workflow_state="failed")
    client.force_login(user)

    page = client.get("/", {"state": "completed", "search": ""}).content.decode()
    assert "harbour at dawn" in page and "street at night" not in page
    assert f'href="/videos/{harbour.pk}/"' in page

    page = client.get("/", {"search": "street"}).content.decode()
    assert "street at night" in page and "harbour at dawn" not in page

    page = client.get("/", {"state": "nonsense"}).content.decode()
    assert "not valid" in page and "street at night" in page
