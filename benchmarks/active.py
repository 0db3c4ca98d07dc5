#!/usr/bin/env python
"""Active learning simulation (issue 5): does choosing what to label beat random labels?

    python benchmarks/active.py            # Fashion-MNIST and Reuters R8, 3 seeds

Start at 2 labels per class drawn at random from the pool, then acquire batches of 10
with each of smallfit's query strategies (smallfit.active.QUERIES, random among them),
up to 200 labels; after each batch a probe is refit and scored on the fixed test set.
Pools: Fashion-MNIST, a stratified 5,000 of the training images (seed 0); Reuters R8,
its whole training split (5,485 texts, imbalanced as published). Test sets: the 2,000
Fashion-MNIST test images of benchmarks/run.py and R8's 2,189 test texts.

For speed the simulation works on embeddings computed once (efficientnet_lite0, minilm;
cached), and the probe is smallfit's probe with a FIXED C = 0.1 (the value its
LogisticHead takes when it cannot cross-validate) instead of its inner cross-validation:
L2-normalised embeddings, standardised, multinomial logistic regression. The committee
is that probe refit on each fold of a stratified k-fold split of the labels so far
(smallfit.active.fold_committee, k as smallfit.evaluate.make_splits chooses), as
`suggest` refits the model on its stored embeddings. Writes results/active.json,
results/active.md and one learning-curve PNG per dataset.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import RESULTS, fashion, machine, r8, sample_per_class  # noqa: E402

from smallfit import backbones  # noqa: E402
from smallfit.active import QUERIES, Candidates, fold_committee  # noqa: E402
from smallfit.numeric import normalise  # noqa: E402

C = 0.1
START_PER_CLASS = 2
BATCH = 10
BUDGET = 200
SEEDS = (0, 1, 2)
COMMAND = "python benchmarks/active.py"


def data(name: str):
    """Pool embeddings and labels, test embeddings and labels, class names."""
    if name == "Fashion-MNIST":
        items, labels, test_items, test_labels, _, _ = fashion()
        rows = sample_per_class(labels, 500, seed=0)
        items, labels, encoder = [items[i] for i in rows], labels[rows], "efficientnet_lite0"
    else:
        items, labels, test_items, test_labels, _, _ = r8()
        encoder = "minilm"
    encoder = backbones.create(encoder)
    embed = lambda x, what: normalise(encoder.embed(x, description=f"{name} {what}"))  # noqa: E731
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    return (
        embed(items, "pool"),
        np.array([index[v] for v in labels]),
        embed(test_items, "test"),
        np.array([index[v] for v in test_labels]),
        classes,
    )


def probe():
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))


def simulate(pool, y, test, y_test, classes, strategy: str, seed: int) -> dict:
    """One learning curve: labels and test accuracy after each acquisition."""
    query = QUERIES[strategy]
    labeled = sample_per_class(y, START_PER_CLASS, seed)
    sizes, accuracy, seconds = [], [], []
    for round_ in range(1000):
        model = probe().fit(pool[labeled], y[labeled])
        sizes.append(len(labeled))
        accuracy.append(float((model.predict(test) == y_test).mean()))
        if len(labeled) >= BUDGET:
            break
        open_ = np.setdiff1d(np.arange(len(y)), labeled)
        tic = time.perf_counter()
        candidates = Candidates(pool[open_], pool[labeled], classes, seed=1000 * seed + round_)
        if query.needs == "proba":
            candidates.proba = model.predict_proba(pool[open_])
        if query.needs == "committee":
            candidates.committee = committee(pool[labeled], y[labeled], pool[open_], seed)
        picks = query.select(candidates, min(BATCH, BUDGET - len(labeled)))
        seconds.append(time.perf_counter() - tic)
        labeled = np.concatenate([labeled, open_[picks.rows]])
    return {"labels": sizes, "accuracy": accuracy, "query_seconds": float(np.mean(seconds))}


def committee(features, labels, pool, seed: int) -> np.ndarray:
    """The probe refit on each fold of the labels so far, predicting the pool."""

    def fit_predict(rows):
        return probe().fit(features[rows], labels[rows]).predict_proba(pool)

    return fold_committee(fit_predict, labels, seed)


def labels_to_reach(sizes: list, curve: np.ndarray, target: float) -> int | None:
    """The first measured number of labels whose accuracy reaches `target` (None: never)."""
    reached = np.flatnonzero(curve >= target)
    return int(sizes[reached[0]]) if reached.size else None


def aulc(sizes: list, curve: np.ndarray) -> float:
    """Area under the learning curve divided by the label range: the mean accuracy."""
    return float(np.trapezoid(curve, sizes) / (sizes[-1] - sizes[0]))


def summarise(name: str, runs: dict, full: float) -> dict:
    sizes = runs["random"][0]["labels"]
    mean = {s: np.mean([r["accuracy"] for r in rows], axis=0) for s, rows in runs.items()}
    random_at_100 = float(np.interp(100, sizes, mean["random"]))
    table = {}
    for strategy, rows in runs.items():
        areas = [aulc(sizes, np.array(r["accuracy"])) for r in rows]
        table[strategy] = {
            "aulc_mean": float(np.mean(areas)),
            "aulc_std": float(np.std(areas)),
            "accuracy_at_start": float(mean[strategy][0]),
            "accuracy_at_100": float(np.interp(100, sizes, mean[strategy])),
            "accuracy_at_budget": float(mean[strategy][-1]),
            "labels_to_90pct_of_full": labels_to_reach(sizes, mean[strategy], 0.9 * full),
            "labels_to_95pct_of_full": labels_to_reach(sizes, mean[strategy], 0.95 * full),
            "labels_to_random_at_100": labels_to_reach(sizes, mean[strategy], random_at_100),
            "query_seconds": float(np.mean([r["query_seconds"] for r in rows])),
        }
    needed = [v["labels_to_random_at_100"] for k, v in table.items() if k != "random"]
    best = min((n for n in needed if n is not None), default=None)
    return {
        "full_pool_accuracy": full,
        "random_accuracy_at_100": random_at_100,
        "strategies": table,
        "best_labels_to_random_at_100": best,
        "target_met": best is not None and best <= 60,
    }


def plot(name: str, runs: dict, full: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.2), dpi=90)
    for strategy, rows in runs.items():
        sizes = rows[0]["labels"]
        curve = np.mean([r["accuracy"] for r in rows], axis=0)
        style = {"color": "black", "linewidth": 2.2} if strategy == "random" else {}
        axes.plot(sizes, 100 * curve, label=strategy, **style)
    axes.axhline(100 * full, color="grey", linestyle=":", label="all pool labels")
    axes.set(xlabel="labels", ylabel="test accuracy (%)", title=f"{name}: mean of 3 seeds")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def markdown(result: dict) -> str:
    lines = [
        "## Active learning: query strategies against random labels",
        "",
        f"`{result['command']}` — start at {START_PER_CLASS} random labels per class, batches "
        f"of {BATCH} chosen from the pool by each strategy (`random` is the baseline), up to "
        f"{BUDGET} labels; {len(SEEDS)} seeds. Probe: L2-normalised embeddings, standardised, "
        f"logistic regression with a fixed C = {C} (no inner cross-validation, for speed), "
        "refit after each batch; committee: that probe on each fold of the labels so far. "
        "AULC: area under the learning curve divided by the label range (the mean accuracy "
        "over it), mean ± std over seeds. Labels to reach: the first measured size at which "
        "the mean curve reaches the accuracy (a dash: not within the budget). Query seconds: "
        "per batch, on a shared, loaded 2-core machine (upper bounds).",
        "",
    ]
    for name, summary in result["datasets"].items():
        full, at100 = summary["full_pool_accuracy"], summary["random_accuracy_at_100"]
        info = result["data"][name]
        lines += [
            f"**{name}** — pool {info['pool']}, test {info['test']}; accuracy with all "
            f"{info['pool']} pool labels {100 * full:.1f}%; random at 100 labels "
            f"{100 * at100:.1f}%. ![learning curves]({info['plot']})",
            "",
            "| strategy | AULC | accuracy at start / 100 / "
            f"{BUDGET} labels | labels to 90% / 95% of all-label accuracy "
            f"| labels to random's accuracy at 100 | query seconds |",
            "|---|---|---|---|---|---|",
        ]
        for strategy, row in summary["strategies"].items():
            shown = [
                "-" if row[k] is None else str(row[k])
                for k in (
                    "labels_to_90pct_of_full",
                    "labels_to_95pct_of_full",
                    "labels_to_random_at_100",
                )
            ]
            lines.append(
                f"| {strategy} | {100 * row['aulc_mean']:.1f} ± {100 * row['aulc_std']:.1f} | "
                f"{100 * row['accuracy_at_start']:.1f} / {100 * row['accuracy_at_100']:.1f} / "
                f"{100 * row['accuracy_at_budget']:.1f} | {shown[0]} / {shown[1]} | {shown[2]} "
                f"| {row['query_seconds']:.1f} |"
            )
        best = summary["best_labels_to_random_at_100"]
        verdict = "met" if summary["target_met"] else "missed"
        lines += [
            "",
            f"Target (the best strategy reaches random's accuracy at 100 labels with at most "
            f"60): **{verdict}** on {name} — best strategy needs "
            f"{best if best is not None else 'more than ' + str(BUDGET)} labels.",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    started = time.perf_counter()
    result = {"command": COMMAND, "datasets": {}, "data": {}, "runs": {}}
    for name, slug in (("Fashion-MNIST", "fashion"), ("Reuters R8", "r8")):
        pool, y, test, y_test, classes = data(name)
        full = float((probe().fit(pool, y).predict(test) == y_test).mean())
        runs = {}
        for strategy in QUERIES:
            runs[strategy] = []
            for seed in SEEDS:
                run = simulate(pool, y, test, y_test, classes, strategy, seed)
                runs[strategy].append(run)
                print(
                    json.dumps(
                        {"dataset": name, "strategy": strategy, "seed": seed}
                        | {"final": run["accuracy"][-1], "query_seconds": run["query_seconds"]}
                    ),
                    flush=True,
                )
        png = RESULTS / f"active_{slug}.png"
        plot(name, runs, full, png)
        result["datasets"][name] = summarise(name, runs, full)
        result["data"][name] = {"pool": len(y), "test": len(y_test), "plot": f"results/{png.name}"}
        result["runs"][name] = runs
        result["seconds"] = round(time.perf_counter() - started, 1)
        result["machine"] = machine() | {"load_average_now": list(os.getloadavg())}
        (RESULTS / "active.json").write_text(json.dumps(result, indent=1))  # after each dataset
        (RESULTS / "active.md").write_text(markdown(result) + "\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
