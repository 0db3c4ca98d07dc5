"""Fit AutoGluon on one training table and predict a test table, for benchmarks/tables.py.

Runs in AutoGluon's own virtual environment (benchmarks/autogluon_env.sh), never in
smallfit's: AutoGluon pins older pandas and pyarrow. Reading the CSV files with
pd.read_csv gives plain float and int columns, which AutoGluon handles (it mistakes
pandas nullable-integer columns for booleans and crashes).

    .autogluon-venv/bin/python autogluon_runner.py --train T.csv --test X.csv \
        --label species --time-limit 10 --out result.json

Writes JSON: classes, proba (rows in the test file's order, columns in classes' order),
fit_seconds, the AutoGluon version and the model it predicts with.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import pandas as pd
from autogluon.tabular import TabularPredictor
from autogluon.tabular import __version__ as autogluon_version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", required=True, help="CSV with the label column")
    parser.add_argument("--test", required=True, help="CSV without the label column")
    parser.add_argument("--label", required=True)
    parser.add_argument("--time-limit", type=float, required=True, help="seconds for fit")
    parser.add_argument("--presets", default="medium_quality")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    train = pd.read_csv(args.train, dtype={args.label: str})
    test = pd.read_csv(args.test)
    with tempfile.TemporaryDirectory(prefix="autogluon-") as path:
        predictor = TabularPredictor(label=args.label, path=path, verbosity=1)
        tic = time.perf_counter()
        predictor.fit(train, presets=args.presets, time_limit=args.time_limit)
        seconds = time.perf_counter() - tic
        proba = predictor.predict_proba(test)
        result = {
            "classes": [str(c) for c in proba.columns],
            "proba": proba.to_numpy().tolist(),
            "fit_seconds": round(seconds, 1),
            "autogluon_version": autogluon_version,
            "best_model": predictor.model_best,
        }
    with open(args.out, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
