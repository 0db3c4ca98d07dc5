#!/usr/bin/env bash
# AutoGluon's own virtual environment for benchmarks/tables.py (issue 17). AutoGluon 1.6.3
# wants older pandas (<2.4) and pyarrow (<25) than smallfit, so it cannot share /work/venv;
# tables.py calls it as a subprocess (benchmarks/autogluon_runner.py) with this venv's python.
#
#     nice -n 19 bash benchmarks/autogluon_env.sh          # creates benchmarks/.autogluon-venv
#
# It installs autogluon.tabular[all]; if that cannot be resolved (its torch pin is <2.14),
# it falls back to autogluon.tabular with the tree models only (LightGBM, CatBoost, XGBoost)
# and says so. The venv's pip freeze is written beside it (freeze.txt) for the results.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${AUTOGLUON_VENV:-$HERE/.autogluon-venv}"
PYTHON="${PYTHON:-python3.11}"
VERSION="1.6.3"

"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --upgrade pip
if ! "$VENV/bin/pip" install "autogluon.tabular[all]==$VERSION"; then
    echo "autogluon.tabular[all]==$VERSION did not install; falling back to the tree models" >&2
    "$VENV/bin/pip" install "autogluon.tabular[lightgbm,catboost,xgboost]==$VERSION"
fi
"$VENV/bin/pip" freeze >"$VENV/freeze.txt"
"$VENV/bin/python" -c "import autogluon.tabular as t; print('autogluon.tabular', t.__version__)"
