"""The API token endpoint: throttled per address and per username, sharing the sign-in page's failure counter;
tokens that expire and can be rotated."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.services.api_keys import api_key_create
from audit.models import AuditLogEntry
from tests.factories import TokenFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's
TOKEN_URL = "/api/v1/auth/token/"
ROTATE_URL = "/api/v1/auth/token/rotate/"
SIGN_IN_URL = "/accounts/login/"
VIDEOS = "/api/v1/videos/"
GENEROUS = "100000/min"


def token_attempt(client: Client, username: str, password: str, **headers):
    return client.post(TOKEN_URL, {"username": username, "password": password}, headers=headers)


def page_attempt(client: Client, username: str, password: str):
    return client.post(SIGN_IN_URL, {"username": username, "password": password})


def test_an_api_key_header_does_not_lift_the_anonymous_rate(settings):
    settings.API_RATE_LIMITS = {"key": GENEROUS, "user": GENEROUS, "anon": "3/min", "sign_in_username": GENEROUS}
    _row, key = api_key_create(user=UserFactory(), name="someone's")
    client = Client(REMOTE_ADDR="203.0.113.20")
    statuses = [
        token_attempt(client, f"nobody-{n}", "guess", Authorization=f"Api-Key {key}").status_code for n in range(4)
    ]
    assert statuses == [400, 400, 400, 429]


def test_a_bad_authorization_header_is_ignored_not_refused(settings):
    user = UserFactory()
    response = token_attempt(Client(REMOTE_ADDR="203.0.113.21"), user.username, PASSWORD, Authorization="Token x")
    assert response.status_code == 200


def test_one_username_is_throttled_whatever_the_address(settings):
    settings.API_RATE_LIMITS = {"key": GENEROUS, "user": GENEROUS, "anon": GENEROUS, "sign_in_username": "3/min"}
    user = UserFactory()
    statuses = [
        token_attempt(Client(REMOTE_ADDR=f"203.0.113.{30 + n}"), user.username, f"guess-{n}").status_code
        for n in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
    # Another username is counted on its own.
    other = UserFactory()
    assert token_attempt(Client(REMOTE_ADDR="203.0.113.40"), other.username, PASSWORD).status_code == 200


def test_token_failures_lock_the_sign_in_page_for_that_username(settings):
    settings.SIGN_IN_MAX_FAILURES = 3
    user = UserFactory()
    client = Client(REMOTE_ADDR="198.51.100.40")
    assert [token_attempt(client, user.username, f"guess-{n}").status_code for n in range(3)] == [400, 400, 400]

    refused = page_attempt(client, user.username, PASSWORD)
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session
    blocked = token_attempt(client, user.username, PASSWORD)
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "too_many_failed_sign_ins"
    assert blocked["Retry-After"] == str(settings.SIGN_IN_FAILURE_WINDOW_SECONDS)


def test_sign_in_page_failures_lock_the_token_endpoint_for_that_username(settings):
    settings.SIGN_IN_MAX_FAILURES = 3
    user = UserFactory()
    client = Client(REMOTE_ADDR="198.51.100.41")
    assert [page_attempt(client, user.username, f"guess-{n}").status_code for n in range(3)] == [200, 200, 200]
    response = token_attempt(client, user.username, PASSWORD)
    assert response.status_code == 429
    assert "token" not in response.json()
    # Another address is not held back by this one's failures.
    assert token_attempt(Client(REMOTE_ADDR="198.51.100.42"), user.username, PASSWORD).status_code == 200


def test_a_successful_token_sign_in_clears_the_count(settings):
    settings.SIGN_IN_MAX_FAILURES = 3
    user = UserFactory()
    client = Client(REMOTE_ADDR="198.51.100.43")
    token_attempt(client, user.username, "wrong")
    token_attempt(client, user.username, "wrong")
    assert token_attempt(client, user.username, PASSWORD).status_code == 200
    assert [token_attempt(client, user.username, "wrong").status_code for _ in range(2)] == [400, 400]
    assert token_attempt(client, user.username, PASSWORD).status_code == 200


def test_the_token_endpoint_tells_when_the_token_expires(settings):
    settings.API_TOKEN_TTL_DAYS = 30
    user = UserFactory()
    body = token_attempt(Client(), user.username, PASSWORD).json()
    token = Token.objects.get(user=user)
    assert body["token"] == token.key
    assert body["expires_at"] == (token.created + timedelta(days=30)).isoformat()


def test_an_expired_token_answers_401_token_expired_and_signing_in_issues_a_new_one(settings):
    settings.API_TOKEN_TTL_DAYS = 1
    user = UserFactory()
    old = TokenFactory(user=user)
    Token.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=1, seconds=1))

    response = Client().get(VIDEOS, HTTP_AUTHORIZATION=f"Token {old.key}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"
    assert "expired" in response.json()["error"]["message"].lower()

    new_key = token_attempt(Client(), user.username, PASSWORD).json()["token"]
    assert new_key != old.key
    assert Client().get(VIDEOS, HTTP_AUTHORIZATION=f"Token {new_key}").status_code == 200
    assert Client().get(VIDEOS, HTTP_AUTHORIZATION=f"Token {old.key}").status_code == 401


def test_tokens_never_expire_when_the_lifetime_is_zero(settings):
    settings.API_TOKEN_TTL_DAYS = 0
    token = TokenFactory()
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - timedelta(days=3650))
    assert Client().get(VIDEOS, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200
    assert token_attempt(Client(), token.user.username, PASSWORD).json()["expires_at"] is None


def test_rotation_returns_a_new_token_and_the_old_one_stops_working():
    user = UserFactory()
    old = TokenFactory(user=user)
    response = Client().post(ROTATE_URL, HTTP_AUTHORIZATION=f"Token {old.key}")
    assert response.status_code == 200
    new_key = response.json()["token"]
    assert new_key != old.key
    assert Client().get(VIDEOS, HTTP_AUTHORIZATION=f"Token {old.key}").status_code == 401
    assert Client().get(VIDEOS, HTTP_AUTHORIZATION=f"Token {new_key}").status_code == 200
    entry = AuditLogEntry.objects.get(action="api_token.rotate")
    assert entry.object_id == str(user.pk)
    assert old.key not in str(entry.new_values) and new_key not in str(entry.new_values)


def test_rotation_needs_a_signed_in_caller():
    assert Client().post(ROTATE_URL).status_code == 401
