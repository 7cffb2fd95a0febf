"""Failed sign-ins are counted: past the limit the page answers 429 without checking the password."""

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's
URL = "/accounts/login/"


def sign_in(client: Client, username: str, password: str):
    return client.post(URL, {"username": username, "password": password})


def test_after_too_many_failures_even_the_right_password_is_refused(settings):
    settings.SIGN_IN_MAX_FAILURES = 3
    user = UserFactory()
    client = Client(REMOTE_ADDR="198.51.100.7")

    assert [sign_in(client, user.username, f"guess-{n}").status_code for n in range(3)] == [200, 200, 200]
    refused = sign_in(client, user.username, PASSWORD)

    assert refused.status_code == 429
    assert refused["Retry-After"] == str(settings.SIGN_IN_FAILURE_WINDOW_SECONDS)
    assert "Too many failed sign-ins" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address is not held back by this one's failures.
    assert sign_in(Client(REMOTE_ADDR="198.51.100.8"), user.username, PASSWORD).status_code == 302


def test_a_successful_sign_in_clears_the_count(settings):
    settings.SIGN_IN_MAX_FAILURES = 3
    user = UserFactory()
    client = Client(REMOTE_ADDR="198.51.100.9")
    sign_in(client, user.username, "wrong")
    sign_in(client, user.username, "wrong")
    assert sign_in(client, user.username, PASSWORD).status_code == 302
    client.logout()
    assert [sign_in(client, user.username, "wrong").status_code for _ in range(3)] == [200, 200, 200]
    assert sign_in(client, user.username, PASSWORD).status_code == 429


def test_one_address_trying_many_usernames_is_held_back(settings):
    settings.SIGN_IN_MAX_FAILURES_PER_ADDRESS = 4
    client = Client(REMOTE_ADDR="198.51.100.10")
    statuses = [sign_in(client, f"nobody-{n}", "guess").status_code for n in range(4)]
    assert statuses == [200, 200, 200, 200]
    user = UserFactory()
    assert sign_in(client, user.username, PASSWORD).status_code == 429


def test_the_admin_sign_in_is_counted_too(settings):
    settings.SIGN_IN_MAX_FAILURES = 2
    staff = UserFactory(is_staff=True)
    client = Client(REMOTE_ADDR="198.51.100.11")
    attempt = {"username": staff.username, "password": "wrong", "next": "/admin/"}
    assert [client.post("/admin/login/", attempt).status_code for _ in range(2)] == [200, 200]
    refused = client.post("/admin/login/", {**attempt, "password": PASSWORD})
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.content.decode()
    other = Client(REMOTE_ADDR="198.51.100.12")
    assert other.post("/admin/login/", {**attempt, "password": PASSWORD}).status_code == 302
    assert other.get("/admin/").status_code == 200
