#!/usr/bin/env python
"""Domain adaptation (issue 6): target accuracy with and without `--target-unlabeled`.

    python benchmarks/domain_adapt.py            # all of it
    python benchmarks/domain_adapt.py --finetune-seeds 1   # finetune +/- DANN on one seed

Fashion-MNIST: 20 labeled images per class from the training split (per seed); an
unlabeled target pool of 2,000 other training images, shifted; a target test set of 500
test images (50 per class), shifted, and the same 500 unshifted as the source test set.
Shifts: inverted (255 - x) and darkened (x * 0.4). Reuters R8: 20 labeled texts per
class; an artificial shift, texts cut to their first 10 words: a pool of 2,000 other
training texts cut so, and 500 test texts (seed 0) cut so (target) and whole (source).
Each strategy is fitted directly (no cross-validation) with and without the pool; the
pool is the same for every seed (drawn once, seed 1000, from training items no seed
labels).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from run import RESULTS, fashion, machine, r8, sample_per_class

from smallfit import backbones, modalities, strategies
from smallfit.data import Dataset

SHIFTS = {
    "inverted (255 - x)": lambda image: (255 - image).astype(np.uint8),
    "darkened (x 0.4)": lambda image: (image * 0.4).astype(np.uint8),
}
SNIPPET_WORDS = 10
PER_CLASS, POOL, TEST = 20, 2000, 500


def snippet(text: str) -> str:
    return " ".join(text.split()[:SNIPPET_WORDS])


def labeled(items, labels, rows) -> Dataset:
    modality = "text" if isinstance(items[0], str) else "image"
    return Dataset(items=[items[i] for i in rows], modality=modality, labels=labels[rows])


def accuracy(model, items, labels) -> float:
    predicted = np.array(model.classes_, dtype=object)[model.predict_proba(items).argmax(1)]
    return float((predicted == labels).mean())


def pool_rows(labels: np.ndarray, seeds) -> np.ndarray:
    """POOL training rows that no seed's labeled sample uses (one draw, seed 1000)."""
    used = np.concatenate([sample_per_class(labels, PER_CLASS, s) for s in seeds])
    free = np.setdiff1d(np.arange(len(labels)), used)
    return np.sort(np.random.default_rng(1000).choice(free, POOL, replace=False))


def run(task, shift_name, shift, data, methods, seeds) -> list[dict]:
    train_items, train_labels, test_items, test_labels = data
    modality = "text" if isinstance(train_items[0], str) else "image"
    encoder = backbones.create(modalities.get(modality).default_backbone)
    pool = Dataset(
        items=[shift(train_items[i]) for i in pool_rows(train_labels, (0, 1, 2))],
        modality=modality,
    )
    test = sample_per_class(test_labels, TEST // len(set(test_labels)), seed=0)
    if len(test) < TEST:  # R8's small classes: a random TEST of the test split instead
        test = np.sort(np.random.default_rng(0).choice(len(test_labels), TEST, replace=False))
    source_test = [test_items[i] for i in test]
    target_test = [shift(item) for item in source_test]
    truth = test_labels[test]
    for items in (pool.items, source_test, target_test):  # cached: fit times are fits alone
        encoder.embed(items)
    rows = []
    for method, (name, params) in methods.items():
        for seed in seeds:
            train = labeled(
                train_items, train_labels, sample_per_class(train_labels, PER_CLASS, seed)
            )
            for adapted in (False, True):
                strategy = strategies.create(name, **params)
                if "random_state" in strategy.get_params():
                    strategy.set_params(random_state=seed)
                tic = time.perf_counter()
                strategy.fit(train, encoder, **({"target_unlabeled": pool} if adapted else {}))
                seconds = time.perf_counter() - tic
                row = dict(
                    task=task,
                    shift=shift_name,
                    method=method,
                    adaptation=("dann" if strategy.trains_body else "coral") if adapted else "none",
                    seed=seed,
                    target_accuracy=accuracy(strategy, target_test, truth),
                    source_accuracy=accuracy(strategy, source_test, truth),
                    fit_seconds=round(seconds, 2),
                )
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Mean and std over seeds per (task, shift, method, adaptation), and the change."""
    keys = list(dict.fromkeys((r["task"], r["shift"], r["method"]) for r in rows))
    table = []
    for key in keys:
        entry = dict(zip(("task", "shift", "method"), key, strict=True))
        for adaptation in ("none", "adapted"):
            chosen = [
                r
                for r in rows
                if (r["task"], r["shift"], r["method"]) == key
                and (r["adaptation"] == "none") == (adaptation == "none")
            ]
            for metric in ("target_accuracy", "source_accuracy"):
                values = 100 * np.array([r[metric] for r in chosen])
                entry[f"{metric}_{adaptation}"] = (float(values.mean()), float(values.std()))
            entry[f"fit_seconds_{adaptation}"] = float(np.mean([r["fit_seconds"] for r in chosen]))
            entry["seeds"] = len(chosen)
            if adaptation == "adapted":
                entry["method_of_adaptation"] = chosen[0]["adaptation"]
        deltas = [
            100 * (a["target_accuracy"] - b["target_accuracy"])
            for a in rows
            for b in rows
            if (a["task"], a["shift"], a["method"]) == key == (b["task"], b["shift"], b["method"])
            and a["seed"] == b["seed"]
            and a["adaptation"] != "none"
            and b["adaptation"] == "none"
        ]
        entry["target_change"] = (float(np.mean(deltas)), float(np.std(deltas)))
        table.append(entry)
    return table


def markdown(result: dict) -> str:
    def cell(pair):
        return f"{pair[0]:.1f} ± {pair[1]:.1f}"

    lines = [
        "## Domain adaptation (`fit --target-unlabeled`)"
        + (": finetune ± DANN" if result["task"].endswith("finetune") else ""),
        "",
        f"`{result['command']}` — {PER_CLASS} labeled per class; an unlabeled target pool "
        f"of {POOL} shifted training items; {TEST} test items, shifted (target) and as "
        "they are (source); accuracy in %, mean ± std over seeds (each seed its own labeled "
        "sample; the pool is the same). Fashion-MNIST on efficientnet_lite0, Reuters R8 on "
        f"minilm; the R8 shift is artificial: every text cut to its first {SNIPPET_WORDS} "
        "words. Times measured on a shared, loaded machine (upper bounds).",
        "",
        "| data | shift | strategy | adaptation | seeds | target, unadapted | target, adapted "
        "| change (paired) | source, unadapted | source, adapted | fit s (unadapted / adapted) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in result["summary"]:
        lines.append(
            f"| {e['task']} | {e['shift']} | {e['method']} | {e['method_of_adaptation']} "
            f"| {e['seeds']} | {cell(e['target_accuracy_none'])} "
            f"| {cell(e['target_accuracy_adapted'])} | {e['target_change'][0]:+.1f} "
            f"± {e['target_change'][1]:.1f} | {cell(e['source_accuracy_none'])} "
            f"| {cell(e['source_accuracy_adapted'])} "
            f"| {e['fit_seconds_none']:.1f} / {e['fit_seconds_adapted']:.1f} |"
        )
    gains = [e for e in result["summary"] if e["target_change"][0] > 0]
    losses = [e for e in result["summary"] if e["target_change"][0] < 0]
    lines += [
        "",
        "Target (adaptation improves target accuracy on at least one of the two shifts): "
        + ("met" if gains else "missed")
        + ". Improved: "
        + (", ".join(f"{e['method']} on {e['task']} {e['shift']}" for e in gains) or "none")
        + ". Worse: "
        + (", ".join(f"{e['method']} on {e['task']} {e['shift']}" for e in losses) or "none")
        + ".",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--finetune-seeds", type=int, default=3)
    parser.add_argument(
        "--finetune-only",
        action="store_true",
        help="only finetune +/- DANN, written to results/domain_adapt_finetune.{json,md}",
    )
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    frozen = {"probe": ("probe", {}), "prototype": ("prototype", {})}
    train_items, train_labels, test_items, test_labels, *_ = fashion()
    images = (train_items, train_labels, test_items, test_labels)
    train_items, train_labels, test_items, test_labels, *_ = r8()
    texts = (train_items, train_labels, test_items, test_labels)
    # the cheap runs first; results are written after each, so a stopped run keeps them
    runs = [("Fashion-MNIST", name, shift, images, frozen, seeds) for name, shift in SHIFTS.items()]
    runs.append(("Reuters R8", f"first {SNIPPET_WORDS} words", snippet, texts, frozen, seeds))
    finetune = {"finetune": ("finetune", {})}
    runs += [  # seed by seed across the shifts, so a stopped run leaves whole seeds
        ("Fashion-MNIST", name, shift, images, finetune, [seed])
        for seed in range(args.finetune_seeds)
        for name, shift in SHIFTS.items()
    ]
    output = "domain_adapt"
    if args.finetune_only:
        runs = [r for r in runs if "finetune" in r[4]]
        output = "domain_adapt_finetune"
    result = {
        "task": output,
        "command": "python benchmarks/" + " ".join(["domain_adapt.py", *sys.argv[1:]]),
        "rows": [],
        "machine": machine(),
    }
    for task, name, shift, data, methods, run_seeds in runs:
        result["rows"] += run(task, name, shift, data, methods, run_seeds)
        result["summary"] = summary(result["rows"])
        (RESULTS / f"{output}.json").write_text(json.dumps(result, indent=1))
        (RESULTS / f"{output}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
