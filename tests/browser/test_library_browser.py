"""The dashboard's library, welcome, figures and live list in Chromium, at desktop (1440 px) and phone (390 px)
widths: screenshots in var/test-artifacts/, axe-core finds nothing serious, no console error, no CSP report."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import Locator, Page, expect

from processing.models import DetectorModel
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import _open_page, running_video, screenshot, sign_in
from tests.browser.test_content_security_policy_browser import violations, watch_for_violations
from tests.factories import UserFactory, VideoFactory
from tests.videofiles import write_test_video
from videos.models import Video
from videos.services.creation import video_create
from videos.services.deletion import video_soft_delete
from videos.services.transitions import video_transition

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

WIDTHS = {
    "desktop": {"viewport": {"width": 1440, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}

# Every state the live badge is shown in, from the first paint on.
RECORD_BADGE = """
window.__badge = [];
new MutationObserver(() => {
  const badge = document.getElementById("live-status");
  if (!badge) return;
  const shown = badge.hidden ? "(hidden)" : badge.textContent;
  if (window.__badge[window.__badge.length - 1] !== shown) window.__badge.push(shown);
}).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""


@pytest.fixture(params=sorted(WIDTHS))
def sized(request, browser, base_url):
    """A page at one of the two widths, its problems, and the width's name for the screenshots."""
    page, problems = _open_page(browser, base_url, **WIDTHS[request.param])
    watch_for_violations(page)
    yield page, problems, request.param
    page.context.close()


def fits_the_width(page: Page) -> bool:
    """Nothing wider than the screen (a phone would otherwise zoom out to show it all)."""
    return page.evaluate("document.scrollingElement.scrollWidth") <= page.viewport_size["width"]


def clean(page: Page, problems, ignore: tuple[str, ...] = ()) -> None:
    assert violations(page) == [], page.url
    problems.assert_none(ignore=ignore)


def a_library(owner, tmp_path) -> dict[str, Video]:
    """One video in each state a list shows, plus an archived one."""
    videos = {
        "completed": VideoFactory(
            owner=owner,
            title="Harbour at dawn",
            workflow_state="completed",
            objects_detected_count=12,
            duration_seconds=75,
            frames_per_second_processed=31.6,
            progress_percentage=100,
        ),
        "cancelled": VideoFactory(
            owner=owner,
            title="Stopped halfway",
            workflow_state="failed",
            last_error_message="cancelled",
            cancelled_at="2026-01-01T00:00:00Z",
            objects_detected_count=1,
            progress_percentage=40,
        ),
        "failed": VideoFactory(
            owner=owner, title="Broken file", workflow_state="failed", last_error_message="The decoder gave up"
        ),
        "archived": VideoFactory(owner=owner, title="Old archive", workflow_state="archived"),
    }
    videos["running"] = running_video(owner, tmp_path)
    return videos


def row(page: Page, video) -> Locator:
    return page.locator(f'#video-rows tr[data-video-id="{video.pk}"]')


def test_the_library_reads_well_at_both_widths(sized, tmp_path):
    page, problems, width = sized
    user = UserFactory()
    videos = a_library(user, tmp_path)
    page.add_init_script(RECORD_BADGE)
    sign_in(page, user)
    expect(page.locator("#live-status")).to_have_text("live")
    # The socket opened without the badge ever saying offline first.
    assert "offline: polling" not in page.evaluate("window.__badge")

    cancelled = row(page, videos["cancelled"])
    expect(cancelled.locator(".badge")).to_have_text("cancelled")
    expect(cancelled.locator(".kept-text")).to_have_text("Kept 1 object found before the cancel")
    expect(cancelled.locator(".error-text")).to_have_text("")
    grey = cancelled.locator(".badge").evaluate("b => getComputedStyle(b).backgroundColor")
    assert grey == "rgb(229, 231, 235)", grey
    expect(row(page, videos["failed"]).locator(".error-text")).to_have_text("The decoder gave up")
    expect(row(page, videos["running"]).locator(".stage")).to_have_text("Inference")
    expect(row(page, videos["completed"]).locator(".speed")).to_have_text("31.6")
    expect(row(page, videos["completed"]).locator(".duration")).to_have_text("1:15")
    expect(row(page, videos["archived"])).to_have_count(0)  # archived: hidden unless asked
    expect(row(page, videos["completed"]).locator(".poster-placeholder")).to_be_visible()
    assert fits_the_width(page), "the page scrolls sideways"
    if width == "phone":
        # A card per video: its cells stack under the preview instead of a table wider than the screen.
        assert row(page, videos["completed"]).evaluate("r => getComputedStyle(r).display") == "grid"
        expect(page.get_by_role("link", name="Title")).to_be_visible()  # sorting stays on the phone
    screenshot(page, f"library_{width}")

    page.get_by_label("Show archived").check()
    page.get_by_role("button", name="Filter").click()
    expect(row(page, videos["archived"]).locator(".badge")).to_have_text("archived")
    page.get_by_role("link", name="Title").click()
    expect(page.locator("th.col-title")).to_have_attribute("aria-sort", "ascending")
    titles = page.locator("#video-rows tr[data-video-id] .name").all_inner_texts()
    assert titles == sorted(titles, key=str.lower), titles
    screenshot(page, f"library_sorted_with_archived_{width}")
    assert_accessible(page)
    clean(page, problems)


def test_rename_delete_and_bulk_actions_from_the_list(sized, tmp_path):
    page, problems, width = sized
    user = UserFactory()
    videos = a_library(user, tmp_path)
    sign_in(page, user)

    # Rename in place.
    completed = row(page, videos["completed"])
    completed.get_by_role("button", name="Rename").click()
    title_box = completed.get_by_label("New title")
    expect(title_box).to_be_focused()
    title_box.fill("Harbour, renamed")
    completed.get_by_role("button", name="Save").click()
    expect(completed.locator(".name")).to_have_text("Harbour, renamed")
    assert Video.objects.get(pk=videos["completed"].pk).title == "Harbour, renamed"

    # Delete asks first; keeping it changes nothing.
    failed = row(page, videos["failed"])
    failed.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("cannot be undone")
    screenshot(page, f"library_delete_confirm_{width}")
    dialog.get_by_role("button", name="Keep it").click()
    expect(failed).to_have_count(1)
    failed.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(failed).to_have_count(0)
    expect(page.locator("#bulk-results")).to_contain_text("“Broken file” deleted.")
    assert Video.objects.get(pk=videos["failed"].pk).deleted_at is not None

    # Deleted meanwhile elsewhere: the API's 410 reads as already deleted.
    video_soft_delete(video_id=videos["cancelled"].pk)
    row(page, videos["cancelled"]).get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.locator("#bulk-results")).to_contain_text("was already deleted")
    expect(row(page, videos["cancelled"])).to_have_count(0)

    # Archive two at once: the running one is refused, the completed one archived, each said.
    row(page, videos["completed"]).locator(".pick").check()
    row(page, videos["running"]).locator(".pick").check()
    expect(page.locator("#bulk-count")).to_have_text("2 of 2 selected")
    page.get_by_label("With the selected videos").select_option("archive")
    page.get_by_role("button", name="Apply").click()
    results = page.locator("#bulk-results")
    expect(results).to_contain_text("1 of 2 videos archived.")
    expect(results).to_contain_text("“Harbour, renamed”: archived.")
    expect(results).to_contain_text("“Pier”: Only a completed or failed video can be archived")
    expect(row(page, videos["completed"]).locator(".badge")).to_have_text("archived")
    assert Video.objects.get(pk=videos["completed"].pk).workflow_state == "archived"
    assert Video.objects.get(pk=videos["running"].pk).workflow_state == "processing"
    screenshot(page, f"library_bulk_result_{width}")
    assert_accessible(page)
    clean(page, problems, ignore=("HTTP 410 DELETE", "status of 410"))


def test_the_first_visit_gets_a_welcome(sized):
    page, problems, width = sized
    user = UserFactory()
    DetectorModel.objects.create(
        name="street-model", weights="detectors/street.pt", is_default=True, class_names={"0": "person", "1": "car"}
    )
    sign_in(page, user)
    welcome = page.locator("#welcome")
    expect(welcome).to_contain_text("Welcome to mediaplatform")
    expect(welcome).to_contain_text(f"load_sample_video --owner {user.username}")
    expect(welcome.get_by_role("link", name="Upload a file")).to_be_visible()
    expect(welcome.get_by_role("link", name="Import from a URL")).to_be_visible()
    # The welcome names what the default model finds.
    expect(welcome.locator("#welcome-classes")).to_have_text(
        "The default model, street-model, finds 2 kinds of object: person, car."
    )
    expect(page.locator("#figures")).to_be_hidden()
    assert fits_the_width(page)
    screenshot(page, f"welcome_{width}")
    assert_accessible(page)
    clean(page, problems)


def test_staff_see_their_own_videos_live_and_everyones_under_all_videos(page, console_problems, tmp_path):
    staff = UserFactory(is_staff=True, username="staff-member")
    someone = UserFactory(username="someone-else")
    VideoFactory(owner=staff, title="Mine already")
    page.set_viewport_size({"width": 1440, "height": 900})
    watch_for_violations(page)
    sign_in(page, staff)
    expect(page.locator("#live-status")).to_have_text("live")
    expect(page.locator("#figures-title")).to_have_text("Last 24 hours · your videos")

    (tmp_path / "theirs").mkdir()
    (tmp_path / "mine").mkdir()
    theirs = running_video(someone, tmp_path / "theirs")
    mine = running_video(staff, tmp_path / "mine")
    # Their events were sent before mine: once mine is listed, theirs would have been too.
    expect(row(page, mine)).to_have_count(1)
    expect(row(page, theirs)).to_have_count(0)
    expect(page.locator('#stats [data-stat="total_videos"]')).to_have_text("2")
    page.reload()
    expect(row(page, theirs)).to_have_count(0)

    page.get_by_role("link", name="All videos").click()
    expect(page.locator("#library-title")).to_contain_text("All videos")
    expect(page.locator("#figures-title")).to_have_text("Last 24 hours · everyone's videos")
    expect(page.locator('#stats [data-stat="total_videos"]')).to_have_text("3")
    expect(row(page, theirs).locator(".owner")).to_have_text("someone-else")
    expect(page.locator("th.col-owner")).to_be_visible()
    expect(page.locator("#live-status")).to_have_text("live")
    # Another user's new video shows up live in everyone's list.
    clip = write_test_video(tmp_path / "late.mp4", seconds=1, fps=10)
    late = video_create(
        owner=someone,
        uploaded_file=SimpleUploadedFile("late.mp4", clip.read_bytes(), content_type="video/mp4"),
        title="Arrived later",
        enqueue=False,
    )
    video_transition(video_id=late.pk, transition_name="start_validation")
    expect(row(page, late)).to_have_count(1)
    screenshot(page, "library_all_videos_staff_desktop")
    assert_accessible(page)
    assert violations(page) == []
    console_problems.assert_none()


def test_the_badge_says_offline_only_after_a_real_loss(page, console_problems):
    user = UserFactory()
    page.add_init_script(RECORD_BADGE)
    sockets = []

    def refuse_after_first(socket):
        sockets.append(socket)
        if len(sockets) > 1:
            socket.close(code=1011)
        else:
            socket.connect_to_server()

    page.route_web_socket(re.compile(r"/ws/videos/"), refuse_after_first)
    sign_in(page, user)
    expect(page.locator("#live-status")).to_have_text("live")
    assert page.evaluate("window.__badge")[:2] == ["(hidden)", "live"]
    sockets[0].close(code=1011)
    expect(page.locator("#live-status")).to_have_text("offline: polling")
    expect(page.locator("#live-status")).to_have_class("live off lost")
    screenshot(page, "dashboard_offline_after_loss")
    console_problems.assert_none(ignore=("WebSocket",))
