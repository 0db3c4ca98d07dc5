#!/usr/bin/env python
"""Semi-supervised learning on Fashion-MNIST: 10 labels per class plus 5,000 unlabeled.

    python benchmarks/semi.py             # probe and prototype, labeled-only vs self-trained
    python benchmarks/semi.py --fixmatch  # also finetune with and without FixMatch

Labeled: 10 images per class drawn per seed from the training split (run.sample_per_class).
Pool: 5,000 training images drawn once (seed 0) from those no seed labels. Test: the fixed
2,000 images of run.fashion(). Writes results/semi.json and results/semi.md; rows already
in results/semi.json are kept and not measured again (delete it to start over).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from run import RESULTS, fashion, machine, sample_per_class

SEEDS = (0, 1, 2)
PER_CLASS, POOL = 10, 5000
METHODS = {  # prototype first: its refits cost seconds, probe's minutes
    "prototype": ("prototype", {}),
    "prototype+self-training": ("self-training", {"base": "prototype"}),
    "probe": ("probe", {}),
    "probe+self-training": ("self-training", {"base": "probe"}),
}
FIXMATCH = {
    "finetune": ("finetune", {}),
    "finetune+fixmatch": ("finetune", {"consistency": "fixmatch"}),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fixmatch", action="store_true")
    args = parser.parse_args()
    from smallfit import backbones, strategies
    from smallfit.data import Dataset
    from smallfit.modalities.reading import from_python

    train_items, train_labels, test_items, test_labels, _, _ = fashion()
    samples = {seed: sample_per_class(train_labels, PER_CLASS, seed) for seed in SEEDS}
    rest = np.setdiff1d(np.arange(len(train_items)), np.concatenate(list(samples.values())))
    pool_index = np.sort(np.random.default_rng(0).choice(rest, POOL, replace=False))
    pool = Dataset([train_items[i] for i in pool_index], "image")
    pool_truth = train_labels[pool_index]
    encoder = backbones.create("efficientnet_lite0")
    earlier = RESULTS / "semi.json"  # rows measured by an earlier run are kept, not redone
    rows = json.loads(earlier.read_text())["rows"] if earlier.exists() else []
    for seed in SEEDS:
        index = samples[seed]
        train = from_python([train_items[i] for i in index], train_labels[index])
        methods = dict(METHODS) | (FIXMATCH if args.fixmatch else {})
        for label, (name, params) in methods.items():
            if any(r["seed"] == seed and r["method"] == label for r in rows):
                continue
            strategy = strategies.create(name, **params)
            if "random_state" in strategy.get_params():
                strategy.set_params(random_state=seed)
            tic = time.perf_counter()
            semi = name == "self-training" or "consistency" in params
            strategy.fit(train, encoder, **({"unlabeled": pool} if semi else {}))
            seconds = time.perf_counter() - tic
            classes = np.array(train.classes, dtype=object)
            predicted = classes[strategy.predict_proba(test_items).argmax(axis=1)]
            row = dict(
                seed=seed,
                method=label,
                accuracy=float((predicted == test_labels).mean()),
                fit_seconds=round(seconds, 1),
            )
            if name == "self-training":
                chosen, pseudo = strategy.pseudo_labeled_
                row |= dict(
                    threshold=strategy.threshold_,
                    pseudo_per_round=strategy.pseudo_counts_,
                    pseudo_labels=len(chosen),
                    pseudo_accuracy=float((classes[pseudo] == pool_truth[chosen]).mean())
                    if len(chosen)
                    else None,
                )
            rows.append(row)
            print(json.dumps(row), flush=True)
            write(rows, args.fixmatch, len(test_items))  # after each row: partial runs count


def write(rows: list[dict], fixmatch: bool, n_test: int) -> None:
    command = "python benchmarks/semi.py" + (" --fixmatch" if fixmatch else "")
    result = {"command": command, "n_test": n_test, "rows": rows, "machine": machine()}
    (RESULTS / "semi.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "semi.md").write_text(markdown(result))


def markdown(result: dict) -> str:
    rows = result["rows"]
    methods = list(dict.fromkeys(r["method"] for r in rows))

    def of(method):
        return [r for r in rows if r["method"] == method]

    lines = [
        "## Semi-supervised: Fashion-MNIST, 10 labels per class + 5,000 unlabeled",
        "",
        f"`{result['command']}` — efficientnet_lite0; {PER_CLASS} labeled images per class "
        f"(seeds {', '.join(map(str, SEEDS))}), a pool of {POOL} unlabeled training images, "
        f"{result['n_test']} fixed test images. Times were measured on a shared, loaded "
        "machine (upper bounds).",
        "",
        "| method | seeds | test accuracy (mean ± std) | pseudo-labels kept | "
        "pseudo-label accuracy | fit seconds |",
        "|---|---|---|---|---|---|",
    ]
    for method in methods:
        got = of(method)
        accuracy = 100 * np.array([r["accuracy"] for r in got])
        kept = [r["pseudo_labels"] for r in got if "pseudo_labels" in r]
        right = [r["pseudo_accuracy"] for r in got if r.get("pseudo_accuracy") is not None]
        lines.append(
            f"| {method} | {len(got)} | {accuracy.mean():.1f} ± {accuracy.std():.1f} | "
            + (f"{np.mean(kept):.0f}" if kept else "-")
            + " | "
            + (f"{100 * np.mean(right):.1f}%" if right else "-")
            + f" | {np.mean([r['fit_seconds'] for r in got]):.0f} |"
        )
    lines.append("")
    for base in ("probe", "prototype", "finetune"):
        semi = next((m for m in methods if m.startswith(base + "+")), None)
        if base not in methods or semi is None:
            continue
        seeds = {r["seed"] for r in of(semi)}
        gain = 100 * np.mean(
            [
                r["accuracy"] - next(b["accuracy"] for b in of(base) if b["seed"] == r["seed"])
                for r in of(semi)
                if r["seed"] in seeds
            ]
        )
        met = "met" if gain >= 3.0 else "missed"
        lines.append(
            f"- {semi} against {base}: {gain:+.1f} points (mean over {len(seeds)} seed(s)); "
            f"target +3 points: **{met}**."
        )
    mean = {m: 100 * np.mean([r["accuracy"] for r in of(m)]) for m in methods}
    plain = max((m for m in methods if "+" not in m), key=mean.get)
    semi = max((m for m in methods if "+" in m), key=mean.get, default=None)
    if semi:
        lines.append(
            f"- The best semi-supervised method ({semi}, {mean[semi]:.1f}, "
            f"{len(of(semi))} seed(s)) against the best labeled-only one ({plain}, "
            f"{mean[plain]:.1f}, {len(of(plain))} seed(s)): {mean[semi] - mean[plain]:+.1f} "
            "points — what a user choosing the better of each would gain."
        )
    if "finetune+fixmatch" not in methods:
        lines.append("- finetune with FixMatch: not run here (`--fixmatch` runs it).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    os.environ.setdefault("SMALLFIT_QUIET", "1")
    sys.exit(main())
