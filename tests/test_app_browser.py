"""The app in a real browser: Debian's chromium, driven by Playwright, walks the loop on
the bundled demo photos (create, upload, train, read the estimate, try, download), and
an upload that is not an image is refused with a message in the page."""

from __future__ import annotations

import shutil
import time
import zipfile
from pathlib import Path

import pytest

import smallfit
from smallfit.app.server import serving

CHROMIUM = shutil.which("chromium")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

DEMO = Path(smallfit.__file__).parent / "demo_data" / "fashion" / "train"
CLASSES = ("bag", "sandal", "trouser")
# flags for a closed network: no background connections, no first-run work
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def server(tmp_path):
    """The app on a free local port, in a thread; yields its URL."""
    with serving(tmp_path / "ws") as url:
        yield url


@pytest.fixture
def page(tmp_path):
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(accept_downloads=True)
        yield context.new_page()
        browser.close()


def test_the_loop_in_a_browser_on_the_demo_photos(server, page, tmp_path):
    started = time.monotonic()
    page.goto(server)
    assert time.monotonic() - started < 5  # the page itself loads in well under a second
    page.get_by_label("New project").fill("Demo photos")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("heading", name="Gather examples").wait_for()
    for name in CLASSES:
        page.locator("#upload-label").fill(name)
        page.locator("#upload-files").set_input_files(sorted((DEMO / name).glob("*.png"))[:10])
        page.get_by_role("button", name="Upload").click()
        page.get_by_text(f"Added 10 to {name}.").wait_for()
    assert page.locator(".card").count() == 3
    assert page.locator(".card img").count() == 30

    page.locator("#upload-label").fill("bag")
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    page.locator("#upload-files").set_input_files(notes)
    page.get_by_role("button", name="Upload").click()
    page.get_by_text("notes.txt is not a file the app takes").wait_for()

    page.get_by_role("button", name="2 Train").click()
    page.get_by_text("Advanced").click()
    page.get_by_label("Strategy (empty: compare the default candidates)").fill("probe")
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Fit done").wait_for(timeout=120_000)
    assert "probe" in page.locator("#fit-leaderboard").inner_text()  # streamed as it ran

    page.get_by_role("button", name="3 Understand").click()
    estimate = page.locator(".estimate").inner_text(timeout=10_000)
    assert estimate.count("%") == 3  # the value and its 95% interval
    assert page.get_by_text("Confusion matrix").is_visible()
    page.get_by_role("button", name="bag predicted as bag").click()
    page.get_by_text("bag predicted as bag (out of fold)").wait_for()
    assert page.locator("#cell-items img").count() >= 5
    page.locator("circle.point").first.wait_for()
    assert page.locator("circle.point").count() == 30  # every example on the map
    page.locator("circle.point").first.click()
    page.get_by_label("Move to").wait_for()

    page.get_by_role("button", name="4 Try").click()
    trouser = sorted((DEMO / "trouser").glob("*.png"))[-1]  # not among those uploaded
    page.locator("#try-files").set_input_files(trouser)
    page.get_by_role("button", name="Predict files").click()
    page.locator("#try-results .card").wait_for()
    assert "trouser" in page.locator("#try-results .card").inner_text()

    page.get_by_role("button", name="1 Gather").click()
    page.locator("#upload-label").fill("")
    unlabelled = [sorted((DEMO / name).glob("*.png"))[12 + k] for name in CLASSES for k in (0, 1)]
    page.locator("#upload-files").set_input_files(unlabelled)
    page.get_by_role("button", name="Upload").click()
    page.get_by_text("Added 6 to label later.").wait_for()
    page.get_by_role("button", name="6 Label more").click()
    page.get_by_role("button", name="Suggest examples to label").click()
    page.get_by_text("6 examples suggested").wait_for()
    for key in ("1", "2", "s", "3", "1", "u", "2", "3"):  # label, skip, undo by keyboard
        page.keyboard.press(key)
        time.sleep(0.3)
    project = page.request.get(f"{server}/api/projects/demo_photos").json()
    assert project["unlabeled"] == 1  # 5 labelled, the skipped one left
    assert sum(c["count"] for c in project["classes"].values()) == 35
    page.get_by_role("button", name="2 Train").click()
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Estimated accuracy before:").wait_for(timeout=120_000)

    page.get_by_role("button", name="5 Use").click()
    with page.expect_download() as download:
        page.get_by_text("Download the model folder (zip)").click()
    archive = tmp_path / "model.zip"
    download.value.save_as(archive)
    zipfile.ZipFile(archive).extractall(tmp_path / "unzipped")
    (folder,) = (tmp_path / "unzipped").iterdir()
    model = smallfit.load(folder)
    assert model.classes == list(CLASSES)
