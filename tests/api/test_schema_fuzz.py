"""Schemathesis over the whole OpenAPI schema, in-process against the Django WSGI app, with every check it has.

With a valid API key, every operation gets its examples, the coverage phase's boundary and negative cases and a
few fuzzed ones (real ids substituted for path ids, so the found-paths are exercised too), checked by all of
schemathesis' checks (`--checks all`): no 5xx, documented status codes, headers and bodies, data the schema
accepts is accepted and data it refuses is refused, deleted things stay gone, auth is not ignored. A stateful
run follows the schema's OpenAPI links (a new video to its runs, a new run to its detections, ...). With invalid
credentials (unknown, revoked, expired or malformed keys, a made-up token) every operation must answer 401
before it looks at the request: never a 5xx, never data.
Bounded: a handful of examples per operation, a few short stateful scenarios, no shrinking.
"""

import re
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
from schemathesis.checks import missing_required_header, negative_data_rejection, positive_data_acceptance
from schemathesis.core.parameters import ParameterLocation

from accounts.models import ApiKey
from accounts.services.api_keys import api_key_create
from audit.services import audit_record
from mediaplatform.api.schema import RESPONSE_LINKS
from tests.factories import ProcessingJobFactory, UserFactory, VideoFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
# tus sends its bytes as application/offset+octet-stream: serialized like any binary body.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

# Refusals of data the schema cannot describe: each is a rule about values relative to other values, to the
# clock, to the stored data or to the outside world, answered with a 4xx naming it. A schema-valid request
# refused this way is not a positive_data_acceptance failure; any other refusal still is. Keyed by operation;
# each entry: (status, error code, a regex over the message, why the schema cannot say it).
SEMANTIC_REFUSALS = {
    "*": [
        (410, "gone", ".", "an earlier example deleted the object: gone is this API's 404 for what was deleted"),
        (400, "invalid", "end_frame must not come before start_frame", "a relation between two fields"),
        (400, "invalid", "^Unknown class", "the classes a run may keep are the chosen model's"),
        (400, "invalid", "model", "the model must be one registered here"),
        (409, ".", ".", "the object's state does not allow it (documented 409)"),
    ],
    "POST /api/v1/api-keys/": [(400, "invalid", "expires_at must be in the future", "relative to the clock")],
    "POST /api/v1/auth/token/": [(400, "invalid", "Unable to log in", "the credentials must be a real user's")],
    "GET /api/v1/jobs/": [(400, "invalid", "must come after", "a relation between two parameters")],
    "GET /api/v1/usage/": [(400, "invalid", "must come after", "a relation between two parameters")],
    "GET /api/v1/usage/users/": [(400, "invalid", "must come after", "a relation between two parameters")],
    "GET /api/v1/videos/": [(400, "invalid", "must come after", "a relation between two parameters")],
    "GET /api/v1/stats/": [(400, "invalid", ".", "a relation between two parameters, or a window too long")],
    "POST /api/media/analyze": [
        (422, "validation_error", r"^config\.(model|classes)", "the model and its classes are the stored ones"),
    ],
    # The body must really be a video (a container the platform reads): bytes the schema cannot describe.
    "POST /api/v1/videos/": [(415, "unsupported_media_type", ".", "the file must be a video")],
    "POST /api/v1/videos/{video_id}/ground-truth/": [(400, "invalid_reference", ".", "the file's contents")],
    "POST /api/v1/jobs/{job_id}/ground-truth/": [(400, "invalid_reference", ".", "the file's contents")],
    # The source must be fetched from the network: where it points is checked hop by hop.
    "POST /api/v1/videos/import/": [(400, "invalid_source_url|source_url_unresolvable", ".", "where the URL points")],
    "POST /api/v1/tus/": [
        (
            400,
            "invalid",
            "^Upload-Metadata( names .* twice|'s value of .* is not base64-encoded UTF-8)",
            "each key once, UTF-8 values",
        ),
        (413, "too_large", ".", "the size limit is a setting"),
        (400, "too_much_data", ".", "the first chunk must fit the Upload-Length header"),
    ],
    # Not generated to the documented pattern (`sha256 <base64>`) by the coverage phase: checked by the view.
    "PATCH /api/v1/tus/{upload_id}/": [(400, "invalid", "^Upload-Checksum", "the checksum header's form")],
    "POST /api/v1/webhooks/": [(400, "webhook_url_refused", ".", "the host must resolve to a public address")],
    # Chunks must fit the session the earlier request declared.
    "PATCH /api/v1/uploads/{upload_id}/": [(400, "too_much_data", ".", "the session's declared size")],
    "POST /api/v1/uploads/": [(400, "invalid", "Give the file's size", "size, or else the Upload-Length header")],
    "POST /api/v1/models/": [
        (422, "invalid_weights", ".", "the file must be weights that load"),
        # Django reads an empty file part as no file: a binary string's length is not generated to minLength.
        (400, "invalid", "^weights: (The submitted file is empty|No file was submitted)", "an empty file part"),
    ],
}
# tus answers a Tus-Resumable it does not speak with 412, as the protocol says (documented); schemathesis counts
# only its usual refusal codes as rejecting a header the schema refuses.
NEGATIVE_REFUSALS = {
    "/api/v1/tus/": (412, "unsupported_version"),
    "/api/v1/tus/{upload_id}/": (412, "unsupported_version"),
}


def _semantic_refusal(case, response) -> str | None:
    """Why a refusal of this case is one the schema cannot describe, or None."""
    if response.status_code < 400 or response.status_code >= 500:
        return None
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return None
    for status, code, message, reason in SEMANTIC_REFUSALS["*"] + SEMANTIC_REFUSALS.get(
        f"{case.method.upper()} {case.operation.path}", []
    ):
        if (
            response.status_code == status
            and re.search(code, str(error.get("code", "")))
            and re.search(message, str(error.get("message", "")))
        ):
            return reason
    return None


def _error_is(response, expected: tuple[int, str] | None) -> bool:
    if expected is None or response.status_code != expected[0]:
        return False
    try:
        return response.json()["error"]["code"] == expected[1]
    except (ValueError, KeyError, TypeError):
        return False


def call_and_validate_all(case, key: str):
    """Send the case and run every check; positive_data_acceptance leaves out the refusals listed above."""
    headers = {"Authorization": f"Api-Key {key}"}
    response = case.call(headers=headers)
    excluded = [positive_data_acceptance] if _semantic_refusal(case, response) else []
    if _error_is(response, NEGATIVE_REFUSALS.get(case.operation.path)):
        excluded += [negative_data_rejection, missing_required_header]
    case.validate_response(response, headers=headers, excluded_checks=excluded)
    return response


@pytest.fixture
def fuzz_context(db, settings):
    """A user with an API key, a video and a run; the WSGI app shares the test transaction."""
    settings.API_RATE_LIMITS = {"key": "100000/min", "user": "100000/min", "anon": "100000/min"}
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        # Staff: the admin-only operations (audit log, usage of every user, models) are reached too.
        user = UserFactory(is_staff=True)
        video = VideoFactory(owner=user, workflow_state="completed", width=64, height=48)
        job = ProcessingJobFactory(video=video, status="completed")
        audit_record(action="video.retention", obj=video, actor_label="system")  # a row without an actor
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
    max_examples=5,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, fuzz_context):
    path = case.meta.components.get(ParameterLocation.PATH) if case.meta else None
    # A case whose path is the invalid part keeps it, to be refused; every other one reaches real objects.
    if path is None or not path.mode.is_negative:
        for name, value in fuzz_context["ids"].items():
            if case.path_parameters and name in case.path_parameters:
                case.path_parameters[name] = value
    call_and_validate_all(case, fuzz_context["key"])


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


def test_stateful_runs_over_the_schema_links_pass_every_check(fuzz_context, video_path):
    """Scenarios over the operations the OpenAPI links join, following them (a new key to reading and revoking
    it, a new run to its detections, a new analysis to its status ...), every step checked like the cases above."""
    key = fuzz_context["key"]
    video_id = fuzz_context["ids"]["video_id"]
    followed_links = set()
    real_video = video_path.read_bytes()

    # The operations the schema's links join: scenarios spend their steps on create-then-use flows.
    linked = set(RESPONSE_LINKS) | {target for links in RESPONSE_LINKS.values() for target in links}
    linked_schema = schema.include(operation_id=sorted(linked))

    class APIWorkflow(linked_schema.as_state_machine()):
        def step(self, input):
            if input.transition is not None and not input.transition.is_inferred and input.is_applied:
                followed_links.add(input.transition.id)
            return super().step(input)

        def get_call_kwargs(self, case):
            # A generated file is never a video: valid uploads carry a real one, so POST video -> GET/DELETE runs.
            positive = case.meta is None or case.meta.generation.mode.is_positive
            if positive and case.operation.path == "/api/v1/videos/" and isinstance(case.body, dict):
                case.body["file"] = real_video
            # Runs are created on the fixture's video: no generated video id reaches a real one.
            if case.path_parameters and "video_id" in case.path_parameters and case.method.upper() == "POST":
                case.path_parameters["video_id"] = video_id
            return {"headers": {"Authorization": f"Api-Key {key}"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            excluded = [positive_data_acceptance] if _semantic_refusal(case, response) else []
            if _error_is(response, NEGATIVE_REFUSALS.get(case.operation.path)):
                excluded += [negative_data_rejection, missing_required_header]
            case.validate_response(response, headers=kwargs.get("headers"), excluded_checks=excluded)

    APIWorkflow.run(
        settings=hypothesis_settings(
            max_examples=12,
            stateful_step_count=5,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
    )
    # The schema's own links were followed with the values they name (not only schemathesis' inferred ones).
    assert followed_links, "no OpenAPI link was followed"
