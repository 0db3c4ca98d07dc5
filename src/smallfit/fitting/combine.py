"""Combining the compared candidates: greedy ensemble selection (Caruana et al. 2004) and
the honest estimate of the whole choice; the chosen members become the `ensemble`
strategy (smallfit.strategies.ensemble).

Selection runs forward with replacement over the candidates' out-of-fold probabilities
(all scored on the same splits, each averaged over its cross-validation repeats): start
from the best single candidate, then repeatedly add the member (again, if it helps)
whose inclusion most lowers the log loss of the averaged probabilities, until no
addition lowers it. Weights are how often each member was added. Log loss, not
accuracy: on the few hundred out-of-fold predictions of a small dataset accuracy moves
in steps of one item, so most additions tie and the greedy path is decided by
tie-breaks; log loss is smooth, a proper scoring rule, and rewards averaging models
whose errors differ, which is what an ensemble is for.

Before any combining, each candidate's probabilities are softened where they are
over-confident: temperature scaling (Guo et al. 2017), the temperature (at least 1) with
the lowest log loss of its out-of-fold probabilities. An average of probabilities lets
the most confident candidate outvote the others, and the over-confident ones are those
that fitted the few items most closely (a network trained from scratch), not the most
accurate; softening only, never sharpening, leaves the under-confident (usually the weak,
such as a nearest mean's distances) their small say. Accuracy of one candidate alone does
not change (the ranking of its classes is the same).

A third procedure chooses almost nothing: the plain average of every scored candidate
more accurate than guessing (always answering the most frequent class). On a few dozen
items, cross-validation cannot tell candidates apart (their intervals overlap and the
pick follows the noise), while averaging models with different inductive biases lowers
the variance without choosing (Dietterich 2000). A candidate no better than guessing
(zero-shot on classes whose names say nothing, say) only adds noise to the vote, and
telling it apart needs no fine ranking, so it is left out.

Honesty: choices made on the same predictions they are scored on look better than they
are (the winner's curse). So the procedures, "average those better than guessing",
"select an ensemble" and "pick the most accurate single candidate", are repeated on
bootstrap resamples of the items and scored on the items each resample left out (BBC-CV,
Tsamardinos et al. 2018, applied to the whole choice, combination included; the
temperatures and the average's guessing test too are fitted inside each resample): no
extra training. The
selection's final weights are the resamples' selections averaged (bagged: one selection
on a few dozen items follows their noise). Which procedure is kept follows the
one-standard-error rule (Breiman et al. 1984): the one that chooses least (average, then
selection, then picking one) whose left-out accuracy is within one standard error of the
most accurate's; a smaller lead is the resamples' noise, and the procedure that chooses
less is steadier on new data. Its estimate (mean and 2.5-97.5 percentiles of the
left-out accuracies) is the model's honest estimate (for the bagged weights a slightly
cautious one; choosing among three procedures adds a little optimism). Written here
because no maintained library does this.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from smallfit.evaluate import accuracy_interval
from smallfit.evaluate.metrics import item_correctness, resampler
from smallfit.evaluate.selection import left_out_estimate
from smallfit.fitting.candidates import Candidate, build
from smallfit.numeric import soften

MAX_ROUNDS = 50  # additions at most; selection stops earlier once none lowers the log loss
MIN_GAIN = 1e-6  # an addition must lower the mean log loss by more than this
N_RESAMPLES = 200  # bootstrap resamples for the honest estimate (a selection each)
MIN_WEIGHT = 0.05  # a bagged member below this share is dropped
TEMPERATURES = 2.0 ** (np.arange(17) / 4)  # 1 to 16 by quarter octaves: only ever soften
# The procedures compared, the one that chooses least first: within one standard error of
# the most accurate, the earlier is kept (within_one_error).
PROCEDURES = {
    "average": "averaging the candidates better than guessing",
    "ensemble": "the selected ensemble",
    "best_single": "picking the most accurate candidate",
}


def blend(probas: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """The weighted average of out-of-fold probabilities (NaN where unscored)."""
    return sum(w * probas[label] for label, w in weights.items())


def over_repeats(proba: np.ndarray) -> np.ndarray:
    """(R, n, C) out-of-fold probabilities averaged over the repeats that scored each item,
    as (1, n, C): every entry still comes from models that never saw the item, and
    candidates cross-validated with different numbers of repeats line up."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN: never scored
        return np.nanmean(proba, axis=0, keepdims=True)


def temperatures(stacked: np.ndarray, y: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Per candidate (rows of `stacked`: candidates x items x classes), the temperature of
    TEMPERATURES whose softened probabilities have the lowest log loss on `items`; ties
    go to the lower (1 first: a calibrated candidate stays as it is)."""
    logs = np.log(np.clip(stacked[:, items], 1e-15, 1))
    truth = logs[:, np.arange(items.size), y[items]]
    losses = []
    for temperature in TEMPERATURES:
        normaliser = logsumexp(logs / temperature, axis=2)
        losses.append((normaliser - truth / temperature).mean(axis=1))
    return TEMPERATURES[np.argmin(np.stack(losses), axis=0)]


def softened(probas: dict[str, np.ndarray], temps: np.ndarray) -> dict[str, np.ndarray]:
    """Each candidate's probabilities at its temperature (`temps` in `probas` order)."""
    return {label: soften(p, t) for (label, p), t in zip(probas.items(), temps, strict=True)}


def _true_class(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(R, n) probability each item's true class gets."""
    index = np.broadcast_to(y[None, :, None], proba.shape[:2] + (1,))
    return np.take_along_axis(proba, index, 2)[..., 0]


def guessing_rate(y: np.ndarray) -> float:
    """The accuracy of always answering the most frequent class of `y`."""
    return np.bincount(y).max() / len(y)


def better_than_guessing(correct: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which candidates (rows of `correct`: each item's correctness, items as in `y`) are
    more accurate than always answering those items' most frequent class; all of them when
    none is (then there is nothing to prefer)."""
    better = correct.mean(axis=1) > guessing_rate(y)
    return better if better.any() else np.ones_like(better)


def within_one_error(runs: dict[str, np.ndarray]) -> tuple[str, str]:
    """(kept, most accurate) of PROCEDURES by their left-out accuracies on the same
    resamples: the first procedure (the one that chooses least) whose gap to the most
    accurate is at most one standard error, the spread of that gap over the resamples."""
    best = max(PROCEDURES, key=lambda name: runs[name].mean())  # ties: the first
    kept = next(
        name for name in PROCEDURES if np.mean(gap := runs[best] - runs[name]) <= np.std(gap)
    )
    return kept, best


def select(probas: dict[str, np.ndarray], y: np.ndarray, items: np.ndarray) -> dict[str, float]:
    """Caruana's greedy forward selection with replacement on the rows `items` (repeats
    allowed: a bootstrap resample) of the out-of-fold probabilities; returns {label:
    weight} for the members chosen. The log loss of a blend needs only the probability
    each member gives the true class, so that is all the loop averages."""
    labels = list(probas)
    truth = np.stack([_true_class(probas[label][:, items], y[items]) for label in labels])
    counts = np.zeros(len(labels), dtype=np.int64)
    total = np.zeros_like(truth[0])
    current = np.inf
    for _ in range(MAX_ROUNDS):
        blended = (total[None] + truth) / (counts.sum() + 1)
        losses = -np.log(np.clip(blended, 1e-15, 1)).mean(axis=(1, 2))
        best = int(np.argmin(losses))  # ties: the earlier (default-ordered) candidate
        if losses[best] > current - MIN_GAIN:
            break
        counts[best] += 1
        total += truth[best]
        current = losses[best]
    return {labels[i]: counts[i] / counts.sum() for i in np.flatnonzero(counts)}


def resampled(
    probas: dict[str, np.ndarray],
    y: np.ndarray,
    seed: int,
    n_resamples: int = N_RESAMPLES,
    groups: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Left-out accuracy of each procedure over bootstrap resamples of the scored items:
    `ensemble` (selection on the resample) and `best_single` (the candidate most accurate
    on the resample), both scored on the items the resample left out; and `weights`, each
    resample's selection (resamples x candidates, in `probas` order); `average`, the
    plain average of the candidates better than guessing on the resample, scored on the
    same left-out items. The candidates are softened first, at temperatures fitted on the
    resample. With `groups` (one per item), resamples draw whole groups, and leave whole
    groups out."""
    labels = list(probas)
    scored = np.flatnonzero(~np.isnan(probas[labels[0]][0, :, 0]))
    correct = np.stack([item_correctness(y, probas[label]) for label in labels])
    stacked = np.stack([probas[label][0] for label in labels])  # (candidates, n, C)
    rng = np.random.default_rng(seed)
    draw = resampler(scored.size, None if groups is None else groups[scored])
    result: dict[str, list] = {"ensemble": [], "best_single": [], "average": [], "weights": []}
    for _ in range(n_resamples):
        drawn = scored[draw(rng)]
        left_out = np.setdiff1d(scored, drawn)
        if left_out.size == 0:
            continue
        temps = temperatures(stacked, y, drawn)
        calibrated = softened(probas, temps)
        chosen = select(calibrated, y, drawn)
        result["weights"].append([chosen.get(label, 0.0) for label in labels])
        blended = blend(calibrated, chosen)[0, left_out]
        result["ensemble"].append(float((blended.argmax(1) == y[left_out]).mean()))
        single = int(np.argmax(correct[:, drawn].mean(axis=1)))
        result["best_single"].append(float(correct[single, left_out].mean()))
        members = better_than_guessing(correct[:, drawn], y[drawn])
        votes = np.stack([calibrated[label][0, left_out] for label in labels])[members]
        averaged = votes.mean(axis=0).argmax(1) == y[left_out]
        result["average"].append(float(averaged.mean()))
    return {name: np.array(values) for name, values in result.items()}


def bagged(weights: np.ndarray, labels: list[str]) -> dict[str, float]:
    """The resamples' selections averaged (bagged ensemble selection): on a few dozen items
    one selection follows their noise, the average over resamples does not. Members under
    MIN_WEIGHT change few predictions but cost a refit each, so they are dropped."""
    mean = np.asarray(weights).mean(axis=0)
    kept = {label: w for label, w in zip(labels, mean, strict=True) if w >= MIN_WEIGHT}
    total = sum(kept.values())
    return {label: w / total for label, w in kept.items()}


@dataclass
class Choice:
    """What `combine` decided: the candidate to refit on all data (an ensemble or one of
    the compared), its out-of-fold probabilities for the metrics (optimistic: the choice
    was made on them), the honest estimate of the procedure, why, and the record for
    model.info["ensemble"] (None when no ensemble was considered)."""

    candidate: object
    probas: np.ndarray
    honest: dict
    why: str
    record: dict | None


def combine(
    candidates: list,
    probas: dict[str, np.ndarray],
    y: np.ndarray,
    best: str,
    seed: int,
    allow_ensemble: bool = True,
    groups: np.ndarray | None = None,
) -> Choice:
    """Choose among averaging the scored candidates better than guessing, their selected
    ensemble and the best single one (`best`, the leaderboard's most accurate), by
    left-out accuracy on resamples (of whole groups, with `groups`) and the
    one-standard-error rule."""
    by_label = {c.label: c for c in candidates}
    probas = {c.label: over_repeats(probas[c.label]) for c in candidates if c.label in probas}
    n_scored = len(probas)
    runs = resampled(probas, y, seed, groups=groups) if n_scored > 1 else None
    unit = "items" if groups is None else "groups"
    method = (
        f"the whole choice among {n_scored} candidates repeated on {N_RESAMPLES} bootstrap "
        f"resamples of the {unit} and scored on the {unit} each left out (BBC-CV)"
    )
    single = Choice(by_label[best], probas[best], {}, "", None)
    if runs is None:
        single.why = f"{best} was the only candidate scored."
        return single
    scored = np.flatnonzero(~np.isnan(probas[best][0, :, 0]))
    # the Wilson floor counts independent units: groups, when items come in groups
    units = scored.size if groups is None else np.unique(groups[scored]).size
    single.honest = left_out_estimate(runs["best_single"], method, units)
    if not allow_ensemble:
        single.why = f"{best} was the most accurate of {n_scored} candidates (no ensemble tried)."
        return single
    estimates = {
        name: left_out_estimate(runs[name], method, units)
        for name in ("average", "ensemble", "best_single")
    }
    correct = np.stack([item_correctness(y, p)[scored] for p in probas.values()])
    better = better_than_guessing(correct, y[scored])
    guessing = guessing_rate(y[scored])
    if not (correct.mean(axis=1) > guessing).any():
        warnings.warn(
            f"No candidate was more accurate than always answering the most frequent class "
            f"({guessing:.3f} of the items): the labels may not be learnable from these "
            "items, or need more examples. The model is written, but check its estimate.",
            stacklevel=2,
        )
    stacked = np.stack([p[0] for p in probas.values()])
    temps = dict(zip(probas, temperatures(stacked, y, scored), strict=True))
    calibrated = softened(probas, list(temps.values()))
    averaged = [label for label, b in zip(probas, better, strict=True) if b]
    weights_of = {
        "average": dict.fromkeys(averaged, 1 / len(averaged)),
        "ensemble": bagged(runs["weights"], list(probas)),
    }
    kept, most_accurate = within_one_error(runs)
    verdict = (
        "was the most accurate"
        if kept == most_accurate
        else f"was within one standard error of {PROCEDURES[most_accurate]}, and chooses less"
    )
    versus = ", ".join(
        f"{estimates[name]['value']:.3f} for {PROCEDURES[name]}" for name in estimates
    )
    versus += " (on items left out of resamples)"
    record = {
        "selection": "greedy forward selection with replacement (Caruana et al. 2004) on "
        "log loss of the out-of-fold probabilities (averaged over repeats; each candidate "
        "softened by temperature scaling where over-confident), on each of "
        f"{N_RESAMPLES} bootstrap resamples of the items; weights averaged (bagged); "
        "compared with the plain average of the candidates better than guessing and with "
        "picking the best one; the one that chooses least within one standard error of "
        "the most accurate is kept",
        "scores": {
            "resampled": estimates
            | {
                "note": "each procedure repeated on bootstrap resamples of the items and "
                "scored on the items left out"
            }
        },
    }
    not_averaged = [label for label in probas if label not in averaged]
    if not_averaged:
        record["not_averaged"] = {
            "candidates": not_averaged,
            "reason": "no more accurate than always answering the most frequent class",
        }
    if kept == "best_single":
        record |= {"kept": False, "reason": f"picking one {verdict}: {versus}"}
        single.why = f"{best}: picking one {verdict} ({versus})."
        single.record = record
        return single
    weights = weights_of[kept]
    blended = blend(calibrated, weights)
    record["members"] = [
        {"candidate": label, "weight": round(w, 6), "temperature": float(temps[label])}
        for label, w in weights.items()
    ]
    record["combination"] = kept
    record["scores"]["selected_and_scored_on_all"] = {
        "accuracy": accuracy_interval(y, blended, random_state=seed, groups=groups),
        "log_loss": round(
            float(-np.log(np.clip(_true_class(blended, y)[0, scored], 1e-15, 1)).mean()), 6
        ),
        "note": "optimistic: the combination was chosen on these same predictions",
    }
    record |= {"kept": True, "reason": f"{PROCEDURES[kept]} {verdict}: {versus}"}
    if len(weights) == 1:  # every resample's selection kept the same one candidate
        (only,) = weights
        why = f"{only}: {PROCEDURES[kept]} kept it alone ({versus})."
        return Choice(by_label[only], probas[only], estimates[kept], why, record)
    members = [
        {
            "strategy": by_label[label].strategy,
            "params": build(by_label[label], seed)[0].get_params(),
            "backbone": by_label[label].backbone,
        }
        for label in weights
    ]
    params = {
        "members": members,
        "weights": [float(w) for w in weights.values()],
        "temperatures": [float(temps[label]) for label in weights],
    }
    shown = ", ".join(
        f"{label} x{w:.2f}" + (f" (softened, T={temps[label]:.2g})" if temps[label] > 1 else "")
        for label, w in weights.items()
    )
    why = f"an ensemble of {shown}: {PROCEDURES[kept]} {verdict} ({versus})."
    return Choice(Candidate("ensemble", params, None), blended, estimates[kept], why, record)
