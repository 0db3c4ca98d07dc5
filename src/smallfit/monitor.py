"""Drift: is new data still like the data a model was trained on?

The verdict rests on the maximum mean discrepancy (MMD, Gretton et al. 2012) between the
model's stored reference embeddings and the new data's, in the same fixed space (a
pretrained encoder's, or for a kind of item without one, its own features as fitted on
the training items), with an RBF kernel whose bandwidth is the median heuristic, and a
permutation p-value. Under no drift the permutation p-value is exact, so alpha is the
false-alarm rate: ALPHA = 0.01 means one false alarm in a hundred checks of unchanged
data, which a pipeline gate can live with, while the shifts worth stopping for (another
domain, other lighting, other topics) give p-values at the permutation floor of about
0.001. Where the modality also tests each part of an item (a table's columns:
Modality.column_drift), those tests vote too, all corrected together by Holm's method,
so that alpha still bounds the chance of any false alarm; each drifted column is named.

The other statistics describe what changed and do not vote: a domain classifier's
cross-validated ROC-AUC (0.5: indistinguishable; 1: fully separable), the predicted class
mix against the training's, and the prediction confidence against the training's. The
training side of those two comes from cross-validation models rather than the final
model, so their p-values are approximate.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import chi2_contingency, mannwhitneyu
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from smallfit import modalities
from smallfit.errors import SmallfitError
from smallfit.modalities.reading import to_dataset
from smallfit.model import Model, load
from smallfit.numeric import normalise
from smallfit.reference import DTYPE, Reference, reference_encoder, require_reference
from smallfit.twosample import PERMUTATIONS, holm, mmd_test

ALPHA = 0.01
# Rows per side in the MMD and domain-classifier tests: bounds them to seconds (the kernel
# matrix is (2 x 1,000)^2) while leaving power to spare for shifts that matter.
MAX_TEST_ROWS = 1000


def domain_auc(reference: np.ndarray, new: np.ndarray, seed: int = 0) -> float | None:
    """Cross-validated ROC-AUC of a logistic regression telling new rows from reference
    rows; None when either side has fewer than two rows."""
    folds = min(5, len(reference), len(new))
    if folds < 2:
        return None
    features = np.vstack([reference, new])
    target = np.concatenate([np.zeros(len(reference)), np.ones(len(new))])
    # tol 1e-3: half the time of the default 1e-4 on 2,000 x 1,280 rows, same AUC to 0.005.
    classifier = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=0.1, class_weight="balanced", tol=1e-3, max_iter=1000),
    )
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(classifier, features, target, cv=splits, scoring="roc_auc").mean())


def class_mix(reference: np.ndarray, new: np.ndarray, classes: list) -> dict[str, Any]:
    """Predicted class shares in the reference and the new data, their total variation
    distance and a chi-square test of homogeneity."""
    counts = np.stack([np.bincount(s, minlength=len(classes)) for s in (reference, new)])
    shares = counts / counts.sum(axis=1, keepdims=True)
    seen = counts.sum(axis=0) > 0
    p_value = float(chi2_contingency(counts[:, seen])[1]) if seen.sum() > 1 else 1.0
    return {
        "reference": {str(c): round(float(s), 4) for c, s in zip(classes, shares[0], strict=True)},
        "new": {str(c): round(float(s), 4) for c, s in zip(classes, shares[1], strict=True)},
        "total_variation": float(np.abs(shares[0] - shares[1]).sum() / 2),
        "chi2_p_value": p_value,
    }


def confidence_shift(reference: np.ndarray, new: np.ndarray) -> dict[str, float]:
    """Mean top-class probability in both samples and a Mann-Whitney test of the difference."""
    return {
        "reference_mean": float(reference.mean()),
        "new_mean": float(new.mean()),
        "mann_whitney_p_value": float(mannwhitneyu(reference, new).pvalue),
    }


def drift(
    model: Model | str | Path,
    data: Any,
    *,
    alpha: float = ALPHA,
    seed: int = 0,
    text_column: str | None = None,
    skip_bad: bool = False,
) -> dict[str, Any]:
    """Compare new (unlabeled) data with the model's training data; a JSON-ready report
    whose `drift` is True when the MMD permutation p-value is below `alpha` (Holm-adjusted
    with the per-column tests where the modality has them, reported under `columns`)."""
    if not 0 < alpha < 1:
        raise SmallfitError(f"alpha must be between 0 and 1, not {alpha}.")
    started = time.perf_counter()
    model = model if isinstance(model, Model) else load(model)
    reference = require_reference(model, "a drift check")
    dataset = to_dataset(data, labeled=False, text_column=text_column, skip_bad=skip_bad)
    if dataset.modality != model.modality:
        raise SmallfitError(
            f"This model classifies {model.modality}s but {dataset.source} holds "
            f"{dataset.modality}s."
        )
    dataset = model.conform(dataset)  # a table read with the training column types
    encoder = reference_encoder(reference)
    new = encoder.embed(dataset.items, description=f"Embedding {dataset.source}")
    # Rounded like the stored reference, so that both samples are treated alike.
    new = normalise(new.astype(DTYPE).astype(np.float32))
    stored = normalise(reference.embeddings.astype(np.float32))
    rng = np.random.default_rng(seed)
    tested_reference, tested_new = (_at_most(x, MAX_TEST_ROWS, rng) for x in (stored, new))
    mmd = mmd_test(tested_reference, tested_new, seed=seed)
    report: dict[str, Any] = {
        "drift": mmd["p_value"] < alpha,
        "p_value": mmd["p_value"],
        "alpha": alpha,
        "test": f"MMD permutation test ({PERMUTATIONS} permutations), RBF kernel, "
        f"median-heuristic bandwidth, on L2-normalised {_space(reference, encoder.name)}",
        "data": dataset.source,
        "n_new": len(dataset),
        "n_reference": len(reference),
        "n_tested": {"reference": len(tested_reference), "new": len(tested_new)},
        "embedding": {
            "encoder": encoder.name,
            "space": _space(reference, encoder.name),
            "mmd2": mmd["mmd2"],
            "bandwidth": mmd["bandwidth"],
            "domain_classifier_auc": domain_auc(tested_reference, tested_new, seed),
        },
    }
    _add_columns(report, model.modality, reference, dataset.items, alpha)
    proba = model.predict_proba(dataset)
    if reference.has_predictions:
        known = reference.predicted >= 0
        report["predicted_classes"] = class_mix(
            reference.predicted[known], proba.argmax(axis=1), model.classes
        )
        report["confidence"] = confidence_shift(reference.confidence[known], proba.max(axis=1))
    else:
        report["predicted_classes"] = report["confidence"] = (
            "not available: the model was fitted without cross-validation, so there are no "
            "out-of-fold predictions of its training data to compare with"
        )
    report["summary"] = _summary(report)
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report


def _space(reference: Reference, encoder: str) -> str:
    """What the reference vectors are: an encoder's embeddings, or the own features."""
    return "own features" if reference.features is not None else f"{encoder} embeddings"


def _add_columns(
    report: dict, modality: str, reference: Reference, items: list, alpha: float
) -> None:
    """The modality's per-column tests (none: the report is left as it is), corrected
    together with the MMD test by Holm's method; the verdict becomes any rejection."""
    if reference.sample is None:
        return
    columns = modalities.get(modality).column_drift(reference.sample, items)
    if not columns:
        return
    tested = [c for c in columns if c["p_value"] is not None]
    adjusted = holm([report["p_value"]] + [c["p_value"] for c in tested])
    report["p_adjusted"] = adjusted[0]
    for column, p in zip(tested, adjusted[1:], strict=True):
        column["p_adjusted"] = p
    for column in columns:
        column.setdefault("p_adjusted", None)
        column["drifted"] = column["p_adjusted"] is not None and column["p_adjusted"] < alpha
    report["columns"] = columns
    report["correction"] = (
        f"Holm over the MMD test and {len(tested)} column tests: drift when any adjusted "
        f"p-value is below alpha {alpha}"
    )
    report["drift"] = min(adjusted) < alpha


def _at_most(rows: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    return rows if len(rows) <= limit else rows[np.sort(rng.choice(len(rows), limit, False))]


def _summary(report: dict) -> str:
    auc = report["embedding"]["domain_classifier_auc"]
    separable = f"; a classifier tells them apart with ROC-AUC {auc:.2f}" if auc else ""
    verdict = (
        "Drift: the new data differs from the training data"
        if report["drift"]
        else "No drift detected"
    )
    if "columns" not in report:
        relation = "<" if report["drift"] else ">="
        return (
            f"{verdict} (MMD permutation p = {report['p_value']:.4f} {relation} alpha "
            f"{report['alpha']}{separable})."
        )
    drifted = [c["column"] for c in report["columns"] if c["drifted"]]
    named = f"drifted column(s): {', '.join(drifted)}" if drifted else "no column drifted"
    return (
        f"{verdict} ({named}; MMD permutation p = {report['p_value']:.4f}, "
        f"{report['p_adjusted']:.4f} after Holm's correction, alpha {report['alpha']}"
        f"{separable})."
    )
