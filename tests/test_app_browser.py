"""The app in a real browser: Debian's chromium, driven by Playwright, walks the loop on
the bundled demo photos and on pasted texts (create, add, train, read the estimate, open
a confusion cell, act on the doctor's findings, try, label by keyboard, retrain,
download); two tabs follow one project; a server killed during a fit is restarted and
the page finds its earlier model intact and the fit marked interrupted; axe-core finds
no accessibility violation on any step."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import smallfit
from smallfit.app.server import serving
from tests.conftest import TEXTS

CHROMIUM = shutil.which("chromium")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = playwright.expect
axe = pytest.importorskip("axe_playwright_python.sync_playwright", reason="axe is not installed")
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
FIT_SECONDS = 120_000  # ms a fit may take on 2 busy cores


@pytest.fixture
def server(tmp_path):
    """The app on a free local port, in a thread; yields its URL."""
    with serving(tmp_path / "ws") as url:
        yield url


@pytest.fixture
def browser():
    """A browser context: its pages are tabs that share the cookies and downloads."""
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium.new_context(accept_downloads=True)
        chromium.close()


@pytest.fixture
def page(browser):
    return browser.new_page()


def accessible(page) -> None:
    """axe-core (vendored by axe-playwright-python, no network) finds no violation of
    the WCAG rules it checks on what the page shows now."""
    results = axe.Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def create_project(page, url: str, name: str) -> None:
    page.goto(url)
    page.get_by_label("New project").fill(name)
    page.get_by_role("button", name="Create").click()
    page.get_by_role("heading", name="Gather examples").wait_for()


def paste(page, label: str, texts: list[str]) -> None:
    page.locator("#texts-label").fill(label)
    page.get_by_label("Texts, one per line").fill("\n".join(texts))
    page.get_by_role("button", name="Add texts").click()
    expect(page.get_by_label("Texts, one per line")).to_have_value("")  # emptied once added
    expect(page.locator("#gather-message")).to_have_text(f"Added {len(texts)} texts.")


def train(page, strategy: str = "") -> None:
    page.get_by_role("button", name="2 Train").click()
    if strategy:
        if not page.get_by_label("Strategy (empty: compare the default candidates)").is_visible():
            page.get_by_text("Advanced").click()
        page.get_by_label("Strategy (empty: compare the default candidates)").fill(strategy)
    page.get_by_role("button", name="Train", exact=True).click()


def label_by_keyboard(page, keys: str) -> None:
    page.get_by_role("button", name="6 Label more").click()
    page.get_by_role("button", name="Suggest examples to label").click()
    page.get_by_text("6 examples suggested").wait_for()
    for key in keys:  # label, skip, undo by keyboard
        page.keyboard.press(key)
        time.sleep(0.3)


def download_and_load(page, tmp_path: Path):
    page.get_by_role("button", name="5 Use").click()
    with page.expect_download() as download:
        page.get_by_text("Download the model folder (zip)").click()
    archive = tmp_path / "model.zip"
    download.value.save_as(archive)
    zipfile.ZipFile(archive).extractall(tmp_path / "unzipped")
    (folder,) = (tmp_path / "unzipped").iterdir()
    return smallfit.load(folder)


def test_the_loop_in_a_browser_on_the_demo_photos(server, page, tmp_path):
    started = time.monotonic()
    create_project(page, server, "Demo photos")
    assert time.monotonic() - started < 5  # the page itself loads in well under a second
    for name in CLASSES:
        page.locator("#upload-label").fill(name)
        page.locator("#upload-files").set_input_files(sorted((DEMO / name).glob("*.png"))[:10])
        page.get_by_role("button", name="Upload", exact=True).click()
        page.get_by_text(f"Added 10 to {name}.").wait_for()
    assert page.locator(".card").count() == 3
    assert page.locator(".card img").count() == 30
    accessible(page)

    page.locator("#upload-label").fill("bag")
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    page.locator("#upload-files").set_input_files(notes)
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("notes.txt is not a file the app takes").wait_for()

    train(page, "probe")
    page.get_by_text("Fit done").wait_for(timeout=FIT_SECONDS)
    assert "probe" in page.locator("#fit-leaderboard").inner_text()  # streamed as it ran
    accessible(page)

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
    accessible(page)

    page.get_by_role("button", name="4 Try").click()
    trouser = sorted((DEMO / "trouser").glob("*.png"))[-1]  # not among those uploaded
    page.locator("#try-files").set_input_files(trouser)
    page.get_by_role("button", name="Predict files").click()
    page.locator("#try-results .card").wait_for()
    assert "trouser" in page.locator("#try-results .card").inner_text()
    accessible(page)

    page.get_by_role("button", name="1 Gather").click()
    page.locator("#upload-label").fill("")
    unlabelled = [sorted((DEMO / name).glob("*.png"))[12 + k] for name in CLASSES for k in (0, 1)]
    page.locator("#upload-files").set_input_files(unlabelled)
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("Added 6 to label later.").wait_for()
    label_by_keyboard(page, "12s31u23")
    accessible(page)
    project = page.request.get(f"{server}/api/projects/demo_photos").json()
    assert project["unlabeled"] == 1  # 5 labelled, the skipped one left
    assert sum(c["count"] for c in project["classes"].values()) == 35
    train(page)
    page.get_by_text("Estimated accuracy before:").wait_for(timeout=FIT_SECONDS)

    model = download_and_load(page, tmp_path)
    accessible(page)
    assert model.classes == list(CLASSES)


UNLABELLED = [
    "The midfielder was sent off in the derby.",
    "Knead the dough until it is smooth and elastic.",
    "Bond yields climbed as markets priced in another hike.",
    "The cyclist won the mountain stage by a minute.",
    "Roast the peppers until their skins blister.",
    "The pension fund sold its stake in the bank.",
]


def test_the_loop_on_pasted_texts_followed_by_a_second_tab(server, browser, tmp_path):
    page, other = browser.new_page(), browser.new_page()
    create_project(page, server, "Topics")
    other.goto(server)
    other.get_by_role("button", name="Topics", exact=True).click()
    other.get_by_role("heading", name="Gather examples").wait_for()
    for label, texts in TEXTS.items():
        paste(page, label, texts[:5])
    twice = TEXTS["sport"][0]
    paste(page, "cooking", [twice])  # a copy under another class, for the doctor
    other.get_by_text("6 examples").wait_for()  # the second tab follows the first
    expect(other.locator(".card")).to_have_count(3)

    other.get_by_role("button", name="2 Train").click()
    train(page, "prototype")
    other.get_by_text("Fit done").wait_for(timeout=FIT_SECONDS)  # it saw the fit run
    page.get_by_text("Fit done").wait_for(timeout=FIT_SECONDS)

    page.get_by_role("button", name="3 Understand").click()
    assert page.locator(".estimate").inner_text(timeout=10_000).count("%") == 3
    page.get_by_role("button", name="finance predicted as finance").click()
    page.get_by_text("finance predicted as finance (out of fold)").wait_for()
    assert "interest rates" in page.locator("#cell-items").inner_text()
    conflict = page.locator("#model-details li", has_text="conflicting labels")
    fixes = conflict.locator("div.fix")
    assert fixes.count() == 2  # the two copies the doctor names
    for k in range(2):  # relabel both as sport, from the doctor's findings
        fixes.nth(k).locator("select").select_option("sport")
        fixes.nth(k).get_by_role("button", name="Relabel").click()
        fixes.nth(k).get_by_text("Relabelled as sport").wait_for()
    accessible(page)
    items = page.request.get(f"{server}/api/projects/topics").json()["items"]
    assert {i["label"] for i in items if i["text"] == twice} == {"sport"}
    other.get_by_role("button", name="1 Gather").click()
    # the second tab shows the copy in sport, where the first tab relabelled it
    expect(other.locator(".card", has_text="cooking")).to_contain_text("5 examples")
    expect(other.locator(".card", has_text="sport")).to_contain_text("6 examples")

    page.get_by_role("button", name="4 Try").click()
    page.get_by_label("Texts to try, one per line").fill(
        "Shares of the bank fell after its report."
    )
    page.get_by_role("button", name="Predict texts").click()
    page.locator("#try-results .card").wait_for()
    assert "finance" in page.locator("#try-results .card").inner_text()

    page.get_by_role("button", name="1 Gather").click()
    paste(page, "", UNLABELLED)
    label_by_keyboard(page, "12s31u23")
    project = page.request.get(f"{server}/api/projects/topics").json()
    assert project["unlabeled"] == 1
    train(page)
    page.get_by_text("Estimated accuracy before:").wait_for(timeout=FIT_SECONDS)
    other.get_by_role("button", name="3 Understand").click()
    expect(other.locator("#model-select option")).to_have_count(2)  # the second tab too

    model = download_and_load(page, tmp_path)
    assert model.classes == sorted(TEXTS)
    assert model.predict(["Whisk the cream with sugar."])[0] == "cooking"


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie no one reaps has stopped)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def start_app(workspace: Path, port: int) -> subprocess.Popen:
    """`smallfit app` in its own process, answering on `port`."""
    command = [sys.executable, "-m", "smallfit", "app", "--workspace", str(workspace)]
    process = subprocess.Popen([*command, "--port", str(port), "--no-browser"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.2)
    process.kill()
    raise AssertionError("the app did not start")


def test_a_server_killed_during_a_fit_restarts_with_its_models_and_the_fit_interrupted(
    page, tmp_path
):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = start_app(tmp_path / "ws", port)
    try:
        create_project(page, url, "Topics")
        for label, texts in TEXTS.items():
            paste(page, label, texts)
        train(page, "prototype")
        page.get_by_text("Fit done").wait_for(timeout=FIT_SECONDS)
        # the default comparison with the widest search (the strategy field still says
        # prototype, a fit of seconds that could end before the server is back): minutes
        page.get_by_label("Strategy (empty: compare the default candidates)").fill("")
        page.get_by_label("Search preset").select_option("best")
        train(page, "")
        page.get_by_text("Fit running").wait_for()
        fit = page.request.get(f"{url}/api/projects/topics/fit").json()
        server.send_signal(signal.SIGKILL)
        server.wait()
        server = start_app(tmp_path / "ws", port)
        page.get_by_text("Fit interrupted").wait_for(timeout=30_000)  # the page reconnected
        deadline = time.monotonic() + 30
        while alive(fit["pid"]):  # the orphaned fit process is stopped
            assert time.monotonic() < deadline, "the interrupted fit's process still runs"
            time.sleep(0.2)
        page.reload()
        page.get_by_role("button", name="Topics", exact=True).click()
        page.get_by_role("button", name="3 Understand").click()
        expect(page.locator("#model-select option")).to_have_count(1)  # the finished model
        assert page.locator(".estimate").inner_text(timeout=10_000).count("%") == 3
    finally:
        server.terminate()
        server.wait(10)
