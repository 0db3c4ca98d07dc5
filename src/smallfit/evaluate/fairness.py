"""Fairness slices: how a classifier's accuracy and decisions differ between groups of items.

Per group (fairlearn's MetricFrame): size, accuracy with a 95% Wilson interval, macro
recall (the mean recall over the classes the group holds, i.e. its balanced accuracy) and
selection rate (the share of the group predicted as a class). Between groups (fairlearn):
the demographic parity difference (largest minus smallest selection rate) and the
equalised odds difference (the larger of the true- and false-positive-rate gaps).

Those two are defined for a yes/no decision. Binary: the decision is "predicted as the
positive class" (the second of the model's classes). Multiclass: each class in turn
against the rest, and the largest difference is reported, with each class's value. For
equalised odds a class only compares the groups that hold both items of it and items of
other classes: a rate over no items is undefined, and fairlearn would count it as 0.
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    equalized_odds_difference,
    selection_rate,
)
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from smallfit.errors import SmallfitError

# The smallest group about which an accuracy says something: with fewer items, the 95%
# interval of an accuracy near 50% is wider than +-15 points (1.96 * sqrt(0.25 / n) > 0.15
# for n < 43), so a difference between groups of that size is mostly noise.
MIN_GROUP = 43


def fairness_report(
    y_true: np.ndarray, y_pred: np.ndarray, groups, classes: list, column: str = "group"
) -> dict:
    """Per-group metrics and between-group differences, as a JSON-ready dict.

    `y_true` and `y_pred` are class indices into `classes`; `groups` holds each item's
    group (any values, shown as text); `column` names where the groups came from.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    groups = np.array([str(g) for g in groups], dtype=object)
    if len(groups) != len(y_true):
        raise SmallfitError(f"Got {len(y_true)} items but {len(groups)} group values.")
    names = sorted(set(groups))
    if len(names) < 2:
        raise SmallfitError(
            f"The group column {column!r} has a single value ({names[0] if names else 'none'}); "
            "fairness compares at least two groups."
        )
    decided = [1] if len(classes) == 2 else list(range(len(classes)))
    metrics = {
        "count": count,
        "accuracy": accuracy_score,
        "recall_macro": _balanced_accuracy,
        **{f"selection_rate:{c}": partial(selection_rate, pos_label=c) for c in decided},
    }
    frame = MetricFrame(
        metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=groups
    ).by_group
    report_groups = {}
    for name in names:
        row = frame.loc[name]
        n, correct = int(row["count"]), int(round(row["accuracy"] * row["count"]))
        report_groups[name] = {
            "count": n,
            "accuracy": _wilson(correct, n),
            "recall_macro": round(float(row["recall_macro"]), 6),
            "selection_rate": {
                str(classes[c]): round(float(row[f"selection_rate:{c}"]), 6) for c in decided
            },
        }
    small = [name for name in names if report_groups[name]["count"] < MIN_GROUP]
    parity = {str(classes[c]): _parity(y_true == c, y_pred == c, groups) for c in decided}
    odds = {str(classes[c]): _odds(y_true == c, y_pred == c, groups) for c in decided}
    return {
        "group_column": column,
        "positive_class": str(classes[1]) if len(classes) == 2 else None,
        "groups": report_groups,
        "demographic_parity_difference": _largest(parity),
        "equalized_odds_difference": _largest(odds),
        "min_group_size": MIN_GROUP,
        "small_groups": small,
    }


def small_group_warning(report: dict) -> str | None:
    """The warning to show when some groups are too small to say anything about."""
    small = report["small_groups"]
    if not small:
        return None
    sizes = ", ".join(f"{name} ({report['groups'][name]['count']})" for name in small)
    return (
        f"{len(small)} group(s) have fewer than {MIN_GROUP} items: {sizes}. Their accuracy's "
        "95% interval can be wider than +-15 points, so differences involving them are "
        "mostly noise."
    )


def _balanced_accuracy(y_true, y_pred) -> float:
    with warnings.catch_warnings():  # predicted classes the group lacks: not an error here
        warnings.simplefilter("ignore", UserWarning)
        return balanced_accuracy_score(y_true, y_pred)


def _wilson(successes: int, n: int) -> dict:
    interval = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return {
        "value": round(successes / n, 6),
        "low": round(float(interval.low), 6),
        "high": round(float(interval.high), 6),
    }


def _parity(truth: np.ndarray, decision: np.ndarray, groups: np.ndarray) -> float:
    return float(demographic_parity_difference(truth, decision, sensitive_features=groups))


def _odds(truth: np.ndarray, decision: np.ndarray, groups: np.ndarray) -> float | None:
    both = [g for g in set(groups) if 0 < truth[groups == g].sum() < (groups == g).sum()]
    if len(both) < 2:
        return None
    keep = np.isin(groups, both)
    return float(
        equalized_odds_difference(truth[keep], decision[keep], sensitive_features=groups[keep])
    )


def _largest(per_class: dict[str, float | None]) -> dict:
    known = {c: v for c, v in per_class.items() if v is not None}
    worst = max(known, key=known.get) if known else None
    return {
        "value": round(known[worst], 6) if worst is not None else None,
        "class": worst,
        "per_class": {c: None if v is None else round(v, 6) for c, v in per_class.items()},
    }
