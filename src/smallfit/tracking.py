"""Experiment tracking: log a fit's settings, metrics and model directory to MLflow.

For users who already track their work there; MLflow is an optional extra
(`pip install -e ".[tracking]"`, which brings mlflow-skinny).
"""

from __future__ import annotations

import re
from pathlib import Path

from smallfit.errors import SmallfitError

METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "log_loss", "ece")


def log_fit(model, model_dir: Path, tracking_uri: str | None = None) -> str:
    """Log `model` (saved in `model_dir`) as one MLflow run; returns the run id.

    `tracking_uri` None uses MLflow's own default (MLFLOW_TRACKING_URI, else
    sqlite:///mlflow.db with artifacts under ./mlruns/).
    """
    try:
        import mlflow
    except ImportError:
        raise SmallfitError(
            "--mlflow needs MLflow: pip install 'smallfit[tracking]' (or mlflow-skinny)."
        ) from None
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("smallfit")
    info = model.info
    params = {
        "strategy": model.strategy.name,
        "backbone": model.backbone,
        **{f"strategy.{k}": v for k, v in model.strategy.get_params().items()},
        **{f"settings.{k}": v for k, v in info.get("settings", {}).items()},
        "n_items": info["data"]["n_items"],
        "data_fingerprint": info["data"]["fingerprint"],
    }
    parts = (("value", ""), ("low", "_low"), ("high", "_high"))
    metrics = {
        f"cv_{key}{part}": value[kind]
        for key in METRICS
        if isinstance(value := info["metrics"].get(key), dict)
        for kind, part in parts
        if value.get(kind) is not None
    }
    honest = info["metrics"].get("honest")
    if honest:
        metrics |= {f"honest_accuracy{part}": honest[kind] for kind, part in parts}
    metrics["fit_seconds"] = info["fit_seconds"]
    with mlflow.start_run(run_name=f"{model.strategy.name} on {info['data']['source']}") as run:
        mlflow.log_params({clean(k): str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(metrics)
        if honest:
            mlflow.set_tag("honest_estimate_method", honest["method"])
        mlflow.log_artifacts(str(model_dir), artifact_path="model")
    return run.info.run_id


def clean(key: str) -> str:
    """MLflow keys allow letters, digits, _ - . / and spaces."""
    return re.sub(r"[^\w\-./ ]", "_", key)
