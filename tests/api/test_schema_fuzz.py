"""Schemathesis over the whole OpenAPI schema, in-process against the Django WSGI app.

With a valid API key, every operation gets a few generated requests (real ids substituted for path ids, so
the found-paths are exercised too): none may answer 5xx, and every documented response must match its schema.
With invalid credentials (unknown, revoked, expired or malformed keys, a made-up token) every operation must
answer 401 before it looks at the request: never a 5xx, never data.
Bounded: a handful of examples per operation, no shrinking-heavy phases.
"""

from datetime import timedelta
from urllib.parse import unquote

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import Resolver404, resolve
from django.utils import timezone
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from accounts.models import ApiKey
from accounts.services.api_keys import api_key_create
from tests.factories import ProcessingJobFactory, UserFactory, VideoFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
# tus sends its bytes as application/offset+octet-stream: serialized like any binary body.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture
def fuzz_context(db, settings):
    """A user with an API key, a video and a run; the WSGI app shares the test transaction."""
    settings.API_RATE_LIMITS = {"key": "100000/min", "user": "100000/min", "anon": "100000/min"}
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        user = UserFactory()
        video = VideoFactory(owner=user, workflow_state="completed", width=64, height=48)
        job = ProcessingJobFactory(video=video, status="completed")
        _row, key = api_key_create(user=user, name="fuzz")
        revoked, revoked_key = api_key_create(user=user, name="revoked")
        ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
        expired, expired_key = api_key_create(user=user, name="expired")
        ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
        invalid_credentials = {
            "unknown key": "Api-Key mp_00000000_not-a-key-of-ours",
            "revoked key": f"Api-Key {revoked_key}",
            "expired key": f"Api-Key {expired_key}",
            "key without a value": "Api-Key",
            "key with spaces": f"Api-Key {key} extra",
            "made-up token": "Token 0000000000000000000000000000000000000000",
        }
        yield {
            "key": key,
            "invalid_credentials": invalid_credentials,
            "ids": {"video_id": str(video.pk), "job_id": str(job.pk), "analysis_id": str(video.pk)},
        }
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@hypothesis_settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, fuzz_context):
    for name, value in fuzz_context["ids"].items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = value
    case.call_and_validate(headers={"Authorization": f"Api-Key {fuzz_context['key']}"}, checks=CHECKS)


@schema.parametrize()
@hypothesis_settings(
    max_examples=3,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_invalid_credentials_get_401_from_every_operation(case, fuzz_context):
    for name, value in fuzz_context["ids"].items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = value  # real ids: a 401 must not depend on the object being missing
    try:
        resolve(unquote(case.formatted_path))
    except Resolver404:
        # Generated ids the URL patterns do not take (`null,null` for an int): no view, Django's own 404.
        expected = 404
    else:
        expected = 401
    # An operation that declares no security (the token endpoint: username and password in the body) ignores
    # the Authorization header: it must still never answer 5xx, nor hand out a token for made-up credentials.
    public = expected == 401 and "security" not in case.operation.definition.raw
    for label, credential in fuzz_context["invalid_credentials"].items():
        response = case.call(headers={"Authorization": credential})
        if public:
            assert response.status_code < 500, (label, case.method, case.formatted_path, response.status_code)
            body = response.json() if response.status_code < 300 and response.text else {}
            assert "token" not in body, (label, case.method, case.formatted_path)
            continue
        assert response.status_code == expected, (label, case.method, case.formatted_path, response.status_code)
        if expected == 401:
            assert response.json()["error"]["code"] in ("authentication_failed", "not_authenticated"), label
