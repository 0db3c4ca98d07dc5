#!/usr/bin/env python
"""Automatic fits against each single strategy on Fashion-MNIST (issue 4): the fixed
comparison (today's default), the comparison within the default time budget (where
fine-tuning joins), and the budgeted Optuna search. Test accuracy on 2,000 test images,
the cross-validated score, the search's honest estimate (does the test accuracy fall
inside its interval?), and the fit time against the default budget.

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


AUTOMATIC = {  # what `smallfit fit DIR` could do by default: label -> fit_dataset options
    "fit (fixed comparison)": {},  # today's default: frozen strategies, no time budget
    # fine-tuning joins (measured before 2026-12-03 as "fit --time-budget", which added it)
    "fit --candidates full --time-budget (comparison)": {
        "time_budget": "default",
        "candidates": "full",
    },
    "fit --preset balanced (search)": {"preset": "balanced"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()

    from smallfit.fitting.compare import fit_dataset
    from smallfit.fitting.space import default_budget
    from smallfit.modalities.reading import from_python

    train_items, train_labels, test_items, test_labels, _, _ = fashion()
    test_set = from_python(test_items)
    rows = []
    for k in args.per_class:
        for seed in args.seeds:
            index = sample_per_class(train_labels, k, seed)
            train = from_python([train_items[i] for i in index], train_labels[index])
            budget = default_budget(len(train))
            for label, options in AUTOMATIC.items():
                if options.get("time_budget") == "default":
                    options = {**options, "time_budget": budget}
                tic = time.perf_counter()
                model = fit_dataset(train, seed=seed, learning_curve=None, **options)
                seconds = time.perf_counter() - tic
                test = accuracy(model, test_set, test_labels)
                honest = model.metrics.get("honest")
                row = {
                    "k": k,
                    "seed": seed,
                    "method": label,
                    "chosen": model.strategy.name,
                    "test_accuracy": test,
                    "cv_accuracy": model.metrics["accuracy"]["value"],
                    "fit_seconds": round(seconds, 1),
                    "budget_seconds": budget if options else None,
                    "candidates": {
                        r["candidate"]: r["accuracy"] and r["accuracy"]["value"]
                        for r in model.info["candidates"]
                    },
                }
                if honest:
                    row |= {
                        "honest": honest,
                        "test_inside_honest_interval": honest["low"] <= test <= honest["high"],
                        "trials": model.info["search"]["trials"],
                        "configurations": model.info["search"]["distinct_configurations"],
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
        "## Automatic fits against single strategies (Fashion-MNIST)",
        "",
        f"`{result['command']}` — {result['n_test']} test images. Three automatic fits "
        "(`fit_dataset`, as `smallfit fit DIR` runs it): the fixed comparison of the frozen "
        "strategies with no time budget; the same comparison with the default budget "
        "(2 min + 1 s per item, at most 10 min), where fine-tuning joins when its "
        "projected cost fits; and the Optuna search (`--preset balanced`) in that budget, "
        "with its honest estimate. Each single strategy is fitted once on all the "
        "training items.",
        "",
        "| per class | seed | automatic fit | chosen | test acc. | CV score | honest estimate "
        "[95%] (method) | test inside? | fit s / budget s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    automatic = [r for r in rows if r["method"] in AUTOMATIC]
    for r in automatic:
        h = r.get("honest")
        shown, inside = "-", "-"
        if h:
            method = "holdout" if h["method"].startswith("outer") else "BBC-CV"
            shown = (
                f"{100 * h['value']:.1f} [{100 * h['low']:.1f}, {100 * h['high']:.1f}] ({method})"
            )
            inside = "yes" if r["test_inside_honest_interval"] else "no"
        budget = f"{r['budget_seconds']:.0f}" if r.get("budget_seconds") else "none"
        lines.append(
            f"| {r['k']} | {r['seed']} | {r['method']} | `{r['chosen']}` | "
            f"{100 * r['test_accuracy']:.1f} | {100 * r['cv_accuracy']:.1f} | {shown} | "
            f"{inside} | {r['fit_seconds']:.0f} / {budget} |"
        )
    methods = [*AUTOMATIC, *SINGLE]
    lines += [
        "",
        "Test accuracy (%) of each automatic fit against the best single strategy (fit seconds):",
        "",
        "| per class | seed | " + " | ".join(methods) + " | best single |",
        "|---" * (len(methods) + 3) + "|",
    ]
    verdicts: dict[str, list[bool]] = {m: [] for m in AUTOMATIC}
    for k, seed in dict.fromkeys((r["k"], r["seed"]) for r in rows):
        same = {x["method"]: x for x in rows if x["k"] == k and x["seed"] == seed}
        singles = [m for m in SINGLE if m in same]
        if not singles:
            continue
        best = max(singles, key=lambda m: same[m]["test_accuracy"])
        for m in AUTOMATIC:
            if m in same:
                gap = same[m]["test_accuracy"] - same[best]["test_accuracy"]
                verdicts[m].append(gap >= -0.01)
        if len(singles) < len(SINGLE):
            best += " (of those run)"
        cells = [
            f"{100 * same[m]['test_accuracy']:.1f} ({same[m]['fit_seconds']:.0f} s)"
            if m in same
            else "not run"
            for m in methods
        ]
        lines.append(f"| {k} | {seed} | " + " | ".join(cells) + f" | {best} |")
    searched = [r for r in automatic if r.get("honest")]
    inside = sum(r["test_inside_honest_interval"] for r in searched)
    timed = [r for r in automatic if r.get("budget_seconds")]
    within = sum(r["fit_seconds"] <= r["budget_seconds"] for r in timed)
    lines += [
        "",
        "Target (within 1 point of or above the best single strategy run): "
        + "; ".join(f"{m}: {sum(v)} of {len(v)}" for m, v in verdicts.items())
        + f". The test accuracy fell inside the honest interval in {inside} of "
        f"{len(searched)} searches. Budgeted fits within their budget: {within} of {len(timed)}.",
        "",
        "Fine-tuning configurations skipped by the budget (projected past it, or stopped): "
        + "; ".join(
            f"{r['k']}/class {r['method']}: "
            + str(
                sum(1 for c, v in r["candidates"].items() if c.startswith("finetune") and v is None)
            )
            + " of "
            + str(sum(1 for c in r["candidates"] if c.startswith("finetune")))
            for r in timed
        )
        + ". Times were measured while other benchmarks shared the 2 cores: upper bounds.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
