#!/usr/bin/env python
"""Do the small-data techniques help? smallfit's table fit with candidates="full" (the
default five plus knn[augment=smote], mlp[augment=noise], boosting[bagging=10] and
boosting[engine=lightgbm]) beside the default fit, on the same fixed splits as
benchmarks/tables.py (whose smallfit rows are the default here).

    python benchmarks/table_techniques.py --sets iris wine breast_cancer penguins titanic \
        --sizes 10 20 --seeds 0 1 2

Writes results/table_techniques.json (rows kept and skipped when already measured) and
results/table_techniques.md: per cell, the test metric of both (macro-F1 where the test
classes are imbalanced, as in tables.md), whether the full fit's interval held, and how
often a technique's variant was among the kept members.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import tables as base

RESULTS = Path(__file__).parent / "results"
TECHNIQUES = ("augment=smote", "augment=noise", "bagging=10", "engine=lightgbm")


def measure(sets: list[str], sizes: list[str], seeds: list[int]) -> dict:
    path = RESULTS / "table_techniques.json"
    result = json.loads(path.read_text()) if path.exists() else {"rows": []}
    done = {(r["set"], r["size"], r["seed"]) for r in result["rows"]}
    for name in sets:
        frame, label, _ = base.load(name)
        pool, test = base.split(frame, label)
        for size in sizes:
            for seed in seeds:
                if (name, size, seed) in done:
                    continue
                train = pool.iloc[base.training_rows(pool[label].to_numpy(), size, seed)]
                per_class = size not in ("all", "10%")
                row = base.measure_smallfit(
                    train.reset_index(drop=True), test, label, seed, per_class, "full"
                )
                row |= {"set": name, "size": size, "seed": seed, "n_train": len(train)}
                print(json.dumps(row), flush=True)
                result["rows"].append(row)
                path.write_text(json.dumps(result, indent=1))
    return result


def report(result: dict) -> str:
    default = json.loads((RESULTS / "tables.json").read_text())
    metric = {n: s.get("compared", "accuracy") for n, s in default["sets"].items()}
    by_key = {
        (r["set"], r["size"], r["seed"]): r
        for r in default["rows"]
        if r["method"] == "smallfit" and "skipped" not in r
    }
    lines = [
        '# Tables: the small-data techniques (candidates="full") beside the default fit',
        "",
        "| set | training rows | seeds | default | full | full - default | intervals held "
        "(full) | a technique kept | fit s (full) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    cells: dict[tuple, list] = {}
    for row in result["rows"]:
        if "skipped" not in row and (row["set"], row["size"], row["seed"]) in by_key:
            cells.setdefault((row["set"], row["size"]), []).append(row)
    gaps = []
    for (name, size), rows in cells.items():
        key = metric[name]
        full = [r[key] for r in rows]
        plain = [by_key[(name, size, r["seed"])][key] for r in rows]
        kept = sum(any(t in r.get("why", "").split(":")[0] for t in TECHNIQUES) for r in rows)
        gap = 100 * (np.mean(full) - np.mean(plain))
        gaps.append(gap)
        lines.append(
            f"| {name} | {base.shown(size)} | {','.join(str(r['seed']) for r in rows)} | "
            f"{100 * np.mean(plain):.1f} | {100 * np.mean(full):.1f} | {gap:+.1f} | "
            f"{sum(r['held'] for r in rows)}/{len(rows)} | {kept}/{len(rows)} | "
            f"{np.mean([r['fit_seconds'] for r in rows]):.1f} |"
        )
    if gaps:
        lines += [
            "",
            f"Mean of full - default over {len(gaps)} cells: {np.mean(gaps):+.2f} points.",
        ]
    lines += [
        "",
        "Metric: macro-F1 where the set's test classes are imbalanced, else accuracy (as in "
        "tables.md). The default column is tables.md's smallfit row on the same seeds. "
        "'A technique kept': a technique's variant was among the members of the kept "
        "combination; the plain average, when it wins, keeps every candidate, so this says "
        "little of whether the technique helped (the full - default column does). Samples of "
        "k rows per class are balanced, so SMOTE adds no row there: knn[augment=smote] is "
        "knn again.",
        "",
        "Command: `python benchmarks/table_techniques.py "
        + " ".join(result.get("command", []))
        + "`",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(base.SETS), choices=base.SETS)
    parser.add_argument("--sizes", nargs="+", default=["10", "20"], choices=base.SIZES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    result = measure(args.sets, args.sizes, args.seeds)
    result["command"] = ["--sets", *args.sets, "--sizes", *args.sizes, "--seeds"] + [
        str(s) for s in args.seeds
    ]
    (RESULTS / "table_techniques.json").write_text(json.dumps(result, indent=1))
    (RESULTS / "table_techniques.md").write_text(report(result))
    print(report(result))


if __name__ == "__main__":
    main()
