#!/usr/bin/env python
"""The report of the demo model, as a person sees it in a browser.

    python benchmarks/report_demo.py

Fits the bundled Fashion-MNIST demo (20 images x 10 classes), evaluates it on the bundled
holdout, checks the holdout for drift, renders the report with both, screenshots it in
headless Chromium (Debian's `chromium`) and writes results/report_top.png (the top of the
page), results/report.json and results/report.md (its sections).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from html import unescape
from importlib.resources import files
from pathlib import Path

from PIL import Image

import smallfit
from smallfit.api import evaluate_model
from smallfit.report import write_report

RESULTS = Path(__file__).resolve().parent / "results"
WIDTH, TOP = 1200, 1500  # the screenshot's width and the height of the part kept


def screenshot(page: Path, shot: Path, profile: Path) -> None:
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            f"--window-size={WIDTH},{TOP}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def main() -> None:
    root = Path(str(files("smallfit") / "demo_data" / "fashion"))
    work = Path(tempfile.mkdtemp(prefix="smallfit-report-"))
    started = time.perf_counter()
    model = smallfit.fit(root / "train")
    model.save(work / "model")
    fit_seconds = time.perf_counter() - started
    holdout = evaluate_model(work / "model", root / "holdout")
    drift = smallfit.drift(work / "model", root / "holdout")
    tic = time.perf_counter()
    page = write_report(smallfit.load(work / "model"), work / "report.html", [holdout], [drift])
    render_seconds = time.perf_counter() - tic
    html = page.read_text()
    shot = work / "shot.png"
    screenshot(page, shot, work / "profile")
    top = Image.open(shot).convert("RGB").crop((0, 0, WIDTH, TOP))
    top = top.resize((WIDTH * 3 // 4, TOP * 3 // 4), Image.LANCZOS).quantize(256)
    top.save(RESULTS / "report_top.png", optimize=True)
    sections = [unescape(h) for h in re.findall(r"<h2>(.*?)</h2>", html)]
    result = {
        "command": "python benchmarks/report_demo.py",
        "sections": sections,
        "html_bytes": len(html.encode()),
        "embedded_images": len(re.findall(r'src="data:image/', html)),
        "render_seconds": round(render_seconds, 2),
        "fit_seconds": round(fit_seconds, 1),
        "cv_accuracy": model.metrics["accuracy"],
        "holdout_accuracy": holdout["accuracy"],
        "drift": drift["drift"],
        "screenshot_bytes": (RESULTS / "report_top.png").stat().st_size,
    }
    (RESULTS / "report.json").write_text(json.dumps(result, indent=2))
    lines = [
        "## Report",
        "",
        f"`{result['command']}` — the bundled demo (Fashion-MNIST, 20 images x 10 classes) "
        "fitted with the default comparison, evaluated on the bundled holdout (10 per class) "
        "and checked for drift against it; its report rendered with both and screenshotted "
        "in headless Chromium (Debian's `chromium`) at 1200 px wide. "
        "[`results/report_top.png`](results/report_top.png) is the top of the page, "
        "scaled to 75%. Times were measured on a shared, loaded machine (upper bounds).",
        "",
        f"- One HTML file of {result['html_bytes'] / 1000:.0f} kB with "
        f"{result['embedded_images']} embedded images (thumbnails and plots), no scripts and "
        f"no network; rendered in {render_seconds:.1f} s (fit {fit_seconds:.0f} s).",
        f"- Cross-validated accuracy {100 * result['cv_accuracy']['value']:.1f}% "
        f"[{100 * result['cv_accuracy']['low']:.1f}–{100 * result['cv_accuracy']['high']:.1f}]"
        f", holdout {100 * holdout['accuracy']['value']:.1f}% "
        f"[{100 * holdout['accuracy']['low']:.1f}–{100 * holdout['accuracy']['high']:.1f}]; "
        f"drift: {'yes' if drift['drift'] else 'no'}.",
        "- Sections, in order: " + "; ".join(sections) + ".",
        "",
    ]
    (RESULTS / "report.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
