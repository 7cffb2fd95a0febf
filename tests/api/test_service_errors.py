"""One shape for every refusal: services raise ServiceError, the API's exception handler alone answers it."""

import ast
from pathlib import Path

import pytest

from mediaplatform.api.errors import api_exception_handler
from mediaplatform.service_errors import ServiceError
from notifications.services.webhooks import WebhookEndpointLimitReached, WebhookRefused
from processing.annotations import AnnotationError
from processing.services.jobs import JobRefused
from processing.services.reference_import import ReferenceTooLarge
from processing.services.registry import ModelRefused
from videos.services.chunked_upload import UploadRefused
from videos.services.creation import VideoRejected
from videos.services.deletion import VideoAlreadyDeleted
from videos.services.media_analysis import AnalysisRefused
from videos.services.workflow import DELETED

ROOT = Path(__file__).resolve().parents[2]

REFUSALS = [
    (
        VideoRejected(code="too_many_in_flight", message="wait", status_code=429, retry_after=30),
        429,
        "too_many_in_flight",
        {},
    ),
    (UploadRefused(code="upload_busy", message="busy", status_code=409, offset=4), 409, "upload_busy", {"offset": 4}),
    (AnalysisRefused(code="media_unreachable", message="no"), 422, "media_unreachable", {}),
    (ModelRefused(code="invalid_weights", message="no", status_code=422), 422, "invalid_weights", {}),
    (
        JobRefused("Only a failed video can be retried.", state="completed", allowed=["archive"]),
        409,
        "invalid_transition",
        {"state": "completed", "allowed_actions": ["archive"]},
    ),
    (JobRefused("This video was deleted.", state=DELETED, allowed=[]), 410, "gone", {}),
    (ReferenceTooLarge(1024), 413, "file_too_large", {"max_bytes": 1024}),
    (AnnotationError("bad box", line=3), 400, "invalid_reference", {"line": 3}),
    (WebhookRefused("loopback"), 400, "webhook_url_refused", {}),
    (WebhookEndpointLimitReached(20), 409, "webhook_limit_reached", {"limit": 20}),
    (VideoAlreadyDeleted(), 410, "gone", {}),
]


@pytest.mark.parametrize(("refusal", "status", "code", "details"), REFUSALS, ids=lambda v: type(v).__name__)
def test_every_refusal_is_answered_by_the_one_handler(refusal, status, code, details, rf):
    assert isinstance(refusal, ServiceError)
    response = api_exception_handler(refusal, {"request": rf.get("/api/v1/x/")})

    assert response.status_code == status
    assert response.data == {"error": {"code": code, "message": refusal.message, "details": details}}
    if refusal.retry_after:
        assert response["Retry-After"] == str(refusal.retry_after)


def _views_catching_service_errors() -> list[str]:
    names = {cls.__name__ for cls in _subclasses(ServiceError)}
    found = []
    for path in ROOT.glob("*/**/*.py"):
        if not (path.name.startswith("views") or path.name in ("media_api.py",)) or ".venv" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
                found += [f"{path.relative_to(ROOT)}:{node.lineno}" for c in caught if getattr(c, "id", "") in names]
    return found


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_no_api_view_translates_a_refusal_itself():
    assert _views_catching_service_errors() == []
