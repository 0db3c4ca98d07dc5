"""Ensembles of the compared candidates: greedy selection (Caruana et al. 2004) and the
`ensemble` strategy that holds the chosen members, saved as one model directory.

Selection runs forward with replacement over the candidates' out-of-fold probabilities
(all scored on the same splits): start from the best single candidate, then repeatedly
add the member (again, if it helps) whose inclusion most lowers the log loss of the
averaged probabilities, until no addition lowers it. Weights are how often each member
was added. Log loss, not accuracy: on the few hundred out-of-fold predictions of a
small dataset accuracy moves in steps of one item, so most additions tie and the
greedy path is decided by tie-breaks; log loss is smooth, a proper scoring rule, and
rewards averaging models whose errors differ, which is what an ensemble is for.

Honesty: weights chosen on the same predictions they are scored on look better than
they are. So the ensemble is kept only if it wins a cross-fitted comparison: the
scored items are split in two stratified halves; the weights are chosen on one half
and applied to the other, both ways, and the same is done for "pick the best single
candidate" (what fit does without an ensemble). The ensemble must be more accurate,
on those held-apart predictions, than picking one candidate. Both the optimistic and
the cross-fitted figures are recorded.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import StratifiedKFold

from smallfit import backbones, strategies
from smallfit.errors import SmallfitError
from smallfit.evaluate import accuracy_interval
from smallfit.strategies.base import Strategy, accepted_fit_params
from smallfit.strategies.registry import register

MAX_ROUNDS = 50  # additions at most; selection stops earlier once none lowers the log loss
MIN_GAIN = 1e-6  # an addition must lower the mean log loss by more than this


@register
class Ensemble(Strategy):
    """The weighted average of member strategies' probabilities, each on its own encoder.

    `members`: [{"strategy": name, "params": {...}, "backbone": name or None}], each
    refit on the whole data by `fit`; `weights`: one per member, summing to 1. Made by
    `fit --ensemble` (`fit_dataset(..., ensemble=True)`), not a search candidate.
    """

    name = "ensemble"

    def __init__(self, members: list[dict] | None = None, weights: list[float] | None = None):
        self.members = members
        self.weights = weights

    def _members(self) -> list[tuple[Strategy, object]]:
        if not self.members or not self.weights or len(self.members) != len(self.weights):
            raise SmallfitError(
                "The ensemble strategy is made by `fit --ensemble` from the compared candidates; "
                "it cannot be chosen with --strategy."
            )
        return [
            (
                strategies.create(spec["strategy"], **spec["params"]),
                backbones.create(spec["backbone"]) if spec["backbone"] else None,
            )
            for spec in self.members
        ]

    def fit(self, dataset, encoder=None, **fit_params) -> Ensemble:
        """Fit every member on `dataset` with its own encoder (`encoder` is not used)."""
        self._remember(dataset, None)
        self.members_ = []
        for member, member_encoder in self._members():
            params = accepted_fit_params(member, fit_params)
            self.members_.append(member.fit(dataset, member_encoder, **params))
        return self

    def predict_proba(self, items) -> np.ndarray:
        return sum(
            weight * member.predict_proba(items)
            for weight, member in zip(self.weights, self.members_, strict=True)
        )

    def encoders(self) -> list:
        """The distinct encoders the members read (for timing and uncached prediction)."""
        found = [getattr(m, "encoder_", None) for m in self.members_]
        return list({id(e): e for e in found if e is not None}.values())

    def get_state(self):
        arrays, configs = {}, []
        for index, member in enumerate(self.members_):
            member_arrays, config = member.get_state()
            arrays |= {f"member{index}.{k}": v for k, v in member_arrays.items()}
            encoder = getattr(member, "encoder_", None)
            configs.append({"config": config, "encoder": encoder and backbones.describe(encoder)})
        return arrays, {"classes": list(self.classes_), "members": configs}

    def set_state(self, arrays, config, encoder) -> Ensemble:
        self.members_ = []
        for index, ((member, member_encoder), saved) in enumerate(
            zip(self._members(), config["members"], strict=True)
        ):
            prefix = f"member{index}."
            own = {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
            weights = getattr(member_encoder, "weights_id", None)
            if saved["encoder"] and weights != saved["encoder"]["weights"]:
                warnings.warn(
                    f"The installed {member_encoder.name} weights differ from those this "
                    "ensemble's member was trained with; predictions may differ.",
                    stacklevel=2,
                )
            member.set_state(own, saved["config"], member_encoder)
            member.classes_ = list(config["classes"])
            self.members_.append(member)
        return self


def blend(probas: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """The weighted average of out-of-fold probabilities (NaN where unscored)."""
    return sum(w * probas[label] for label, w in weights.items())


def _log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    """Mean log loss of (R, m, C) probabilities of m items with labels y."""
    picked = np.take_along_axis(proba, np.broadcast_to(y[None, :, None], proba.shape[:2] + (1,)), 2)
    return float(-np.log(np.clip(picked, 1e-15, 1)).mean())


def _accuracy(proba: np.ndarray, y: np.ndarray) -> float:
    return float((proba.argmax(axis=2) == y[None, :]).mean())


def select(probas: dict[str, np.ndarray], y: np.ndarray, items: np.ndarray) -> dict[str, float]:
    """Caruana's greedy forward selection with replacement on the rows `items` of the
    (R, n, C) out-of-fold probabilities; returns {label: weight} for the members chosen."""
    labels = list(probas)
    stacked = np.stack([probas[label][:, items] for label in labels])
    target = y[items]
    counts = np.zeros(len(labels), dtype=np.int64)
    total = np.zeros_like(stacked[0])
    current = np.inf
    for _ in range(MAX_ROUNDS):
        losses = [_log_loss((total + s) / (counts.sum() + 1), target) for s in stacked]
        best = int(np.argmin(losses))  # ties: the earlier (default-ordered) candidate
        if losses[best] > current - MIN_GAIN:
            break
        counts[best] += 1
        total += stacked[best]
        current = losses[best]
    return {labels[i]: counts[i] / counts.sum() for i in np.flatnonzero(counts)}


def _best_single(probas: dict[str, np.ndarray], y: np.ndarray, items: np.ndarray) -> str:
    scores = [_accuracy(p[:, items], y[items]) for p in probas.values()]
    return list(probas)[int(np.argmax(scores))]


def cross_fitted(
    probas: dict[str, np.ndarray], y: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities of the two procedures, each item's from choices made on
    the other half of the items: (ensemble selected on the other half, best single
    candidate picked on the other half)."""
    first = next(iter(probas.values()))
    scored = np.flatnonzero(~np.isnan(first[0, :, 0]))
    ensemble, single = np.full_like(first, np.nan), np.full_like(first, np.nan)
    halves = StratifiedKFold(2, shuffle=True, random_state=seed).split(scored, y[scored])
    for choose, apply in halves:
        choose, apply = scored[choose], scored[apply]
        ensemble[:, apply] = blend(probas, select(probas, y, choose))[:, apply]
        single[:, apply] = probas[_best_single(probas, y, choose)][:, apply]
    return ensemble, single


def choose_ensemble(
    candidates: list, probas: dict[str, np.ndarray], y: np.ndarray, seed: int
) -> tuple[object | None, np.ndarray | None, dict]:
    """Select an ensemble of the scored candidates and check it honestly.

    Returns (the ensemble's Candidate if it is kept else None, its cross-fitted
    out-of-fold probabilities, the record for model.info["ensemble"]).
    """
    from smallfit.auto import Candidate, build

    probas = {c.label: probas[c.label] for c in candidates if c.label in probas}
    if len(probas) < 2:
        return None, None, {"kept": False, "reason": "fewer than two candidates were scored"}
    scored = np.flatnonzero(~np.isnan(next(iter(probas.values()))[0, :, 0]))
    weights = select(probas, y, scored)
    optimistic = blend(probas, weights)
    honest_ensemble, honest_single = cross_fitted(probas, y, seed)
    record = {
        "selection": "greedy forward selection with replacement (Caruana et al. 2004) on "
        "log loss of the out-of-fold probabilities",
        "members": [{"candidate": label, "weight": round(w, 6)} for label, w in weights.items()],
        "scores": {
            "selected_and_scored_on_all": {
                "accuracy": accuracy_interval(y, optimistic, random_state=seed),
                "log_loss": round(_log_loss(optimistic[:, scored], y[scored]), 6),
                "note": "optimistic: the weights were chosen on these same predictions",
            },
            "cross_fitted": {
                "ensemble": accuracy_interval(y, honest_ensemble, random_state=seed),
                "best_single": accuracy_interval(y, honest_single, random_state=seed),
                "note": "each half of the items scored with choices made on the other half",
            },
        },
    }
    honest = record["scores"]["cross_fitted"]
    if len(weights) < 2:
        record |= {"kept": False, "reason": "the selection kept a single candidate"}
    elif honest["ensemble"]["value"] <= honest["best_single"]["value"]:
        record |= {
            "kept": False,
            "reason": "not more accurate than picking the best single candidate (cross-fitted)",
        }
    else:
        record |= {"kept": True, "reason": "more accurate than the best single (cross-fitted)"}
    if not record["kept"]:
        return None, None, record
    by_label = {c.label: c for c in candidates}
    members = [
        {
            "strategy": by_label[label].strategy,
            "params": build(by_label[label], seed)[0].get_params(),
            "backbone": by_label[label].backbone,
        }
        for label in weights
    ]
    params = {"members": members, "weights": [float(w) for w in weights.values()]}
    return Candidate("ensemble", params, None), honest_ensemble, record
