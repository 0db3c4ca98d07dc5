#!/usr/bin/env python
"""The default `fit` (budgeted search) against each single strategy on Fashion-MNIST
(issue 4): test accuracy on 2,000 test images, the search's cross-validated score and
its honest estimate (does the test accuracy fall inside the honest interval?), and the
fit time against the default budget.

    python benchmarks/auto.py --per-class 10 50 --seeds 0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import RESULTS, fashion, machine, sample_per_class  # noqa: E402

SINGLE = {
    "probe": ("probe", {}),
    "prototype": ("prototype", {}),
    "finetune": ("finetune", {}),
    "finetune + mixup": ("finetune", {"mix": "mixup"}),
}


def accuracy(model, test_set, test_labels) -> float:
    predicted = np.array(model.classes, dtype=object)[model.predict_proba(test_set).argmax(axis=1)]
    return float((predicted == test_labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()

    from smallfit import search
    from smallfit.auto import fit_dataset
    from smallfit.data import from_python

    train_items, train_labels, test_items, test_labels, _, _ = fashion()
    test_set = from_python(test_items)
    rows = []
    for k in args.per_class:
        for seed in args.seeds:
            index = sample_per_class(train_labels, k, seed)
            train = from_python([train_items[i] for i in index], train_labels[index])
            budget = search.default_budget(len(train))
            tic = time.perf_counter()
            # the search: balanced preset, default budget (opt-in with `fit --preset balanced`)
            model = fit_dataset(train, seed=seed, preset="balanced")
            seconds = time.perf_counter() - tic
            honest = model.metrics["honest"]
            test = accuracy(model, test_set, test_labels)
            row = {
                "k": k,
                "seed": seed,
                "method": "default fit (search)",
                "chosen": max(
                    (r for r in model.info["candidates"] if r["accuracy"]),
                    key=lambda r: r["accuracy"]["value"],
                )["candidate"],
                "test_accuracy": test,
                "cv_accuracy": model.metrics["accuracy"]["value"],
                "honest": honest,
                "test_inside_honest_interval": honest["low"] <= test <= honest["high"],
                "fit_seconds": round(seconds, 1),
                "budget_seconds": budget,
                "trials": model.info["search"]["trials"],
                "configurations": model.info["search"]["distinct_configurations"],
                "candidates": {
                    r["candidate"]: r["accuracy"] and r["accuracy"]["value"]
                    for r in model.info["candidates"]
                },
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            for label, (name, params) in SINGLE.items():
                tic = time.perf_counter()
                single = fit_dataset(
                    train, strategy=name, strategy_params={name: params}, seed=seed, estimate=False
                )
                seconds = time.perf_counter() - tic
                rows.append(
                    {
                        "k": k,
                        "seed": seed,
                        "method": label,
                        "test_accuracy": accuracy(single, test_set, test_labels),
                        "fit_seconds": round(seconds, 1),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
            write(args, rows, len(test_items))  # after each sample, so a long run keeps results


def write(args, rows: list[dict], n_test: int) -> None:
    command = "python benchmarks/auto.py --per-class " + " ".join(map(str, args.per_class))
    command += " --seeds " + " ".join(map(str, args.seeds))
    result = {"command": command, "n_test": n_test, "rows": rows, "machine": machine()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "auto.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "auto.md").write_text(markdown(result))


def markdown(result: dict) -> str:
    rows = result["rows"]
    lines = [
        "## Search: the default `fit` against single strategies (Fashion-MNIST)",
        "",
        f"`{result['command']}` — {result['n_test']} test images. The search is "
        '`fit_dataset(train, preset="balanced")` (`smallfit fit DIR --out M --preset '
        "balanced`; default budget 2 min + 1 s per item); each single strategy is fitted "
        "once on all the training items. Times were measured on a shared, loaded machine "
        "(2 cores, eight jobs at once): they are upper bounds.",
        "",
        "| per class | seed | default: chosen | test acc. | CV score | honest estimate "
        "[95%] (method) | test inside? | fit s / budget s | trials (configs) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    default = [r for r in rows if r["method"] == "default fit (search)"]
    for r in default:
        h = r["honest"]
        method = "holdout" if h["method"].startswith("outer") else "BBC-CV"
        inside = "yes" if r["test_inside_honest_interval"] else "no"
        lines.append(
            f"| {r['k']} | {r['seed']} | `{r['chosen']}` | {100 * r['test_accuracy']:.1f} | "
            f"{100 * r['cv_accuracy']:.1f} | {100 * h['value']:.1f} [{100 * h['low']:.1f}, "
            f"{100 * h['high']:.1f}] ({method}) | {inside} | "
            f"{r['fit_seconds']:.0f} / {r['budget_seconds']:.0f} | "
            f"{r['trials']} ({r['configurations']}) |"
        )
    methods = ["default fit (search)", *SINGLE]
    lines += [
        "",
        "Test accuracy (%) of the default against each single strategy (fit seconds):",
        "",
        "| per class | seed | " + " | ".join(methods) + " | default − best single |",
        "|---" * (len(methods) + 3) + "|",
    ]
    verdicts = []
    for r in default:
        same = {x["method"]: x for x in rows if x["k"] == r["k"] and x["seed"] == r["seed"]}
        best_single = max(same[m]["test_accuracy"] for m in SINGLE if m in same)
        gap = 100 * (r["test_accuracy"] - best_single)
        complete = all(m in same for m in SINGLE)
        if complete:
            verdicts.append(gap >= -1.0)
        cells = [
            f"{100 * same[m]['test_accuracy']:.1f} ({same[m]['fit_seconds']:.0f} s)"
            if m in same
            else "not run"
            for m in methods
        ]
        shown = f"{gap:+.1f}" + ("" if complete else " (of those run)")
        lines.append(f"| {r['k']} | {r['seed']} | " + " | ".join(cells) + f" | {shown} |")
    inside = sum(r["test_inside_honest_interval"] for r in default)
    within = sum(r["fit_seconds"] <= r["budget_seconds"] for r in default)
    lines += [
        "",
        f"Target (default within 1 point of or above the best single strategy): met in "
        f"{sum(verdicts)} of {len(verdicts)} complete comparisons. The test accuracy fell "
        f"inside the honest interval in {inside} of {len(default)} runs. Fit time within the "
        f"default budget in {within} of {len(default)} runs.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
