#!/usr/bin/env python
"""Screenshots of the app's steps for the README, taken in Debian's chromium (Playwright)
on the bundled demo photos with the default fit:

    python docs/app/screenshots.py        # writes docs/app/<step>.png
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
CLASSES = ("bag", "sandal", "trouser")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from playwright.sync_api import sync_playwright

    import smallfit
    from smallfit.app.server import serving

    demo = Path(smallfit.__file__).parent / "demo_data" / "fashion" / "train"
    workspace = tempfile.mkdtemp(prefix="smallfit-shots-")
    with serving(workspace) as url, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(url)
        page.get_by_label("New project").fill("Demo photos")
        page.get_by_role("button", name="Create").click()
        for name in CLASSES:
            page.locator("#upload-label").fill(name)
            page.locator("#upload-files").set_input_files(sorted((demo / name).glob("*.png"))[:10])
            page.get_by_role("button", name="Upload", exact=True).click()
            page.get_by_text(f"Added 10 to {name}.").wait_for()
        page.screenshot(path=HERE / "1-gather.png")
        page.get_by_role("button", name="2 Train").click()
        page.get_by_role("button", name="Train", exact=True).click()
        page.get_by_text("Fit done").wait_for(timeout=180_000)
        page.screenshot(path=HERE / "2-train.png")
        page.get_by_role("button", name="3 Understand").click()
        page.locator(".estimate").wait_for()
        page.get_by_role("button", name="bag predicted as bag").click()
        page.locator("#cell-items img").first.wait_for()
        page.screenshot(path=HERE / "3-understand.png", full_page=True)
        page.get_by_role("button", name="4 Try").click()
        page.locator("#try-files").set_input_files(sorted((demo / "sandal").glob("*.png"))[-1])
        page.get_by_role("button", name="Predict files").click()
        page.locator("#try-results .card").wait_for()
        page.screenshot(path=HERE / "4-try.png")
        page.get_by_role("button", name="5 Use").click()
        page.screenshot(path=HERE / "5-use.png")
        browser.close()


if __name__ == "__main__":
    main()
