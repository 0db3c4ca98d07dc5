"""Classification metrics with 95% bootstrap intervals.

Out-of-fold predictions from R repeats are pooled; a bootstrap sample draws items
(with all their repeats) so the interval reflects how few items there are, which is
what dominates uncertainty on small data. With groups (speakers, patients), it draws
whole groups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import binomtest, rankdata

N_BOOTSTRAP = 1000
ECE_BINS = 10


def point_metrics(
    y: np.ndarray, proba: np.ndarray, n_classes: int
) -> dict[str, float | np.ndarray]:
    """Scalar metrics plus per-class precision/recall/F1 and the confusion matrix."""
    pred = proba.argmax(axis=1)
    confusion = np.bincount(y * n_classes + pred, minlength=n_classes**2).reshape(
        n_classes, n_classes
    )
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    hits = np.diag(confusion)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, hits / predicted, 0.0)
        recall = np.where(support > 0, hits / support, np.nan)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = support > 0
    confidence = proba.max(axis=1)
    return {
        "accuracy": float(hits.sum() / len(y)),
        "balanced_accuracy": float(np.nanmean(recall[present])),
        "macro_f1": float(f1[present].mean()),
        "roc_auc": _roc_auc(y, proba, present),
        "log_loss": float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, 1)).mean()),
        "ece": _ece(confidence, pred == y),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "confusion": confusion,
    }


def _roc_auc(y, proba, present) -> float:
    """One-vs-rest macro ROC-AUC over the classes present; NaN if fewer than two.

    Written as the Mann-Whitney rank statistic (ties get average ranks), which equals
    scikit-learn's roc_auc_score; calling that 1,000 times per bootstrap spent most of a
    fit in input validation.
    """
    columns = np.flatnonzero(present)
    if len(columns) < 2:
        return float("nan")
    if len(columns) == 2:  # binary: one curve, scored on the second class
        columns = columns[1:]
    ranks = rankdata(proba[:, columns], axis=0)
    positive = y[:, None] == columns[None, :]
    n_pos = positive.sum(axis=0)
    n_neg = len(y) - n_pos
    rank_sum = (ranks * positive).sum(axis=0)
    auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return float(auc.mean())


def _ece(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Expected calibration error with equal-width confidence bins."""
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    total = 0.0
    for b in np.unique(bins):
        mask = bins == b
        total += mask.sum() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total / len(confidence))


def reliability_bins(y: np.ndarray, proba: np.ndarray) -> list[dict]:
    """The reliability diagram's data: per non-empty equal-width confidence bin (the same
    bins as the ECE), how many predictions fell in it, their mean confidence and accuracy."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    return [
        {
            "low": float(b / ECE_BINS),
            "high": float((b + 1) / ECE_BINS),
            "count": int((bins == b).sum()),
            "confidence": round(float(confidence[bins == b].mean()), 6),
            "accuracy": round(float(correct[bins == b].mean()), 6),
        }
        for b in np.unique(bins)
    ]


SCALARS = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "log_loss", "ece")
PER_CLASS = ("precision", "recall", "f1")


def pooled(y: np.ndarray, probas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flatten (R, n, C) out-of-fold probabilities to rows, skipping unscored (NaN) items."""
    repeats, n, _ = probas.shape
    scored = ~np.isnan(probas[0, :, 0])
    items = np.flatnonzero(scored)
    rows = probas[:, items].reshape(-1, probas.shape[2])
    return np.tile(y[items], repeats), rows, items


def resampler(n: int, groups: np.ndarray | None = None) -> Callable[[Any], np.ndarray]:
    """Draws one bootstrap resample of positions 0..n-1 from a numpy Generator: positions
    with replacement, or, with `groups` (one per position), whole groups with replacement
    (a cluster bootstrap: the items of one speaker or patient are not independent, and
    drawing them one by one gives intervals too narrow for new groups)."""
    if groups is None:
        return lambda rng: rng.integers(0, n, n)
    names, which = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(which == g) for g in range(names.size)]
    return lambda rng: np.concatenate([members[g] for g in rng.integers(0, names.size, names.size)])


def evaluate_probas(
    y: np.ndarray,
    probas: np.ndarray,
    classes: list,
    n_bootstrap: int = N_BOOTSTRAP,
    random_state: int = 0,
    groups: np.ndarray | None = None,
) -> dict:
    """All metrics with 95% intervals, as a JSON-ready dict (with `groups`, one per item,
    the intervals resample whole groups).

    `probas` is (R, n, C) out-of-fold (NaN rows = not scored) or (n, C) on a test set.
    """
    if probas.ndim == 2:
        probas = probas[None]
    repeats = probas.shape[0]
    y_rows, rows, items = pooled(y, probas)
    n_classes = len(classes)
    point = point_metrics(y_rows, rows, n_classes)
    rng = np.random.default_rng(random_state)
    samples: dict[str, list] = {k: [] for k in SCALARS + PER_CLASS}
    offsets = (np.arange(repeats) * len(items))[:, None]
    draw_one = resampler(len(items), None if groups is None else groups[items])
    for _ in range(n_bootstrap):
        draw = draw_one(rng)
        picked = (offsets + draw[None, :]).ravel()
        values = point_metrics(y_rows[picked], rows[picked], n_classes)
        for key in samples:
            samples[key].append(values[key])
    result = {
        "n_items": int(len(items)),
        "repeats": int(repeats),
        "classes": [str(c) for c in classes],
        "confusion_matrix": np.rint(point["confusion"] / repeats).astype(int).tolist(),
    }
    for key in SCALARS:
        result[key] = _interval(point[key], np.array(samples[key]))
    result["per_class"] = {
        str(c): {key: _interval(point[key][i], np.array(samples[key])[:, i]) for key in PER_CLASS}
        | {"support": int(point["confusion"][i].sum() // repeats)}
        for i, c in enumerate(classes)
    }
    result["reliability"] = reliability_bins(y_rows, rows)
    return result


def item_correctness(y: np.ndarray, probas: np.ndarray) -> np.ndarray:
    """Per item, the share of cross-validation repeats that predicted it right (NaN where
    never scored); probas is (repeats, n, classes), or (n, classes), NaN rows unscored."""
    if probas.ndim == 2:
        probas = probas[None]
    scored = ~np.isnan(probas[0, :, 0])
    result = np.full(len(y), np.nan)
    result[scored] = (probas[:, scored].argmax(axis=2) == y[scored]).mean(axis=0)
    return result


def accuracy_interval(
    y: np.ndarray,
    probas: np.ndarray,
    n_bootstrap: int = N_BOOTSTRAP,
    random_state: int = 0,
    groups: np.ndarray | None = None,
) -> dict:
    """Mean out-of-fold accuracy with its bootstrap interval (cheap: for leaderboards;
    with `groups`, one per item, resampling whole groups)."""
    correct = item_correctness(y, probas)
    scored = ~np.isnan(correct)
    correct = correct[scored]
    rng = np.random.default_rng(random_state)
    draw = resampler(correct.size, None if groups is None else groups[scored])
    samples = np.array([correct[draw(rng)].mean() for _ in range(n_bootstrap)])
    result = _interval(float(correct.mean()), samples)
    if result["value"] is not None:
        units = correct.size if groups is None else np.unique(groups[scored]).size
        low, high = wilson_widened(result["value"], result["low"], result["high"], units)
        result |= {"low": round(low, 6), "high": round(high, 6)}
    return result


def wilson_widened(value: float, low: float, high: float, units: int) -> tuple[float, float]:
    """(low, high) widened where needed to the Wilson interval of accuracy `value` on
    `units` independent items (or groups): when a model erred on none (or nearly none)
    of a few dozen items, every bootstrap resample scores 1.0 and the percentiles give an
    interval of zero width that no new data bears out."""
    hits = int(round(value * units))
    wilson = binomtest(hits, units).proportion_ci(confidence_level=0.95, method="wilson")
    return min(low, float(wilson.low)), max(high, float(wilson.high))


def _interval(value, samples: np.ndarray) -> dict:
    finite = samples[np.isfinite(samples)]
    if not np.isfinite(value) or finite.size == 0:
        return {"value": None, "low": None, "high": None}
    low, high = np.percentile(finite, [2.5, 97.5])
    return {
        "value": round(float(value), 6),
        "low": round(float(low), 6),
        "high": round(float(high), 6),
    }
