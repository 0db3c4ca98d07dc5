"""The learning curve: should I label more?

Each cross-validation fold trains on 25, 50, 75 and 100% of its training part (nested,
class-stratified, seeded subsamples) and is scored on its unchanged test part, so every
point is an out-of-fold accuracy on the same items. A power law
acc(n) = a - b * n^(-c), the usual shape of learning curves (Hestness et al. 2017;
Figueroa et al. 2012 for small samples), is fitted to the points (weighted by their
uncertainty) and extrapolated to a model trained on 2x and 4x the labels. The 95%
intervals come from a bootstrap over the scored items: the same resample at every size,
the power law refitted to each. They cover the uncertainty of the points, not that the
curve keeps its shape beyond them: treat the 4x figure as a rough guide.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from smallfit.evaluate.cv import Splits, out_of_fold
from smallfit.evaluate.metrics import item_correctness

FRACTIONS = (0.25, 0.5, 0.75, 1.0)
FACTORS = (2, 4)
N_BOOTSTRAP = 200
# Bounds of the exponent: below 0.05 the curve is a straight line in log n and its
# asymptote is not identified; above 2 it is flat right after the smallest point.
EXPONENT = (0.05, 2.0)
MIN_SIGMA = 0.005  # a point's uncertainty floor, so that no point dominates the fit
# Projected seconds past which the automatic curve runs on one repeat of the folds, and
# past which even that is left out: the curve is advice, not worth doubling a fit's time.
MAX_SECONDS = 20.0


def costly(strategy) -> bool:
    """Whether refitting `strategy` trains a network body (an ensemble: any member does)."""
    members = getattr(strategy, "members_", None) or [strategy]
    return any(type(m).trains_body for m in members)


def affordable(
    splits: Splits, fit_seconds: float | None, refits_full: bool, limit: float
) -> Splits | None:
    """The splits an automatic curve can afford within `limit` seconds: `splits` itself,
    else the first repeat in three parts at most (Splits.coarse), else None. A fraction
    of a fold's rows costs about that fraction of the fold's fit (`fit_seconds`, None:
    unknown, taken as cheap); the 100% point is refitted when `refits_full` (its
    predictions are not at hand) and always on the coarse parts (other folds)."""
    if fit_seconds is None:
        return splits
    for choice in (splits, splits.coarse()):
        refit = refits_full or choice is not splits
        share = sum(FRACTIONS[:-1]) + (1.0 if refit else 0.0)
        if fit_seconds * share * len(choice.pairs) <= limit:
            return choice
    return None


def nested_subsamples(train: np.ndarray, y: np.ndarray, fractions, seed: int) -> list[np.ndarray]:
    """For each fraction, a class-stratified subsample of `train` (at least one item per
    class); each is contained in the next, so the curve does not zig-zag by draw."""
    rng = np.random.default_rng(seed)
    by_class = [rng.permutation(train[y[train] == c]) for c in np.unique(y[train])]
    return [
        np.sort(np.concatenate([rows[: max(1, round(f * len(rows)))] for rows in by_class]))
        for f in fractions
    ]


def fit_power_law(sizes, accuracy, sigma=None) -> dict[str, float]:
    """Least-squares a, b, c of acc(n) = a - b * n^(-c), with 0 <= a <= 1, b >= 0 and c in
    EXPONENT. Fitted as a - g * (n / n_max)^(-c) (g: the gap left at the largest size,
    between 0 and 1), which is better conditioned; b = g * n_max^c."""
    x = np.asarray(sizes, dtype=float)
    acc = np.asarray(accuracy, dtype=float)
    top = x.max()

    def curve(n, a, gap, c):
        return a - gap * (n / top) ** (-c)

    start_a = min(1.0, acc.max() + 0.05)
    start = [start_a, min(1.0, max(1e-3, start_a - acc[-1])), 0.5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        (a, gap, c), _ = curve_fit(
            curve,
            x,
            acc,
            p0=start,
            sigma=sigma,
            bounds=([0.0, 0.0, EXPONENT[0]], [1.0, 1.0, EXPONENT[1]]),
            maxfev=5000,
        )
    return {"a": float(a), "b": float(gap * top**c), "c": float(c)}


def power_law(n, fit: dict[str, float]):
    return fit["a"] - fit["b"] * np.asarray(n, dtype=float) ** (-fit["c"])


def learning_curve(
    strategy,
    dataset,
    encoder,
    splits: Splits,
    full: np.ndarray | None = None,
    fit_params: dict | None = None,
    seed: int = 0,
) -> dict | None:
    """Out-of-fold accuracy at each fraction of the folds' training parts, the power-law
    fit and the predictions for 2x and 4x the labels, as stored in
    model.info["learning_curve"]; None if fewer than three distinct sizes can be made.

    `full`: the out-of-fold probabilities at 100% when already computed (the fit's own).
    """
    y = dataset.y
    per_pair = [
        nested_subsamples(train, y, FRACTIONS, seed + number)
        for number, (train, _) in enumerate(splits.pairs)
    ]
    sizes, probas = [], []
    for index, fraction in enumerate(FRACTIONS):
        trains = [subsamples[index] for subsamples in per_pair]
        size = int(round(np.mean([len(t) for t in trains])))
        if sizes and size <= sizes[-1]:
            continue  # too few items for this fraction to differ from the last one
        if fraction == 1.0 and full is not None:
            oof = full
        else:
            pairs = [(train, test) for train, (_, test) in zip(trains, splits.pairs, strict=True)]
            oof = out_of_fold(
                strategy,
                dataset,
                encoder,
                Splits(pairs, splits.repeats, splits.folds, splits.scored),
                description=f"Learning curve: {fraction:.0%} of each fold's labels",
                fit_params=fit_params,
            )
        sizes.append(size)
        probas.append(oof)
    if len(sizes) < 3:
        return None
    scored = ~np.isnan(probas[0][0, :, 0])
    # per point and item: the share of repeats that predicted the item right
    correct = np.stack([item_correctness(y, p)[scored] for p in probas])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, correct.shape[1], (N_BOOTSTRAP, correct.shape[1]))
    boot = correct[:, draws].mean(axis=2)  # (points, bootstrap)
    accuracy = correct.mean(axis=1)
    sigma = np.maximum(boot.std(axis=1), MIN_SIGMA)
    fit = fit_power_law(sizes, accuracy, sigma)
    targets = [factor * len(dataset) for factor in FACTORS]
    resampled = []
    for column in boot.T:
        try:
            resampled.append(power_law(targets, fit_power_law(sizes, column, sigma)))
        except RuntimeError:  # no convergence on this resample: leave it out
            continue
    low, high = np.percentile(np.array(resampled), [2.5, 97.5], axis=0)
    point_low, point_high = np.percentile(boot, [2.5, 97.5], axis=1)
    return {
        "sizes": sizes,
        "accuracy": [round(float(v), 6) for v in accuracy],
        "low": [round(float(v), 6) for v in point_low],
        "high": [round(float(v), 6) for v in point_high],
        "fit": {k: round(v, 6) for k, v in fit.items()},
        "predicted": [
            {
                "factor": factor,
                "n": int(n),
                "accuracy": round(float(min(1.0, power_law(n, fit))), 6),
                "low": round(float(lo), 6),
                "high": round(float(hi), 6),
            }
            for factor, n, lo, hi in zip(FACTORS, targets, low, high, strict=True)
        ],
    }


def advice(curve: dict) -> str:
    """The answer to "should I label more?" in two sentences, from a learning curve."""
    sizes, accuracy = curve["sizes"], curve["accuracy"]
    twice, four = curve["predicted"]
    text = (
        f"Out-of-fold accuracy went from {accuracy[0]:.3f} (trained on {sizes[0]}) to "
        f"{accuracy[-1]:.3f} (on {sizes[-1]}); the power-law fit predicts "
        f"{twice['accuracy']:.3f} [{twice['low']:.3f}, {twice['high']:.3f}] with 2x the labels "
        f"(n={twice['n']}) and {four['accuracy']:.3f} [{four['low']:.3f}, {four['high']:.3f}] "
        f"with 4x (n={four['n']})."
    )
    gain = twice["accuracy"] - accuracy[-1]
    if twice["low"] > accuracy[-1]:
        return text + f" More labels are likely to help (about +{100 * gain:.0f} points at 2x)."
    if gain < 0.01:
        return text + " Little to gain from more labels of the same kind."
    return text + " More labels may help, but the interval includes no gain."
