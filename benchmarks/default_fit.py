#!/usr/bin/env python
"""The default fit against every single strategy run alone on the same split (issue 15):
test accuracy on a fixed test set (500 items; sounds: their set's test split of other
voices or other generated events), the default's printed (honest) estimate
and whether its 95% interval held the test accuracy, and the default's fit time (its
training items embedded cold, as a new user's are).

    python benchmarks/default_fit.py --slices digits:10 fashion:10 r8:8 spam:8 --seeds 0 1 2
    python benchmarks/default_fit.py --slices keywords:5 keywords:10 keywords:20 sounds:10
    python benchmarks/default_fit.py --slices keywords:10 --methods default+groups
    python benchmarks/default_fit.py --report-only

Rows already measured are kept (results/default_fit.json) and skipped; `--methods` picks
which methods run (default: the default fit and the cheap single strategies;
`default+groups`: the default fit with cross-validation folds grouped by speaker, on the
sets that record speakers).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import DATA, RESULTS, fashion, machine, r8, sample_per_class  # noqa: E402

TEST_SIZE = 500
OUT = RESULTS / "default_fit.json"
COMMAND = "python benchmarks/default_fit.py"
SINGLE = {
    "image": (
        "probe",
        "probe@efficientnet_lite0_stages",
        "probe+copies1@efficientnet_lite0_stages",
        "prototype",
        "classic",
        "scratch",
        "finetune",
    ),
    "text": ("probe", "prototype", "classic", "zeroshot", "hybrid", "finetune", "contrastive"),
    # a strategy on one encoder: STRATEGY@ENCODER (classic: MFCC statistics); +copies: the
    # probe also trained on 2 augmented copies of each clip (+copies1: on 1, as images' is)
    "sound": (
        "probe@speech_embedding",
        "probe@aisfx",
        "prototype@speech_embedding",
        "prototype@aisfx",
        "classic",
        "probe+copies@speech_embedding",
        "probe+copies@aisfx",
        "finetune@aisfx",  # minutes a fit: run with --methods finetune@aisfx
    ),
}
CHEAP = tuple(
    dict.fromkeys(
        (
            "default",
            "probe",
            "probe@efficientnet_lite0_stages",
            "prototype",
            "classic",
            "scratch",
            "zeroshot",
        )
        + tuple(m for m in SINGLE["sound"] if not m.startswith("finetune"))
    )
)
MODALITY = {"digits": "image", "fashion": "image", "keywords": "sound", "sounds": "sound"}
TITLES = {
    "digits": "scikit-learn digits (8x8, as images)",
    "fashion": "Fashion-MNIST",
    "r8": "Reuters R8",
    "spam": "SpamAssassin",
    "20news": "20 Newsgroups",
    "keywords": "spoken keywords, synthetic (espeak-ng; test: other voices)",
    "sounds": "sound events, procedural",
}


def fixed_test(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pool, test) indices: a stratified test set of TEST_SIZE items (seed 0), the rest."""
    index = np.arange(len(labels))
    pool, test = train_test_split(index, test_size=TEST_SIZE, stratify=labels, random_state=0)
    return np.sort(pool), np.sort(test)


def load(name: str):
    """(pool items, pool labels, test items, test labels, modality)."""
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        items = [(image * 16).clip(0, 255).astype(np.uint8) for image in digits.images]
        labels = digits.target.astype(str).astype(object)
        modality = "image"
    elif name == "fashion":
        train_items, train_labels, test_items, test_labels, _, _ = fashion()
        keep = fixed_test(test_labels)[1]
        return train_items, train_labels, [test_items[i] for i in keep], test_labels[keep], "image"
    elif name == "r8":
        train_items, train_labels, test_items, test_labels, _, _ = r8()
        keep = fixed_test(test_labels)[1]
        return train_items, train_labels, [test_items[i] for i in keep], test_labels[keep], "text"
    elif name == "spam":
        table = pd.read_csv(DATA / "spam_assassin.csv")
        items, labels, modality = table.text.tolist(), table.label.to_numpy(object), "text"
    elif name == "20news":
        table = pd.read_csv(DATA / "20news.csv")
        train, test = table[table.split == "train"], table[table.split == "test"]
        keep = fixed_test(test.label.to_numpy(object))[1]
        return (
            train.text.tolist(),
            train.label.to_numpy(object),
            [test.text.tolist()[i] for i in keep],
            test.label.to_numpy(object)[keep],
            "text",
        )
    elif name in ("keywords", "sounds"):
        import audio_data

        return *audio_data.load(name), "sound"
    else:
        raise SystemExit(f"unknown data set {name}")
    pool, test = fixed_test(labels)
    return [items[i] for i in pool], labels[pool], [items[i] for i in test], labels[test], modality


def load_speakers(name: str, items) -> np.ndarray | None:
    """The pool items' speakers where the set records them (keywords), else None."""
    if MODALITY.get(name) != "sound":
        return None
    import audio_data

    return audio_data.speakers(name, items)


def forget(items) -> None:
    """Drop the items' embeddings from every encoder's memory, so a fit embeds them cold."""
    from smallfit import backbones
    from smallfit.data.identity import item_key

    for info in backbones.list_backbones():
        if info.available():
            memo = backbones.create(info.name)._memo
            for item in items:
                memo.pop(item_key(item), None)


def measure(method: str, train, test_items, test_labels, seed: int) -> dict:
    from smallfit.fitting.compare import fit_dataset

    forget(train.items)
    tic = time.perf_counter()
    if method == "default":
        model = fit_dataset(train, seed=seed)
    elif method == "default+groups":
        model = fit_dataset(train, seed=seed)  # train.groups holds the speakers
    else:
        strategy, _, backbone = method.partition("@")
        strategy, _, copies = strategy.partition("+")  # +copies: 2 copies, +copies1: 1
        params = {strategy: {"copies": int(copies.removeprefix("copies") or 2)}} if copies else None
        model = fit_dataset(
            train,
            strategy=strategy,
            strategy_params=params,
            backbone=backbone or None,
            seed=seed,
            estimate=False,
        )
    seconds = time.perf_counter() - tic
    predicted = np.array(model.classes, dtype=object)[model.predict_proba(test_items).argmax(1)]
    row = {
        "accuracy": float((predicted == test_labels).mean()),
        "balanced_accuracy": float(balanced_accuracy_score(test_labels, predicted)),
        "fit_seconds": round(seconds, 1),
    }
    if method.startswith("default"):
        honest = model.metrics["honest"]
        # the estimate describes data balanced like the training sample (k per class); the
        # test set keeps its source's class balance, so its balanced accuracy is the match
        matching = row["balanced_accuracy"]
        row |= {
            "estimate": {k: honest[k] for k in ("value", "low", "high")},
            "held": bool(honest["low"] <= matching <= honest["high"]),
            "chosen": model.strategy.name,
            "why": model.info.get("why"),
            # the single candidate the cross-validation ranked first (which encoder wins)
            "best_candidate": max(
                (r for r in model.info["candidates"] if r.get("accuracy")),
                key=lambda r: r["accuracy"]["value"],
            )["candidate"],
            "optimistic_cv": model.metrics["accuracy"]["value"],
        }
    return row


def mean_over(methods: dict, method: str, seeds: list[int]) -> tuple[float | None, int]:
    """Mean test accuracy (%) of `method` over the seeds the default ran on (so every cell
    compares the same splits), and how many seeds that is."""
    values = [r["accuracy"] for r in methods.get(method, []) if r["seed"] in seeds]
    return (100 * np.mean(values), len(values)) if values else (None, 0)


def report(result: dict) -> str:
    rows = result["rows"]
    by = defaultdict(dict)
    for r in rows:
        by[(r["set"], r["k"])].setdefault(r["method"], []).append(r)
    lines = [
        "## The default fit against each single strategy (issue 15)",
        "",
        f"`{result['command']}`; test sets fixed across seeds ({TEST_SIZE} items for images "
        "and texts; sounds: the set's whole test split); "
        "accuracy mean over the seeds measured (their number in brackets), the default's "
        "fit time (training items embedded cold, the benchmark alone on the 2 cores), its "
        "estimate's bias and how many of its 95% intervals held. The training samples are "
        "k per class, so the estimate describes class-balanced data; the test sets keep "
        "their source's class balance (R8 and SpamAssassin are imbalanced), so bias and "
        "'held' compare the estimate with the test set's balanced accuracy (mean recall; "
        "equal to accuracy on the balanced digits and Fashion-MNIST test sets).",
    ]
    for sound in (False, True):  # images and texts in one table, sounds in another
        if not any((MODALITY.get(n) == "sound") == sound for n, _ in by):
            continue
        singles = list(
            SINGLE["sound"] if sound else dict.fromkeys(SINGLE["image"] + SINGLE["text"])
        )
        lines += [
            "",
            "| data (per class) | default | best single | margin | "
            + " | ".join(singles)
            + " | default fit s | bias | held |",
            "|---" * (7 + len(singles)) + "|",
        ]
        for (name, k), methods in sorted(by.items()):
            if "default" not in methods or (MODALITY.get(name) == "sound") != sound:
                continue
            seeds = sorted(r["seed"] for r in methods["default"])
            default, n = mean_over(methods, "default", seeds)
            scores = {m: mean_over(methods, m, seeds) for m in singles}
            best = max((v for v, _ in scores.values() if v is not None), default=None)
            cells = [f"{v:.1f} ({c})" if v is not None else "—" for v, c in scores.values()]
            bias = np.mean(
                [r["estimate"]["value"] - r["balanced_accuracy"] for r in methods["default"]]
            )
            held = sum(r["held"] for r in methods["default"])
            seconds = np.mean([r["fit_seconds"] for r in methods["default"]])
            margin = f"{default - best:+.1f}" if best is not None else "—"
            lines.append(
                f"| {TITLES[name]} ({k}) | {default:.1f} ({n}) | "
                + (f"{best:.1f}" if best is not None else "—")
                + f" | {margin} | "
                + " | ".join(cells)
                + f" | {seconds:.0f} | {100 * bias:+.1f} | {held}/{n} |"
            )
    grouped = [(key, m) for key, m in sorted(by.items()) if "default+groups" in m]
    if grouped:
        lines += [
            "",
            "### The estimate with folds grouped by speaker (`--methods default+groups`)",
            "",
            "The same default fit, told each clip's speaker (`groups`): every fold holds "
            "whole speakers, as the test set does. Test accuracy and the estimate's bias "
            "and held intervals, beside the ungrouped default on the same seeds.",
            "",
            "| data (per class) | folds | test accuracy | estimate | bias | held |",
            "|---|---|---|---|---|---|",
        ]
        for (name, k), methods in grouped:
            for method, folds in (("default", "by clip"), ("default+groups", "by speaker")):
                runs = methods.get(method, [])
                if not runs:
                    continue
                accuracy = 100 * np.mean([r["accuracy"] for r in runs])
                estimate = 100 * np.mean([r["estimate"]["value"] for r in runs])
                bias = 100 * np.mean(
                    [r["estimate"]["value"] - r["balanced_accuracy"] for r in runs]
                )
                held = sum(r["held"] for r in runs)
                lines.append(
                    f"| {TITLES[name]} ({k}) | {folds} | {accuracy:.1f} ({len(runs)}) | "
                    f"{estimate:.1f} | {bias:+.1f} | {held}/{len(runs)} |"
                )
    lines += ["", "Chosen by the default fit, per run:", ""]
    for r in rows:
        if r["method"].startswith("default"):
            grouped_by = " (folds by speaker)" if r["method"] == "default+groups" else ""
            lines.append(
                f"- {r['set']} {r['k']}/class seed {r['seed']}{grouped_by}: {r['chosen']} "
                f"— {r['why']} "
                + (f"(best single in CV: {r['best_candidate']}) " if "best_candidate" in r else "")
                + f"(test {100 * r['accuracy']:.1f}, balanced {100 * r['balanced_accuracy']:.1f}, "
                f"estimate {100 * r['estimate']['value']:.1f} "
                f"[{100 * r['estimate']['low']:.1f}, {100 * r['estimate']['high']:.1f}])"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", nargs="+", default=["digits:10", "fashion:10", "r8:8"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(CHEAP))
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("SMALLFIT_QUIET", "1")
    os.environ["SMALLFIT_CACHE"] = tempfile.mkdtemp(prefix="smallfit-bench-")  # cold
    result = json.loads(OUT.read_text()) if OUT.exists() else {"rows": [], "command": COMMAND}
    result["machine"] = machine()
    if not args.report_only:
        from smallfit.modalities.reading import from_python

        done = {(r["set"], r["k"], r["seed"], r["method"]) for r in result["rows"]}
        for piece in args.slices:
            name, k = piece.split(":")
            items, labels, test_items, test_labels, modality = load(name)
            speakers = load_speakers(name, items)
            for seed in args.seeds:
                picked = sample_per_class(labels, int(k), seed)
                train = from_python([items[i] for i in picked], labels[picked])
                for method in args.methods:
                    if method == "default+groups" and speakers is not None:
                        train.groups = speakers[picked]
                    elif method != "default" and method not in SINGLE[modality]:
                        continue
                    else:
                        train.groups = None
                    if (name, int(k), seed, method) in done:
                        continue
                    row = measure(method, train, test_items, test_labels, seed)
                    row = {"set": name, "k": int(k), "seed": seed, "method": method} | row
                    print(json.dumps(row), flush=True)
                    result["rows"].append(row)
                    OUT.write_text(json.dumps(result, indent=2))
    (RESULTS / "default_fit.md").write_text(report(result) + "\n")
    print(report(result))


if __name__ == "__main__":
    main()
