#!/usr/bin/env python
"""The app's speed targets (issue 19), measured through its HTTP API on a real local
server, run alone on the machine, embeddings cold (as a new user's):

- the page (HTML, script, style) loads in at most 1 s;
- from the Train request to the estimate, at most 60 s for the demo photos (3 classes x
  10 images, the default fit: no strategy given);
- every request during the fit is answered in under 200 ms.

    python benchmarks/app_speed.py

Writes results/app_speed.json and .md.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
CLASSES = ("bag", "sandal", "trouser")
PER_CLASS = 10


def main() -> None:
    os.environ["SMALLFIT_CACHE"] = tempfile.mkdtemp(prefix="smallfit-app-bench-")  # cold
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import smallfit
    from smallfit.app.server import serving

    with serving(tempfile.mkdtemp(prefix="smallfit-app-ws-")) as url:
        result = measure(url, Path(smallfit.__file__).parent / "demo_data" / "fashion" / "train")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "app_speed.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "app_speed.md").write_text(
        "## The app's speed (issue 19)\n\n"
        f"`{result['command']}`: a real local server, the benchmark alone on the 2 cores, "
        "embeddings cold.\n\n"
        "| measure | target | measured |\n|---|---|---|\n"
        f"| page load (HTML, script, style) | at most 1 s | {result['page_seconds']} s |\n"
        f"| Train request to the estimate, demo photos {len(CLASSES)}x{PER_CLASS}, default "
        f"fit | at most 60 s | {result['train_to_estimate_seconds']} s |\n"
        f"| slowest of {result['requests_during_fit']} requests during the fit | under "
        f"200 ms | {result['slowest_request_ms']} ms (median {result['median_request_ms']}) |\n"
        f"\nThe fit chose {result['chosen']}; estimate {result['estimate']['value']:.3f} "
        f"[{result['estimate']['low']:.3f}, {result['estimate']['high']:.3f}].\n"
    )
    print(json.dumps(result, indent=2))


def measure(url: str, demo: Path) -> dict:
    """The three figures, through the API of the app at `url`."""
    import httpx

    client = httpx.Client(base_url=url, timeout=120)

    tic = time.perf_counter()
    for path in ("/", "/static/app.js", "/static/app.css"):
        client.get(path).raise_for_status()
    page_seconds = time.perf_counter() - tic

    slug = client.post("/api/projects", json={"name": "demo"}).json()["slug"]
    for name in CLASSES:
        files = [
            ("files", (p.name, p.read_bytes()))
            for p in sorted((demo / name).glob("*.png"))[:PER_CLASS]
        ]
        client.post(f"/api/projects/{slug}/files", data={"label": name}, files=files)

    tic = time.perf_counter()
    client.post(f"/api/projects/{slug}/fit", json={}).raise_for_status()
    latencies = []
    while True:  # what the page asks while a fit runs: its state and the project
        for path in (f"/api/projects/{slug}/fit", f"/api/projects/{slug}"):
            asked = time.perf_counter()
            answer = client.get(path).json()
            latencies.append(time.perf_counter() - asked)
            if path.endswith("/fit"):
                state = answer
        if state["state"] not in ("running", "cancelling"):
            break
        time.sleep(0.5)
    details = client.get(f"/api/projects/{slug}/models/{state['model']}").json()
    train_seconds = time.perf_counter() - tic
    result = {
        "command": "python benchmarks/app_speed.py",
        "page_seconds": round(page_seconds, 3),
        "train_to_estimate_seconds": round(train_seconds, 1),
        "fit_state": state["state"],
        "estimate": details["estimate"],
        "chosen": details["strategy"],
        "requests_during_fit": len(latencies),
        "slowest_request_ms": round(1000 * max(latencies), 1),
        "median_request_ms": round(1000 * sorted(latencies)[len(latencies) // 2], 1),
    }
    return result


if __name__ == "__main__":
    main()
