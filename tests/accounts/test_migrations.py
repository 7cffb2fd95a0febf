"""Roles and API keys moved from the videos app to accounts: a database that holds them keeps every row, and
its keys still authenticate."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import authentication
from accounts.models import AccountProfile, ApiKey, api_key_generate

BEFORE_THE_MOVE = [("videos", "0007_video_cancelled_at"), ("accounts", None)]
KEY_COLUMNS = ["id", "user_id", "name", "prefix", "key_hash", "expires_at", "last_used_at", "revoked_at", "created_at"]


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


def _latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture
def database_before_the_move():
    executor = _migrate(BEFORE_THE_MOVE)
    # The models as they were then, with today's users and content types (their migrations predate the move).
    nodes = [node for node in executor.loader.graph.leaf_nodes() if node[0] in ("auth", "contenttypes")]
    try:
        yield executor.loader.project_state([*BEFORE_THE_MOVE[:1], *nodes]).apps
    finally:
        _migrate(_latest())  # whatever the test did, the next test finds the latest schema
        ContentType.objects.clear_cache()


@pytest.mark.django_db(transaction=True)
def test_roles_and_api_keys_survive_the_move_to_accounts(database_before_the_move):
    old = database_before_the_move
    assert {"videos_apikey", "videos_accountprofile"} <= set(connection.introspection.table_names())
    user_model = old.get_model("auth", "User")
    old_profile, old_key = old.get_model("videos", "AccountProfile"), old.get_model("videos", "ApiKey")
    old_content_type, old_permission = old.get_model("contenttypes", "ContentType"), old.get_model("auth", "Permission")

    viewer = user_model.objects.create(username="viewer", password=make_password("x"))
    admin = user_model.objects.create(username="admin", password=make_password("x"))
    plain = user_model.objects.create(username="plain", password=make_password("x"))
    old_profile.objects.create(user=viewer, role="viewer")
    old_profile.objects.create(user=admin, role="admin")
    now = timezone.now()
    keys = {}
    for user, name, fields in [
        (viewer, "live", {"expires_at": now + timedelta(days=30), "last_used_at": now - timedelta(hours=1)}),
        (plain, "never expires", {}),
        (plain, "revoked", {"revoked_at": now - timedelta(days=1)}),
    ]:
        key, prefix, key_hash = api_key_generate()
        keys[name] = key
        old_key.objects.create(user=user, name=name, prefix=prefix, key_hash=key_hash, **fields)
    key_content_type, _ = old_content_type.objects.get_or_create(app_label="videos", model="apikey")
    view_keys, _ = old_permission.objects.get_or_create(
        content_type=key_content_type, codename="view_apikey", defaults={"name": "Can view api key"}
    )
    user_model.user_permissions.through.objects.create(user_id=plain.pk, permission_id=view_keys.pk)
    profiles_before = sorted(old_profile.objects.values_list("id", "user_id", "role"))
    keys_before = sorted(old_key.objects.values_list(*KEY_COLUMNS))

    _migrate(_latest())
    ContentType.objects.clear_cache()
    authentication.forget_all()

    tables = connection.introspection.table_names()
    assert {"accounts_apikey", "accounts_accountprofile"} <= set(tables)
    assert not {"videos_apikey", "videos_accountprofile"} & set(tables)
    assert sorted(AccountProfile.objects.values_list("id", "user_id", "role")) == profiles_before
    assert sorted(ApiKey.objects.values_list(*KEY_COLUMNS)) == keys_before
    moved_content_type = ContentType.objects.get_for_model(ApiKey)
    assert moved_content_type.pk == key_content_type.pk  # same row: permissions granted on it still hold
    assert get_user_model().objects.get(pk=plain.pk).has_perm("accounts.view_apikey")

    def client_with(key: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        return client

    listing = client_with(keys["live"]).get("/api/v1/api-keys/")
    assert listing.status_code == 200, listing.content
    assert [row["name"] for row in listing.json()["results"]] == ["live"]
    # The viewer's role came along: reading is allowed, writing is not.
    refused = client_with(keys["live"]).post("/api/v1/videos/", {"source_url": "https://example.com/a.mp4"})
    assert refused.status_code == 403, refused.content
    assert client_with(keys["never expires"]).get("/api/v1/api-keys/").status_code == 200
    assert client_with(keys["revoked"]).get("/api/v1/api-keys/").status_code == 401
