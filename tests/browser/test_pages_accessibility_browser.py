"""The sign-in page, the video page and the admin (its video list, a video, the periodic task form) at desktop
(1440 px) and phone (390 px) widths: axe-core finds nothing serious or critical, no console error, no CSP report;
the charts' labels read at 12 px or more; the sign-in keeps the username after a refusal."""

import re

import pytest
from playwright.sync_api import Page, expect

from processing.models import ProcessingErrorLog
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import PASSWORD, _open_page, running_video, screenshot, sign_in
from tests.browser.test_content_security_policy_browser import violations, watch_for_violations
from tests.browser.test_library_browser import WIDTHS
from tests.factories import UserFactory, VideoFactory, add_detections

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# The smallest label of the page's charts, in CSS pixels as drawn (the SVG scales with its viewBox).
SMALLEST_CHART_LABEL = """() => {
  const sizes = [...document.querySelectorAll(".chart-svg text")].map((text) => {
    const svg = text.ownerSVGElement;
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    return parseFloat(getComputedStyle(text).fontSize) * scale;
  });
  return sizes.length ? Math.min(...sizes) : null;
}"""


@pytest.fixture(params=sorted(WIDTHS))
def sized(request, browser, base_url):
    page, problems = _open_page(browser, base_url, **WIDTHS[request.param])
    watch_for_violations(page)
    yield page, problems, request.param
    page.context.close()


def clean(page: Page, problems) -> None:
    assert violations(page) == [], page.url
    problems.assert_none()


def test_sign_in_keeps_the_username_and_is_accessible(sized):
    page, problems, width = sized
    user = UserFactory()
    page.goto("/accounts/login/")
    assert_accessible(page)
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("did not match")
    expect(page.get_by_label("Username")).to_have_value(user.username)
    expect(page.get_by_label("Password")).to_be_focused()
    screenshot(page, f"sign_in_refused_{width}")
    assert_accessible(page)
    # The failed sign-in answers 200 with the form again: no failed request to ignore.
    clean(page, problems)


def test_the_video_page_is_accessible_and_its_chart_readable(sized, tmp_path):
    page, problems, width = sized
    user = UserFactory()
    video = running_video(user, tmp_path)
    add_detections(
        video.jobs.get(),
        [(frame, frame % 2, 0.9, (10, 10, 60, 60)) for frame in range(0, 20)],
        class_names=["box", "disc"],
    )
    sign_in(page, user)
    page.goto(f"/videos/{video.pk}/")
    expect(page.locator("#chart svg polyline").first).to_be_attached()
    smallest = page.evaluate(SMALLEST_CHART_LABEL)
    assert smallest is not None and smallest >= 12, f"chart labels drawn at {smallest:.1f} px"
    screenshot(page, f"video_page_{width}")
    assert_accessible(page)
    clean(page, problems)


def test_the_admin_lists_videos_plainly_and_its_pages_keep_the_policy(sized):
    page, problems, width = sized
    staff = UserFactory(is_staff=True, is_superuser=True)
    VideoFactory(title="Quay", workflow_state="processing", progress_percentage="1.33", current_stage="inference")
    VideoFactory(
        title="Stopped", workflow_state="failed", last_error_message="cancelled", cancelled_at="2026-01-01T00:00:00Z"
    )
    failed = VideoFactory(title="Broken", workflow_state="failed", last_error_message="The decoder gave up on frame 12")
    ProcessingErrorLog.objects.create(
        video=failed, stage="inference", error_type="internal_error", message="The decoder gave up on frame 12"
    )
    page.goto("/admin/login/")
    page.get_by_label("Username").fill(staff.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()

    page.goto("/admin/videos/video/")
    results = page.locator("#result_list")
    expect(results.locator(".admin-state-processing")).to_have_text("Processing")
    expect(results.locator(".admin-state-cancelled")).to_have_text("Cancelled")
    expect(results.locator("tr", has_text="Quay").locator(".admin-progress")).to_have_text("1% 1%")
    expect(results.locator("tr", has_text="Broken").locator(".field-error_reason")).to_contain_text("decoder gave up")
    if width == "desktop":
        # Every column fits: the results do not scroll sideways at 1440 px.
        assert page.evaluate(
            "(() => { const r = document.querySelector('.results'); return r.scrollWidth <= r.clientWidth; })()"
        )
    screenshot(page, f"admin_video_list_{width}")
    clean(page, problems)

    page.get_by_role("link", name="Broken").click()
    retry = page.get_by_role("button", name="Retry")
    cancel = page.get_by_role("button", name="Cancel")
    # Allowed: filled; not allowed now: outlined, and it says why.
    assert retry.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(29, 78, 216)"
    assert cancel.evaluate("b => getComputedStyle(b).borderStyle") == "dashed"
    expect(cancel).to_have_attribute("title", re.compile("does not allow this now"))
    screenshot(page, f"admin_video_change_{width}")
    clean(page, problems)

    page.goto("/admin/django_celery_beat/periodictask/add/")
    registered = page.locator("#id_regtask option")
    expect(registered.filter(has_text="processing.tasks.process_video")).to_have_count(1)
    screenshot(page, f"admin_periodic_task_add_{width}")
    clean(page, problems)

    page.goto("/admin/django_celery_beat/periodictask/")
    page.get_by_role("link", name=re.compile("requeue stuck jobs")).first.click()
    expect(page.locator("#id_regtask")).to_have_value("processing.tasks.requeue_stuck_jobs")
    screenshot(page, f"admin_periodic_task_change_{width}")
    clean(page, problems)
