#!/usr/bin/env python
"""Ensembles and distillation (issue 4): the best single candidate, the greedy ensemble
and a distilled student on the fixed test sets.

    python benchmarks/ensemble.py                 # Fashion-MNIST 10 and 50 per class, R8 16
    python benchmarks/ensemble.py --tasks fashion:10 r8:16 --seeds 0 1 2

Per task and seed: `smallfit.fit(..., ensemble=True)` on k examples per class (seeded
samples) compares the default candidates and selects an ensemble; the best single
candidate (the leaderboard's top) and the selected ensemble (whether or not fit kept it)
are refit on the k per class and scored on the test set, as is a student distilled from
the ensemble into a probe on the default encoder, without and with an unlabeled pool of
500 further training items. Prediction times are per item with uncached embeddings on
64 test items. Writes results/ensemble.json and results/ensemble.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from run import RESULTS, fashion, machine, r8, sample_per_class

TASKS = (("fashion", 10), ("fashion", 50), ("r8", 16))
POOL = 500
TIMED = 64


def test_accuracy(model, items, labels) -> float:
    return float((model.predict(items) == labels).mean())


def run_task(task: str, k: int, seed: int) -> dict:
    import smallfit
    from smallfit.distill import seconds_per_item
    from smallfit.fitting.candidates import build, candidates_for
    from smallfit.modalities.reading import from_python
    from smallfit.model import Model
    from smallfit.strategies.ensemble import Ensemble

    train_items, train_labels, test_items, test_labels, _, modality = (
        fashion() if task == "fashion" else r8()
    )
    index = sample_per_class(train_labels, k, seed)
    items, labels = [train_items[i] for i in index], train_labels[index]
    rest = np.setdiff1d(np.arange(len(train_items)), index)
    pool_rows = np.random.default_rng(seed).choice(rest, POOL, replace=False)
    pool = [train_items[i] for i in pool_rows]
    tests = from_python(test_items)

    tic = time.perf_counter()
    fitted = smallfit.fit(items, labels, seed=seed, ensemble=True, learning_curve=False)
    fit_seconds = time.perf_counter() - tic
    record = fitted.info["ensemble"]
    board = [r for r in fitted.info["candidates"] if r["accuracy"]]
    best = max(board, key=lambda r: r["accuracy"]["value"])
    by_label = {c.label: c for c in candidates_for(modality, None, None)}
    row = {
        "task": task,
        "k": k,
        "seed": seed,
        "n_train": len(items),
        "fit_seconds": round(fit_seconds, 1),
        "kept": record["kept"],
        "reason": record["reason"],
        "members": record.get("members"),
        "cv": {
            "best_single": best["accuracy"]["value"],
            "ensemble_optimistic": record["scores"]["selected_and_scored_on_all"]["accuracy"][
                "value"
            ]
            if "scores" in record
            else None,
            "ensemble_cross_fitted": record["scores"]["cross_fitted"]["ensemble"]["value"]
            if "scores" in record
            else None,
            "best_single_cross_fitted": record["scores"]["cross_fitted"]["best_single"]["value"]
            if "scores" in record
            else None,
        },
    }
    train = from_python(items, labels)

    def refit(label):
        strategy, encoder = build(by_label[label], seed)
        return strategy.fit(train, encoder), by_label[label]

    single, candidate = refit(best["candidate"])
    models = {"best_single": Model(single, candidate.backbone, modality, train.classes, {})}
    if record.get("members") and len(record["members"]) > 1:
        specs = []
        for member in record["members"]:
            candidate = by_label[member["candidate"]]
            params = build(candidate, seed)[0].get_params()
            specs.append(
                {"strategy": candidate.strategy, "params": params, "backbone": candidate.backbone}
            )
        weights = [m["weight"] for m in record["members"]]
        tic = time.perf_counter()
        blend = Ensemble(specs, weights).fit(train)
        row["ensemble_refit_seconds"] = round(time.perf_counter() - tic, 1)
        models["ensemble"] = Model(blend, None, modality, train.classes, {})
        for name, unlabeled in (("student", None), ("student_pool", pool)):
            tic = time.perf_counter()
            student = smallfit.distill(
                models["ensemble"], items, labels, into="probe", unlabeled=unlabeled, seed=seed
            )
            row[f"{name}_distill_seconds"] = round(time.perf_counter() - tic, 1)
            row[f"{name}_check"] = student.info["distillation"]["check"]
            models[name] = student
    for name, model in models.items():
        row[f"{name}_test_accuracy"] = test_accuracy(model, tests, test_labels)
        row[f"{name}_seconds_per_item"] = seconds_per_item(model, test_items[:TIMED])
    print(json.dumps(row), flush=True)
    return row


def markdown(result: dict) -> str:
    lines = [
        "## Ensembles and distillation",
        "",
        f"`{result['command']}` — fit with `ensemble=True` on k examples per class (seeded "
        "samples); test accuracy on the fixed test sets (Fashion-MNIST 2,000 images, R8 "
        "2,189 texts). `single`: the best candidate of the comparison; `ensemble`: the "
        "greedy selection, refit, whether or not fit kept it; `student`: distilled from that "
        f"ensemble into a probe on the default encoder (`+pool`: with {POOL} unlabeled "
        "training items). Times were measured on a shared, loaded machine: upper bounds.",
        "",
        "| task | k | seed | members (weight) | kept by fit? | CV single / ens. optimistic / "
        "ens. cross-fitted / single cross-fitted | test single | test ensemble | test student "
        "| test student+pool | s/item single / ens. / student | fit s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def pct(value):
        return "-" if value is None else f"{100 * value:.1f}"

    for r in result["rows"]:
        members = ", ".join(f"{m['candidate']} {m['weight']:.2f}" for m in r["members"] or [])
        cv = r["cv"]
        times = " / ".join(
            f"{r[f'{n}_seconds_per_item']:.4f}" if f"{n}_seconds_per_item" in r else "-"
            for n in ("best_single", "ensemble", "student")
        )
        lines.append(
            f"| {r['task']} | {r['k']} | {r['seed']} | {members} | "
            f"{'yes' if r['kept'] else 'no'} | {pct(cv['best_single'])} / "
            f"{pct(cv['ensemble_optimistic'])} / {pct(cv['ensemble_cross_fitted'])} / "
            f"{pct(cv['best_single_cross_fitted'])} | {pct(r['best_single_test_accuracy'])} | "
            f"{pct(r.get('ensemble_test_accuracy'))} | {pct(r.get('student_test_accuracy'))} | "
            f"{pct(r.get('student_pool_test_accuracy'))} | {times} | {r['fit_seconds']:.0f} |"
        )
    lines += ["", summary(result["rows"])]
    done = {(r["task"], r["k"]) for r in result["rows"]}
    missing = [f"{t} {k}/class" for t, k in TASKS if (t, k) not in done]
    if missing:
        lines.append(f"Not measured in this run: {', '.join(missing)}.")
    lines.append("")
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    """One honest line per task: mean test gain of the ensemble and what the student keeps."""
    parts = []
    for task, k in dict.fromkeys((r["task"], r["k"]) for r in rows):
        group = [
            r for r in rows if (r["task"], r["k"]) == (task, k) and "ensemble_test_accuracy" in r
        ]
        if not group:
            parts.append(f"{task} {k}/class: the selection kept a single candidate.")
            continue
        gain = np.mean(
            [r["ensemble_test_accuracy"] - r["best_single_test_accuracy"] for r in group]
        )
        kept = np.mean([r["student_test_accuracy"] / r["ensemble_test_accuracy"] for r in group])
        right = sum(
            (r["kept"] and r["ensemble_test_accuracy"] > r["best_single_test_accuracy"])
            or (not r["kept"] and r["ensemble_test_accuracy"] <= r["best_single_test_accuracy"])
            for r in group
        )
        parts.append(
            f"{task} {k}/class: ensemble {100 * gain:+.1f} points over the best single on the "
            f"test set (mean of {len(group)} seeds); the student keeps {100 * kept:.1f}% of the "
            f"ensemble's test accuracy; fit's keep-or-not decision was right for {right} of "
            f"{len(group)}."
        )
    return "Measured: " + " ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--tasks", nargs="+", default=[f"{t}:{k}" for t, k in TASKS], help="e.g. fashion:10 r8:16"
    )
    args = parser.parse_args()
    os.environ.setdefault("SMALLFIT_QUIET", "1")
    command = "python benchmarks/ensemble.py " + " ".join(
        [f"--tasks {' '.join(args.tasks)}", f"--seeds {' '.join(map(str, args.seeds))}"]
    )
    # rows of other tasks and seeds from earlier runs are kept (with their commands)
    planned = {
        (t.split(":")[0], int(t.split(":")[1]), seed) for t in args.tasks for seed in args.seeds
    }
    earlier = RESULTS / "ensemble.json"
    rows, commands = [], [command]
    if earlier.exists():
        previous = json.loads(earlier.read_text())
        rows = [r for r in previous["rows"] if (r["task"], r["k"], r["seed"]) not in planned]
        commands = list(dict.fromkeys([*previous["command"].split("; "), command]))
    for task in args.tasks:
        name, k = task.split(":")
        for seed in args.seeds:
            rows.append(run_task(name, int(k), seed))
            # written after every row, so that a stopped run keeps what it measured
            result = {"command": "; ".join(commands), "rows": rows, "machine": machine()}
            (RESULTS / "ensemble.json").write_text(json.dumps(result, indent=2))
            (RESULTS / "ensemble.md").write_text(markdown(result))


if __name__ == "__main__":
    sys.exit(main())
