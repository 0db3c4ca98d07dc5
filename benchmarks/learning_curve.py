#!/usr/bin/env python
"""Does the learning curve answer "should I label more?" (issue 4): predict from k per
class, then measure.

    python benchmarks/learning_curve.py                 # Fashion-MNIST 10 and R8 8 per class
    python benchmarks/learning_curve.py --seeds 0 1 2

Per task and seed: `smallfit.fit(..., strategy="probe", learning_curve=True)` on k
examples per class predicts the accuracy of a probe trained on 2k and 4k per class (the
power law through the out-of-fold accuracies at 25-100% of the folds' labels); then a
probe is trained on 2k and 4k per class (the seeded samples are nested: the first k of
each class's draw are the k) and scored on the fixed test set. Reports each prediction's
error and whether the measured accuracy falls inside its 95% interval. Writes
results/learning_curve.json and results/learning_curve.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from run import RESULTS, fashion, machine, r8, sample_per_class

TASKS = (("fashion", 10), ("r8", 8))


def run_task(task: str, k: int, seed: int) -> dict:
    import smallfit
    from smallfit.fitting.compare import fit_dataset
    from smallfit.modalities.reading import from_python

    train_items, train_labels, test_items, test_labels, _, _ = (
        fashion() if task == "fashion" else r8()
    )
    tests = from_python(test_items)

    def sample(per_class):
        index = sample_per_class(train_labels, per_class, seed)
        return [train_items[i] for i in index], train_labels[index]

    tic = time.perf_counter()
    model = smallfit.fit(*sample(k), strategy="probe", seed=seed, learning_curve=True)
    fit_seconds = time.perf_counter() - tic
    curve = model.info["learning_curve"]
    row = {
        "task": task,
        "k": k,
        "seed": seed,
        "n": model.info["data"]["n_items"],
        "fit_seconds": round(fit_seconds, 1),
        "curve": curve,
        "test_accuracy_at_k": float((model.predict(tests) == test_labels).mean()),
        "predictions": [],
    }
    for point in curve["predicted"]:
        items, labels = sample(point["factor"] * k)
        larger = fit_dataset(
            from_python(items, labels), strategy="probe", seed=seed, estimate=False
        )
        measured = float((larger.predict(tests) == test_labels).mean())
        row["predictions"].append(
            {
                **point,
                "n_actual": len(items),
                "measured": measured,
                "error": point["accuracy"] - measured,
                "inside": point["low"] <= measured <= point["high"],
            }
        )
    print(json.dumps(row), flush=True)
    return row


def markdown(result: dict) -> str:
    lines = [
        "## Learning curves: predicted against measured accuracy",
        "",
        f"`{result['command']}` — a probe fitted on k per class predicts the accuracy with "
        "2k and 4k per class (power law through the out-of-fold accuracy at 25/50/75/100% "
        "of each fold's labels, 95% bootstrap interval); the probe is then trained on 2k and "
        "4k per class and scored on the fixed test set. Times were measured on a shared, "
        "loaded machine: upper bounds.",
        "",
        "| task | k | seed | OOF accuracy at sizes | test at k | factor | predicted [95%] "
        "| measured | error | inside? | fit s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        points = ", ".join(
            f"{n}: {100 * a:.1f}"
            for n, a in zip(r["curve"]["sizes"], r["curve"]["accuracy"], strict=True)
        )
        for p in r["predictions"]:
            lines.append(
                f"| {r['task']} | {r['k']} | {r['seed']} | {points} | "
                f"{100 * r['test_accuracy_at_k']:.1f} | {p['factor']}x (n={p['n']}) | "
                f"{100 * p['accuracy']:.1f} [{100 * p['low']:.1f}, {100 * p['high']:.1f}] | "
                f"{100 * p['measured']:.1f} | {100 * p['error']:+.1f} | "
                f"{'yes' if p['inside'] else 'no'} | {r['fit_seconds']:.0f} |"
            )
    predictions = [p for r in result["rows"] for p in r["predictions"]]
    errors = np.array([p["error"] for p in predictions])
    covered = sum(p["inside"] for p in predictions)
    lines += [
        "",
        f"Measured: mean absolute error {100 * np.abs(errors).mean():.1f} points (mean signed "
        f"{100 * errors.mean():+.1f}) over {len(predictions)} predictions; the 95% interval "
        f"held the measured accuracy in {covered} of {len(predictions)}. The out-of-fold "
        "points are scored on the training sample's own items, the measured ones on the "
        "test set, so part of the error is the difference between the two.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--tasks", nargs="+", default=[f"{t}:{k}" for t, k in TASKS], help="e.g. fashion:10 r8:8"
    )
    args = parser.parse_args()
    os.environ.setdefault("SMALLFIT_QUIET", "1")
    command = "python benchmarks/learning_curve.py " + " ".join(
        [f"--tasks {' '.join(args.tasks)}", f"--seeds {' '.join(map(str, args.seeds))}"]
    )
    rows = []
    for seed in args.seeds:
        for task in args.tasks:
            name, k = task.split(":")
            rows.append(run_task(name, int(k), seed))
            # written after every row, so that a stopped run keeps what it measured
            result = {"command": command, "rows": rows, "machine": machine()}
            (RESULTS / "learning_curve.json").write_text(json.dumps(result, indent=2))
            (RESULTS / "learning_curve.md").write_text(markdown(result))


if __name__ == "__main__":
    sys.exit(main())
