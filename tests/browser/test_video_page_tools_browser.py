"""The video page's tools in a real browser: the boxes drawn at a frame are the stored ones, the detections browser
jumps to where a class or track shows up, frame stepping by button and by key, the shortcuts' help dialog, track
trails, boxes appearing while a run stores them, and the cancelled and failed states, at desktop and phone width.

The clips are real encoded videos served by the real web front; the runs' boxes are written straight to the
database (no worker), so each frame's boxes are known exactly.
"""

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from notifications.models import EventType
from notifications.services.events import event_emit
from processing.models import ErrorType, JobStage, ProcessingErrorLog, RecoveryStrategy
from processing.services.stages import stages_initialise
from tests.browser.conftest import screenshot, sign_in
from tests.factories import UserFactory, add_detections
from tests.videofiles import write_test_video
from videos.models import Video
from videos.services.creation import video_create
from videos.services.transitions import video_transition

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

FPS = 10
FRAMES = 30
NAMES = {0: "person", 1: "bicycle"}
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"


def stored_video(owner, tmp_path, *, title="Harbour", completed=True):
    """A real clip, stored and probed figures set, moved to processing (and completed): no worker takes it."""
    clip = write_test_video(tmp_path / "harbour.mp4", seconds=FRAMES / FPS, fps=FPS)
    upload = SimpleUploadedFile("harbour.mp4", clip.read_bytes(), content_type="video/mp4")
    video = video_create(owner=owner, uploaded_file=upload, title=title, enqueue=False)
    Video.objects.filter(pk=video.pk).update(fps=FPS, width=320, height=240, frame_count=FRAMES, duration_seconds=3)
    video_transition(video_id=video.pk, transition_name="start_validation")
    video_transition(
        video_id=video.pk, transition_name="start_processing", field_updates={"current_stage": "inference"}
    )
    if completed:
        video_transition(video_id=video.pk, transition_name="complete", field_updates={"progress_percentage": 100})
    return Video.objects.get(pk=video.pk)


def person_and_bicycle_rows(frames):
    """Track 1 (a person) walks right on every frame; track 2 (a bicycle) shows from frame 12 to 20."""
    rows = []
    for frame in frames:
        rows.append((frame, 0, 0.9, (20 + 5 * frame, 40, 60 + 5 * frame, 140), 1))
        if 12 <= frame <= 20:
            rows.append((frame, 1, 0.3 + frame / 100, (200, 150 - frame, 260, 200 - frame), 2))
    return rows


@pytest.fixture
def tracked_run(tmp_path):
    owner = UserFactory()
    video = stored_video(owner, tmp_path)
    job = video.jobs.get()
    started = timezone.now() - timedelta(seconds=10)
    job.__class__.objects.filter(pk=job.pk).update(
        status="completed",
        track=True,
        confidence=0.25,
        processed_frames=FRAMES,
        total_frames=FRAMES,
        detections_count=FRAMES + 9,
        started_at=started,
        finished_at=started + timedelta(seconds=6),
    )
    stages_initialise(job=job, upload_finished_at=started)
    # Extraction and inference run at the same time: their bars overlap on the time axis.
    for stage, start, end in (("validation", 0, 1), ("extraction", 1, 6), ("inference", 1, 6)):
        JobStage.objects.filter(job=job, stage=stage).update(
            status="completed",
            started_at=started + timedelta(seconds=start),
            finished_at=started + timedelta(seconds=end),
        )
    add_detections(job, person_and_bicycle_rows(range(FRAMES)), class_names=NAMES, fps=FPS)
    return video, job


def drawn_boxes(page):
    return json.loads(page.locator("#overlay").get_attribute("data-boxes"))


def wait_for_frame(page, frame):
    page.wait_for_function(f"() => document.getElementById('overlay').dataset.frame === '{frame}'")


def test_seeked_frame_draws_the_stored_boxes_and_the_browser_jumps_to_them(page, console_problems, tracked_run):
    video, job = tracked_run
    sign_in(page, video.owner)
    page.goto(f"/videos/{video.pk}/")
    page.wait_for_function("() => document.getElementById('video').readyState >= 2")
    # The slider starts at the run's own floor, not at 0.
    expect(page.locator("#confidence-value")).to_have_text("0.25")

    # The detections browser lists each class and track with first and last seen.
    classes = page.locator("#browser-classes .entry-main")
    expect(classes).to_have_count(2)
    expect(classes.first).to_contain_text("person")
    expect(classes.first).to_contain_text("30 boxes · 0:00.00 to 0:02.90")
    expect(page.locator("#browser-tracks .entry-main")).to_have_count(2)
    bicycle_track = page.locator("#browser-tracks .entry-main", has_text="#2 bicycle")
    expect(bicycle_track).to_contain_text("9 boxes · 0:01.20 to 0:02.00")

    # Jumping to the bicycle track's first frame lands on it; the drawn boxes are the stored ones.
    bicycle_track.click()
    wait_for_frame(page, 12)
    expect(page.locator("#frame-readout")).to_have_text("Frame 12 of 29 · 0:01.20")
    stored = sorted([d.x1, d.y1, d.x2, d.y2, d.class_name, d.track_id] for d in job.detections.filter(frame_index=12))
    assert sorted(drawn_boxes(page)) == stored
    # The canvas has the box's ink where the stored box's left edge is.
    scale = float(page.locator("#overlay").get_attribute("data-scale"))
    offset_x, offset_y = map(float, page.locator("#overlay").get_attribute("data-offset").split(","))
    edge = page.evaluate(
        """([x, y]) => { const c = document.getElementById('overlay');
             return c.getContext('2d').getImageData(Math.round(x), Math.round(y), 1, 1).data[3]; }""",
        [offset_x + 200 * scale, offset_y + (150 - 12 + 200 - 12) / 2 * scale],
    )
    assert edge > 0
    # The frame shown, in words: the text alternative of the canvas.
    expect(page.locator("#browser-frame-heading")).to_have_text("In frame 12: 2 boxes")
    expect(page.locator("#browser-frame li").nth(1)).to_contain_text("bicycle 0.42 (track 2) from 200,138 to 260,188")

    # The last-seen button goes to the class's last frame.
    page.locator("#browser-classes .browser-entry", has_text="bicycle").get_by_role(
        "button", name="Last bicycle"
    ).click()
    wait_for_frame(page, 20)

    # Trails: the person's track has a path behind it.
    assert int(page.locator("#overlay").get_attribute("data-trails")) >= 1

    # Seek-bar markers where the ticked classes appear; unticking every class takes them away.
    markers = page.locator("#seek-markers .marker")
    expect(markers.first).to_be_attached()
    assert markers.count() >= FRAMES // 2
    # With the person unticked, the markers are where the bicycle shows up: frames 12 to 20.
    page.locator("#class-filter label", has_text="person").locator("input").uncheck()
    expect(markers).to_have_count(9)
    expect(page.locator('#seek-markers .marker[data-class-name="bicycle"]')).to_have_count(9)
    page.locator("#class-filter label", has_text="person").locator("input").check()

    # The stage timeline: extraction and inference overlap on one time axis.
    extraction = page.locator('#timeline li[data-stage="extraction"] .fill')
    inference = page.locator('#timeline li[data-stage="inference"] .fill')
    expect(page.locator('#timeline li[data-stage="ground_truth"] .name')).to_have_text("Ground truth")
    assert extraction.get_attribute("data-left") == inference.get_attribute("data-left")
    assert float(extraction.get_attribute("data-left")) > 0
    screenshot(page, "video_page_tools_desktop")

    for box in page.locator("#class-filter input[type=checkbox]").all():
        box.uncheck()
    expect(markers).to_have_count(0)
    page.wait_for_function("() => document.getElementById('overlay').dataset.drawn === '0'")
    console_problems.assert_none()


def test_frame_steps_shortcuts_and_help_dialog(page, console_problems, tracked_run):
    video, _job = tracked_run
    sign_in(page, video.owner)
    page.goto(f"/videos/{video.pk}/")
    page.wait_for_function("() => document.getElementById('video').readyState >= 2")
    expect(page.locator("#browser-classes .entry-main")).to_have_count(2)
    page.locator("#browser-classes .entry-main", has_text="bicycle").click()
    wait_for_frame(page, 12)

    page.get_by_role("button", name="Next frame").click()
    wait_for_frame(page, 13)
    page.get_by_role("button", name="Previous frame").click()
    page.get_by_role("button", name="Previous frame").click()
    wait_for_frame(page, 11)
    expect(page.locator("#frame-readout")).to_have_text("Frame 11 of 29 · 0:01.10")

    # The keys work from anywhere on the page that is not a text field.
    page.locator("#browser-heading").click()
    page.keyboard.press(".")
    wait_for_frame(page, 12)
    page.keyboard.press(",")
    wait_for_frame(page, 11)
    page.keyboard.press("j")  # back one second
    wait_for_frame(page, 1)
    page.keyboard.press("l")
    page.wait_for_function("() => !document.getElementById('video').paused")
    page.keyboard.press("k")
    page.wait_for_function("() => document.getElementById('video').paused")
    page.keyboard.press(" ")
    page.wait_for_function("() => !document.getElementById('video').paused")
    page.keyboard.press(" ")
    page.wait_for_function("() => document.getElementById('video').paused")

    # Typing in a field is left alone.
    page.get_by_label("MOT class names").fill("a.b,c")
    expect(page.get_by_label("MOT class names")).to_have_value("a.b,c")

    # "?" opens the list of shortcuts as a modal dialog that takes the focus; Escape closes it and gives it back.
    page.locator("#browser-heading").click()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    expect(dialog).to_contain_text("One frame back, one frame forward")
    screenshot(page, "video_page_shortcuts_help")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Shortcuts").click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Shortcuts")).to_be_focused()
    console_problems.assert_none()


def test_boxes_appear_while_the_run_stores_them(page, console_problems, tmp_path):
    owner = UserFactory()
    video = stored_video(owner, tmp_path, completed=False)
    job = video.jobs.get()
    job.__class__.objects.filter(pk=job.pk).update(
        status="running", track=True, confidence=0.4, total_frames=FRAMES, started_at=timezone.now()
    )
    add_detections(job, person_and_bicycle_rows(range(0, 10)), class_names=NAMES, fps=FPS)
    sign_in(page, owner)
    page.goto(f"/videos/{video.pk}/")
    expect(page.locator("#live-status")).to_have_text("live")
    expect(page.locator("#browser-summary")).to_contain_text(
        "10 boxes of 1 class at confidence ≥ 0.40, 1 track so far."
    )
    page.wait_for_function("() => Number(document.getElementById('overlay').dataset.drawn) === 1")

    # The worker stores ten more frames and says so: the page fetches them without a reload.
    add_detections(job, person_and_bicycle_rows(range(10, 20)), class_names=NAMES, fps=FPS)
    job.__class__.objects.filter(pk=job.pk).update(processed_frames=20, detections_count=28)
    with transaction.atomic():
        locked = Video.objects.select_for_update().get(pk=video.pk)
        event_emit(
            video=locked,
            event_type=EventType.PROCESSING_PROGRESS,
            data={"stage": "inference", "progress_percentage": 66.7, "frames_processed": 20, "total_frames": FRAMES},
        )
    expect(page.locator("#fig-objects")).to_have_text("28")
    expect(page.locator("#fig-frames")).to_have_text("20 / 30")
    expect(page.locator("#browser-classes .entry-main", has_text="bicycle")).to_contain_text("8 boxes")
    page.locator("#browser-classes .entry-main", has_text="bicycle").click()
    wait_for_frame(page, 12)
    page.wait_for_function("() => Number(document.getElementById('overlay').dataset.drawn) === 2")
    screenshot(page, "video_page_live_boxes")
    console_problems.assert_none()


def test_a_cancelled_run_reads_cancelled_with_what_it_kept(page, phone_page_and_problems, console_problems, tmp_path):
    owner = UserFactory()
    video = stored_video(owner, tmp_path, completed=False)
    job = video.jobs.get()
    job.__class__.objects.filter(pk=job.pk).update(processed_frames=12, total_frames=FRAMES, detections_count=12)
    add_detections(job, person_and_bicycle_rows(range(0, 12)), class_names=NAMES, fps=FPS)
    sign_in(page, owner)
    page.goto(f"/videos/{video.pk}/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#state-badge")).to_have_text("cancelled")
    expect(page.locator("#cancelled-note")).to_have_text("Cancelled: 12 frames processed of 30, 12 detections kept.")
    expect(page.locator("#objects-label")).to_have_text("Objects kept")
    expect(page.locator("#fig-objects")).to_have_text("12")
    expect(page.locator("#failure-banner")).to_be_hidden()
    expect(page.locator("#errors-card")).to_be_hidden()
    expect(page.get_by_role("button", name="Retry")).to_be_enabled()
    screenshot(page, "video_page_cancelled_kept")
    console_problems.assert_none()

    phone, phone_problems = phone_page_and_problems
    sign_in(phone, owner)
    phone.goto(f"/videos/{video.pk}/")
    expect(phone.locator("#cancelled-note")).to_be_visible()
    # On a phone the player comes first, the figures after it.
    player_top = phone.locator("#player-card").bounding_box()["y"]
    figures_top = phone.locator(".figures").bounding_box()["y"]
    assert player_top < figures_top
    assert phone.evaluate(NO_SIDEWAYS_SCROLL)
    screenshot(phone, "video_page_cancelled_phone")
    phone_problems.assert_none()


def test_a_failed_video_says_why_and_offers_retry_only_when_it_can_help(page, console_problems, tmp_path):
    owner = UserFactory()
    video = stored_video(owner, tmp_path, completed=False)
    ProcessingErrorLog.objects.create(
        video=video,
        job=video.jobs.get(),
        stage="extraction",
        error_type=ErrorType.FILE_CORRUPTION,
        error_code="undecodable",
        message="Invalid data found when processing input (avcodec -1094995529)",
        recovery_strategy=RecoveryStrategy.USER_NOTIFICATION,
    )
    video_transition(
        video_id=video.pk,
        transition_name="fail",
        reason="undecodable",
        field_updates={"last_error_message": "undecodable"},
    )
    sign_in(page, owner)
    page.goto(f"/videos/{video.pk}/")
    banner = page.get_by_role("alert")
    expect(banner).to_contain_text("The video could not be decoded: the file is damaged")
    expect(banner).to_contain_text("Retrying would fail the same way")
    expect(page.locator("#live-status")).to_have_text("live")
    expect(page.get_by_role("button", name="Retry")).to_be_hidden()
    expect(page.get_by_role("button", name="Archive")).to_be_enabled()
    expect(page.locator("#errors-card")).to_be_visible()
    expect(page.locator("#exports")).to_be_hidden()
    expect(page.locator("#evaluation")).to_be_hidden()
    screenshot(page, "video_page_failed")
    console_problems.assert_none()
