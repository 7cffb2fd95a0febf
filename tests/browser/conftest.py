"""Playwright driving Debian's chromium against the real web front and Celery worker.

The browser is launched from /usr/bin/chromium (Playwright cannot download its own here). Every page
fixture collects console errors and uncaught exceptions; tests assert there are none. Screenshots go
to var/test-artifacts/ for a person to look at.
"""

import os
import re
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM calls from the test are still
# plain synchronous calls, so allow them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
TIMEOUT_MS = 120_000  # a busy 2-core machine: wait generously, assert nothing about time
PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's


@pytest.fixture(scope="session")
def browser() -> Browser:
    if not Path(CHROMIUM).exists():
        # A failure, not a skip: a suite that passes without its browser tests has not tested the pages.
        pytest.fail(f"no chromium at {CHROMIUM}: install it (Debian: apt-get install chromium) or set CHROMIUM_PATH")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class PageProblems(list):
    """Console errors and uncaught exceptions seen by a page."""

    def assert_none(self, ignore: tuple[str, ...] = ()):
        """No problems, except the failed requests a test provoked on purpose (e.g. a 409 it asserts on)."""
        left = [problem for problem in self if not any(part in problem for part in ignore)]
        assert not left, "browser console errors:\n" + "\n".join(left)


def _open_page(browser: Browser, base_url: str, **context_options) -> tuple[Page, PageProblems]:
    context = browser.new_context(base_url=base_url, **context_options)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems = PageProblems()
    page.on("console", lambda msg: problems.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    page.on(
        "response",
        lambda response: (
            problems.append(f"HTTP {response.status} {response.request.method} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    return page, problems


@pytest.fixture
def base_url(live_server_process) -> str:
    return f"http://{live_server_process}"


@pytest.fixture
def page_and_problems(browser, base_url):
    page, problems = _open_page(browser, base_url)
    yield page, problems
    page.context.close()


@pytest.fixture
def page(page_and_problems) -> Page:
    return page_and_problems[0]


@pytest.fixture
def console_problems(page_and_problems) -> PageProblems:
    return page_and_problems[1]


@pytest.fixture
def phone_page_and_problems(browser, base_url):
    page, problems = _open_page(
        browser, base_url, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    yield page, problems
    page.context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, user) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


def wait_for_state(video_id, states: set[str], timeout: float = 300):
    """Poll the database until the video reaches one of `states` (the worker processes it meanwhile)."""
    import time

    from videos.models import Video

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        video = Video.objects.get(pk=video_id)
        if video.workflow_state in states:
            return video
        time.sleep(0.5)
    raise AssertionError(f"video {video_id} is {video.workflow_state}, not in {states}, after {timeout}s")


def running_video(owner, tmp_path):
    """A video stopped part of the way through processing: no worker takes it, as it is never queued."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.videofiles import write_test_video
    from videos.services.creation import video_create
    from videos.services.transitions import video_transition

    clip = write_test_video(tmp_path / "pier.mp4", seconds=2, fps=10)
    upload = SimpleUploadedFile("pier.mp4", clip.read_bytes(), content_type="video/mp4")
    video = video_create(owner=owner, uploaded_file=upload, title="Pier", enqueue=False)
    video_transition(video_id=video.pk, transition_name="start_validation")
    return video_transition(
        video_id=video.pk,
        transition_name="start_processing",
        field_updates={"progress_percentage": 37.2, "current_stage": "inference"},
    )


@pytest.fixture
def processed_video(live_worker_process, tmp_path):
    """A user's video uploaded through the service and processed by the live worker to completed."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import UserFactory
    from tests.videofiles import write_test_video
    from videos.services.creation import video_create

    user = UserFactory()
    clip = write_test_video(tmp_path / "street.mp4", seconds=3, fps=10)
    upload = SimpleUploadedFile("street.mp4", clip.read_bytes(), content_type="video/mp4")
    video = video_create(owner=user, uploaded_file=upload, title="Street corner")
    return wait_for_state(video.pk, {"completed", "failed"})
