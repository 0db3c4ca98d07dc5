"""Small-data techniques for the learners on dense own features (a table's columns):
synthetic rows of the rare classes (SMOTE), jittered copies of the rows (noise), and
bootstrap bagging of the estimator.

Each runs inside the strategy's fit, on the rows that fit receives (a fold's training
part in cross-validation, never its held-out rows), so the comparison scores it
honestly. None is on by default: the table's full candidate set adds a variant with
each (modalities.table), and the comparison and its combination keep a variant only
where it helps on the user's rows (fitting.combine). SMOTE comes from imbalanced-learn
and bagging from scikit-learn; the noise is a few lines, so it is written here.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.ensemble import BaggingClassifier

AUGMENTS = ("smote", "noise")
NOISE_COPIES = 2  # jittered copies of each training row
NOISE_SCALE = 0.1  # the jitter's standard deviation, as a share of each feature's spread
SMOTE_NEIGHBOURS = 5  # imbalanced-learn's default, fewer when a class has fewer rows


def augmented(
    features: np.ndarray, y: np.ndarray, augment: str | None, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    """The training rows with the rows `augment` adds: "smote", synthetic rows of every
    class smaller than the largest (interpolated between a row and one of its nearest
    neighbours of the same class) until all are as large, nothing when the classes are
    even or the smallest has a single row; "noise", NOISE_COPIES copies of every row
    with Gaussian jitter of NOISE_SCALE times each feature's spread; None: unchanged."""
    if augment is None:
        return features, y
    if augment == "noise":
        rng = np.random.default_rng(random_state)
        spread = features.std(axis=0, keepdims=True)
        copies = [
            features + rng.normal(size=features.shape) * NOISE_SCALE * spread
            for _ in range(NOISE_COPIES)
        ]
        return np.vstack([features, *copies]).astype(features.dtype), np.tile(y, NOISE_COPIES + 1)
    counts = np.unique(y, return_counts=True)[1]
    if counts.min() < 2 or counts.min() == counts.max():
        return features, y
    from imblearn.over_sampling import SMOTE  # here: importing imbalanced-learn takes a while

    neighbours = min(SMOTE_NEIGHBOURS, int(counts.min()) - 1)
    sampler = SMOTE(k_neighbors=neighbours, random_state=random_state)
    return sampler.fit_resample(features, y)


def bagged(estimator: ClassifierMixin, bags: int, random_state: int) -> ClassifierMixin:
    """`estimator` trained on `bags` bootstrap samples of the rows, its probabilities
    averaged; 0 bags: the estimator itself."""
    if not bags:
        return estimator
    return BaggingClassifier(estimator, n_estimators=bags, random_state=random_state, n_jobs=1)
