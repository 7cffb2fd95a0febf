from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, api_key_hash
from audit.models import AuditLogEntry
from tests.factories import VideoFactory

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/api-keys/"
VIDEOS = "/api/v1/videos/"


def test_a_key_is_shown_once_and_stored_only_hashed(api_client):
    response = api_client.post(KEYS, {"name": "ci"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    key = body["key"]
    row = ApiKey.objects.get(pk=body["id"])
    assert row.key_hash == api_key_hash(key) and key not in (row.prefix, row.key_hash)
    assert body["prefix"] == row.prefix and key.startswith(f"mp_{row.prefix}_")
    listing = api_client.get(KEYS).json()
    assert listing["count"] == 1 and "key" not in listing["results"][0]
    assert AuditLogEntry.objects.filter(action="api_key.create", object_id=str(row.pk)).exists()


def test_api_key_authenticates_and_records_last_use(key_client):
    VideoFactory(owner=key_client.user)
    response = key_client.get(VIDEOS)
    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert ApiKey.objects.get(user=key_client.user).last_used_at is not None


def test_several_keys_per_user_and_revocation(api_client):
    first = api_client.post(KEYS, {"name": "one"}, format="json").json()
    second = api_client.post(KEYS, {"name": "two"}, format="json").json()
    assert api_client.delete(f"{KEYS}{first['id']}/").status_code == 204
    revoked, working = APIClient(), APIClient()
    revoked.credentials(HTTP_AUTHORIZATION=f"Api-Key {first['key']}")
    working.credentials(HTTP_AUTHORIZATION=f"Api-Key {second['key']}")
    response = revoked.get(VIDEOS)
    assert response.status_code == 401
    assert response.json()["error"]["message"]
    assert working.get(VIDEOS).status_code == 200


def test_expired_and_unknown_keys_are_refused(api_client, user):
    from accounts.services.api_keys import api_key_create

    row, key = api_key_create(user=user, name="short", expires_at=timezone.now() + timedelta(seconds=60))
    ApiKey.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.get(VIDEOS).status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Api-Key mp_nothing_here")
    assert client.get(VIDEOS).status_code == 401


def test_keys_of_other_users_are_invisible(api_client):
    from accounts.services.api_keys import api_key_create
    from tests.factories import UserFactory

    other_key, _ = api_key_create(user=UserFactory(), name="theirs")
    assert api_client.delete(f"{KEYS}{other_key.pk}/").status_code == 404
    assert api_client.get(KEYS).json()["count"] == 0


def test_past_expiry_is_refused(api_client):
    response = api_client.post(KEYS, {"name": "x", "expires_at": "2000-01-01T00:00:00Z"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_session_login_keeps_working(client, user):
    client.force_login(user)
    assert client.get(VIDEOS).status_code == 200


def test_viewer_reads_own_videos_but_cannot_write(viewer_client):
    video = VideoFactory(owner=viewer_client.user)
    assert viewer_client.get(f"{VIDEOS}{video.pk}/").status_code == 200
    response = viewer_client.delete(f"{VIDEOS}{video.pk}/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert viewer_client.post(f"{VIDEOS}{video.pk}/archive/").status_code == 403
    assert viewer_client.post(KEYS, {"name": "mine"}, format="json").status_code == 201


def test_another_users_video_is_404_for_every_verb(api_client):
    other = VideoFactory()
    for method in ("get", "delete"):
        assert getattr(api_client, method)(f"{VIDEOS}{other.pk}/").status_code == 404
    assert api_client.post(f"{VIDEOS}{other.pk}/archive/").status_code == 404


def test_rate_limit_per_key_answers_429_with_retry_after(key_client, settings):
    settings.API_RATE_LIMITS = {"key": "3/min", "user": "100/min", "anon": "10/min"}
    statuses = [key_client.get(VIDEOS).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = key_client.get(VIDEOS)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["error"]["code"] == "throttled"


def test_rate_limit_counts_keys_and_users_apart(key_client, user, settings):
    settings.API_RATE_LIMITS = {"key": "2/min", "user": "100/min", "anon": "10/min"}
    for _ in range(2):
        key_client.get(VIDEOS)
    assert key_client.get(VIDEOS).status_code == 429
    session = APIClient()
    session.force_login(user)
    assert session.get(VIDEOS).status_code == 200
