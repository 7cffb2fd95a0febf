"""Validation on the video page in a real browser: import a reference, evaluate the run, read the table and plot."""

import re

import pytest
from playwright.sync_api import expect

from processing.exports.coco import coco_export
from tests.browser.conftest import PASSWORD, screenshot, sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"
WIDEST = """() => Array.from(document.querySelectorAll("body *"))
  .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 5).map((e) => `${e.tagName}.${e.className}#${e.id} ${Math.round(e.getBoundingClientRect().right)}`)"""


def test_import_a_reference_evaluate_the_run_and_see_the_figures(
    page, console_problems, phone_page_and_problems, processed_video, tmp_path
):
    video = processed_video
    assert video.workflow_state == "completed", video.last_error_message
    run = video.jobs.get()
    assert run.detections_count > 0
    sign_in(page, video.owner)
    page.goto(f"/videos/{video.pk}/")
    expect(page.locator("#live-status")).to_have_text("live")
    expect(page.locator("#reference-summary")).to_contain_text("No ground truth yet")
    expect(page.get_by_role("button", name="Evaluate run")).to_be_disabled()

    # A broken file is refused with the line at fault, and nothing changes.
    bad = tmp_path / "broken.txt"
    bad.write_text("1,1,10,10,20,20,1,1\n2,1,10,10,-5,20,1,1\n")
    page.get_by_label("Reference annotations").set_input_files(str(bad))
    page.get_by_label("MOT class names").fill("box")
    page.get_by_role("button", name="Import reference").click()
    expect(page.locator("#evaluation-message")).to_contain_text("line 2: width and height must be positive")
    expect(page.locator("#evaluation-message")).to_have_class("message error")
    expect(page.locator("#reference-summary")).to_contain_text("No ground truth yet")

    # The run's own COCO export as the reference: the run must then score precision = recall = 1.
    reference = tmp_path / "reference.json"
    reference.write_bytes(b"".join(coco_export(run)))
    page.get_by_label("Reference annotations").set_input_files(str(reference))
    page.get_by_role("button", name="Import reference").click()
    expect(page.locator("#evaluation-message")).to_contain_text(f"Imported {run.detections_count} boxes")
    expect(page.locator("#reference-summary")).to_contain_text("Ground truth: reference.json (COCO)")
    expect(page.locator("#evaluation-state")).to_have_text("This run has not been evaluated yet.")
    # The timeline and exports still follow the run, not the imported reference.
    expect(page.locator("#exports a[data-format=coco]")).to_have_attribute(
        "href", f"/api/v1/jobs/{run.pk}/export/coco/"
    )
    expect(page.locator("#timeline")).to_contain_text("Inference")

    # Keyboard: from the run chooser, Tab reaches the button and Enter queues the evaluation.
    expect(page.get_by_label("Run to evaluate")).to_have_value(str(run.pk))
    page.get_by_label("Run to evaluate").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Evaluate run")).to_be_focused()
    page.keyboard.press("Enter")

    # The live worker computes it; the page polls and draws it without a reload.
    expect(page.locator("#evaluation-result")).to_be_visible()
    expect(page.locator("#evaluation-result")).to_have_attribute("data-status", "completed")
    expect(page.locator("#evaluation-state")).to_contain_text("precision 1.000, recall 1.000")
    table = page.get_by_role("table", name="Per class, matched at IoU 0.5")
    expect(table.get_by_role("columnheader")).to_have_count(6)
    expect(table.locator("tbody tr")).not_to_have_count(0)
    total = table.locator("tfoot tr")
    expect(total.locator("th")).to_have_text("All classes")
    expect(total.locator("td").nth(0)).to_have_text("1.000")
    expect(total.locator("td").nth(1)).to_have_text("1.000")
    expect(total.locator("td").nth(4)).to_contain_text("FP 0 · FN 0")
    plot = page.get_by_role("img", name="Precision-recall curves")
    expect(plot.locator("polyline")).to_have_count(table.locator("tbody tr").count())
    points = plot.locator("polyline").first.get_attribute("points").split()
    assert len(points) == 101
    # Precision 1 all the way to recall 1: every point sits on the top line of the plot.
    assert len({point.split(",")[1] for point in points}) == 1
    screenshot(page, "evaluation_desktop")

    # After a reload the player draws the run's boxes, not the imported reference's (the server's default).
    # (expect() rather than a wait_for_function predicate string: the page's CSP forbids eval.)
    page.reload()
    expect(page.locator("#overlay")).to_have_attribute("data-job", str(run.pk))
    expect(page.locator("#overlay")).to_have_attribute("data-drawn", re.compile(r"^[1-9]"))
    expect(page.locator("#evaluation-result")).to_have_attribute("data-status", "completed")
    console_problems.assert_none(ignore=("HTTP 400 POST", "status of 400"))

    # The same page on a phone: the evaluation is shown and nothing scrolls sideways.
    phone, phone_problems = phone_page_and_problems
    phone.goto("/accounts/login/")
    phone.get_by_label("Username").fill(video.owner.username)
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("button", name="Sign in").tap()
    expect(phone.locator("#live-status")).to_have_text("live")
    phone.goto(f"/videos/{video.pk}/")
    expect(phone.locator("#evaluation-result")).to_be_visible()
    expect(phone.get_by_role("img", name="Precision-recall curves").locator("polyline").first).to_be_attached()
    phone.locator("#evaluation").scroll_into_view_if_needed()
    assert phone.evaluate(NO_SIDEWAYS_SCROLL), f"the video page scrolls sideways on a phone: {phone.evaluate(WIDEST)}"
    screenshot(phone, "evaluation_phone")
    phone_problems.assert_none()
