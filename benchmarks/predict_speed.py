#!/usr/bin/env python
"""How long the default image model takes to predict new images, uncached (as a server
or `smallfit predict` on unseen files), with the stage encoder's one pass handing the
plain embedding on (as shipped) and with that hand-over switched off (each image through
the network once for each encoder, as before it).

    python benchmarks/predict_speed.py

The default fit on Fashion-MNIST at 10 images per class (seed 0, default_fit.py's
sample), then its prediction of default_fit.py's 500 fixed test images, each way twice
in turn; run it alone on the machine. Writes results/predict_speed.json and .md.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from default_fit import load  # noqa: E402
from run import RESULTS, machine, sample_per_class  # noqa: E402

COMMAND = "python benchmarks/predict_speed.py"
ROUNDS = 2


def timed(model, items) -> tuple[float, np.ndarray]:
    """Seconds to predict `items` with nothing cached, and the predicted class indices."""
    with model.uncached():
        tic = time.perf_counter()
        proba = model.predict_proba(items)
        return time.perf_counter() - tic, proba.argmax(1)


def main() -> None:
    os.environ["SMALLFIT_CACHE"] = tempfile.mkdtemp(prefix="smallfit-predict-bench-")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from smallfit.backbones.images import StageImageEncoder, TimmImageEncoder
    from smallfit.fitting.compare import fit_dataset
    from smallfit.modalities.reading import from_python

    items, labels, test_items, test_labels, _ = load("fashion")
    picked = sample_per_class(labels, 10, 0)
    model = fit_dataset(from_python([items[i] for i in picked], labels[picked]), seed=0)
    truth = np.array([list(model.classes).index(label) for label in test_labels])
    shared = StageImageEncoder._store

    def own_only(self, keys, vectors):  # the hand-over switched off
        TimmImageEncoder._store(self, keys, np.ascontiguousarray(vectors[:, : self.dim]))

    seconds: dict[str, list[float]] = {"one pass (shipped)": [], "a pass per encoder": []}
    accuracy = {}
    for _ in range(ROUNDS):
        for way, store in zip(seconds, (shared, own_only), strict=True):
            StageImageEncoder._store = store
            spent, predicted = timed(model, test_items)
            seconds[way].append(round(spent, 2))
            accuracy[way] = float((predicted == truth).mean())
    StageImageEncoder._store = shared
    result = {
        "command": COMMAND,
        "machine": machine(),
        "model": model.info.get("why", ""),
        "images": len(test_items),
        "seconds": seconds,
        "accuracy": accuracy,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "predict_speed.json").write_text(json.dumps(result, indent=2))
    rows = "\n".join(
        f"| {way} | {', '.join(f'{s:.1f}' for s in spent)} | {100 * accuracy[way]:.1f} |"
        for way, spent in seconds.items()
    )
    (RESULTS / "predict_speed.md").write_text(
        "## Predicting images with the default image model\n\n"
        f"`{COMMAND}`: the default fit on Fashion-MNIST, 10 images per class (seed 0), "
        f"predicting {len(test_items)} test images with nothing cached, alone on the 2 "
        f"cores, {ROUNDS} rounds each way in turn.\n\n"
        "| network passes | seconds per round | test accuracy |\n|---|---|---|\n"
        f"{rows}\n"
    )
    print((RESULTS / "predict_speed.md").read_text())


if __name__ == "__main__":
    main()
