#!/usr/bin/env python
"""Target (c) of issue 17: the wall-clock time of a default table fit of 200 rows, run
alone on the machine, embeddings cold (as a new user's).

    python benchmarks/table_fit_time.py --sets titanic penguins

200 rows drawn (seed 0) from each set's training pool (benchmarks/tables.py's split);
writes results/table_fit_time.json and .md.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import tables as base

RESULTS = Path(__file__).parent / "results"
ROWS = 200
LIMIT = 60.0  # seconds, the target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["titanic", "penguins"], choices=base.SETS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import smallfit

    rows = []
    for name in args.sets:
        frame, label, _ = base.load(name)
        pool, _ = base.split(frame, label)
        train = pool.sample(n=min(ROWS, len(pool)), random_state=0).reset_index(drop=True)
        base.forget_embeddings()
        tic = time.perf_counter()
        model = smallfit.fit(train, label_column=label, seed=0)
        seconds = time.perf_counter() - tic
        rows.append(
            {
                "set": name,
                "rows": len(train),
                "fit_seconds": round(seconds, 1),
                "learning_curve": "learning_curve" in model.info,
                "importance_seconds": model.info.get("importance", {}).get("seconds"),
                "why": model.info.get("why", ""),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    command = "python benchmarks/table_fit_time.py --sets " + " ".join(args.sets)
    (RESULTS / "table_fit_time.json").write_text(
        json.dumps({"rows": rows, "command": command, "machine": base.machine()}, indent=1)
    )
    lines = [
        "# Tables: a default fit of 200 rows (issue 17, target c: at most 60 s on 2 cores)",
        "",
        "| set | rows | fit s | learning curve | importance s | within 60 s |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['set']} | {row['rows']} | {row['fit_seconds']} | "
            f"{'yes' if row['learning_curve'] else 'no'} | {row['importance_seconds']} | "
            f"{'yes' if row['fit_seconds'] <= LIMIT else 'no'} |"
        )
    lines += [
        "",
        "The whole default fit (comparison, combination, refit, learning curve when cheap, "
        "column importance), run alone on the machine, embeddings cold.",
        "",
        f"Command: `{command}`",
    ]
    (RESULTS / "table_fit_time.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
