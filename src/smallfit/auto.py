"""Choosing how to fit: compare candidate strategies by cross-validation, then combine
them (or keep the best alone), and estimate the whole choice honestly (smallfit.ensemble).

All candidates are scored on the same splits with the same seed; a candidate that trains
a network body runs the first repeat only. Embeddings are computed once per encoder
(then cached), so comparing frozen-encoder candidates costs only head fits. A candidate
that fails on the data is listed as skipped and the others go on. With a time budget,
fine-tuning joins the candidates, cheapest candidates go first, and a candidate whose
cross-validation would not finish in the budget is left out (and listed as such); given
the same completed candidates, the same seed gives the same model.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smallfit import __version__, adapt, backbones, strategies
from smallfit.data import Dataset
from smallfit.doctor import fit_summary
from smallfit.ensemble import combine
from smallfit.errors import SmallfitError
from smallfit.evaluate import (
    OverBudget,
    Splits,
    accuracy_interval,
    evaluate_probas,
    make_splits,
    out_of_fold,
)
from smallfit.evaluate import learning_curve as curves
from smallfit.model import Model
from smallfit.reference import reference_of_fit
from smallfit.report.record import fit_examples
from smallfit.strategies.base import accepted_fit_params


@dataclass
class Candidate:
    """A strategy with its parameters, and the encoder it runs on."""

    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    backbone: str | None = None
    title: str | None = None  # shown instead of the strategy and parameters

    @property
    def label(self) -> str:
        if self.title:
            return self.title
        shown = ",".join(f"{k}={v}" for k, v in self.params.items() if k != "descriptions")
        return f"{self.strategy}[{shown}]" if shown else self.strategy


# The default comparison: frozen-encoder strategies plus the no-transfer baselines, each
# cheap (seconds at 100 items) and each a different view of the data, so that their
# combination can beat any one: pretrained embeddings (probe, prototype), the label names
# (zeroshot), raw pixels or words (classic), and for images a small CNN that learns
# features from the user's own pixels (scratch: the strong one when the images are far
# from the pretraining data, such as handwriting). probe's torch head (cosine / cosine+CE
# loss) stays available by name but is not a default: with a fixed number of epochs it
# trailed the logistic head on every cross-validation we ran.
DEFAULT_CANDIDATES = {
    "image": [("probe", {}), ("prototype", {}), ("classic", {}), ("scratch", {})],
    "text": [("probe", {}), ("prototype", {}), ("zeroshot", {}), ("classic", {})],
}
# Joins the default comparison when the user gives a time budget: fine-tuning costs
# minutes where the frozen strategies cost seconds, so it runs only when asked to fit
# within a stated time, and last, after the cheap candidates have their scores.
BUDGETED_CANDIDATES = [("finetune", {})]
# SetFit-style contrastive tuning joins them for text: its evidence (Tunstall et al. 2022)
# is few-shot text classification, where it rivals fine-tuning; for images, supervised
# contrastive learning is known to pay with large data and strong augmentation (Khosla et
# al. 2020), not with a few dozen images, so it stays available by name only there. It
# costs about as much as finetune (pairs_per_example * n pairs per epoch), so it runs last.
BUDGETED_BY_MODALITY = {"text": [("contrastive", {})]}


def semi_supervised(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates, each followed by its semi-supervised variant when it has one:
    self-training for the frozen-embedding strategies, FixMatch for finetune."""
    result = []
    for candidate in candidates:
        result.append(candidate)
        if type(strategies.create(candidate.strategy)).embedding_only:
            params = {"base": candidate.strategy, "base_params": candidate.params}
            title = f"{candidate.label}+self-training"
            result.append(Candidate("self-training", params, candidate.backbone, title))
        elif candidate.strategy == "finetune":
            params = {**candidate.params, "consistency": "fixmatch"}
            result.append(Candidate("finetune", params, candidate.backbone))
    return result


def comparison_splits(y: np.ndarray, names, folds: int | None, loocv: bool, seed: int) -> Splits:
    """The splits every candidate (of strategies `names`) is scored on: repeated stratified
    k-fold, with one repeat only when some candidate trains a network body (minutes a fold)."""
    return make_splits(
        y,
        folds=folds,
        repeats=1 if any(map(trains_body, names)) else None,
        loocv=loocv,
        random_state=seed,
    )


def trains_body(name: str) -> bool:
    return type(strategies.create(name)).trains_body


def failure(error: Exception) -> str:
    """One line on why a candidate failed, for its leaderboard row."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text if isinstance(error, SmallfitError) else f"{type(error).__name__}: {text}"


def candidates_for(
    modality: str,
    backbone: str | None,
    strategy: str | None,
    strategy_params: dict | None = None,
    budgeted: bool = False,
) -> list[Candidate]:
    """The candidates to compare: the one the user asked for, or the default set
    (with the fine-tuning candidates when `budgeted`)."""
    backbone = backbone or backbones.DEFAULTS[modality]
    if backbones.modality_of(backbone) != modality:
        raise SmallfitError(
            f"Backbone {backbone} is for {backbones.modality_of(backbone)}s but the data holds "
            f"{modality}s."
        )
    chosen = [(strategy, {})] if strategy else DEFAULT_CANDIDATES[modality]
    if budgeted and not strategy:
        chosen = chosen + BUDGETED_CANDIDATES + BUDGETED_BY_MODALITY.get(modality, [])
    result = []
    for name, params in chosen:
        cls = type(strategies.create(name))
        if modality not in cls.modalities:
            raise SmallfitError(f"Strategy {name} does not work on {modality} data.")
        params = {**params, **(strategy_params or {}).get(name, {})}
        used = cls.fixed_backbone.get(modality, backbone)
        result.append(Candidate(name, params, used))
    return result


def build(candidate: Candidate, seed: int):
    strategy = strategies.create(candidate.strategy, **candidate.params)
    if "random_state" in strategy.get_params():
        strategy.set_params(random_state=seed)
    encoder = backbones.create(candidate.backbone) if candidate.backbone else None
    return strategy, encoder


def fit_dataset(
    dataset: Dataset,
    *,
    backbone: str | None = None,
    strategy: str | None = None,
    strategy_params: dict | None = None,
    folds: int | None = None,
    loocv: bool = False,
    seed: int = 0,
    estimate: bool = True,
    time_budget: float | None = None,
    fit_params: dict | None = None,
    ensemble: bool | None = None,
    learning_curve: bool | None = False,
    preset: str | None = None,
    storage: str | None = None,
) -> Model:
    """Compare candidates by cross-validation, combine them or keep the best (refitted on
    all data), estimate that whole choice honestly, and return the Model.

    With `estimate=False` and a single candidate, skip cross-validation (used inside
    scikit-learn's own model selection, which does its own). `time_budget` (seconds)
    bounds the comparison: the first candidate always completes, later ones only if
    their folds project to finish (with the refit) within it. `fit_params` (unlabeled
    pools) reach every fold's fit and the refit, for the strategies that accept them.
    `ensemble`: try a greedy ensemble of the candidates, kept if it is more accurate than
    the best single one on resampled items (smallfit.ensemble.combine); None: always in
    the fixed comparison, and in a search with the `best` preset; False: keep the best
    single candidate (its honest estimate still covers the choice). `learning_curve`:
    add model.info["learning_curve"] (evaluate.learning_curve); None: when cheap (the
    chosen model trains no network body) and the time budget, if any, is not spent.
    With a `preset` and no `strategy`, a search (smallfit.search) of the preset's
    strategies and their hyper-parameters replaces the fixed comparison: it runs within
    `time_budget` (default from the data size), its trials in `storage` (a database URL
    or journal file; None: in memory), and the honest estimate is the winner's on an outer
    holdout where the data can spare one.
    """
    from smallfit import search

    dataset.check_trainable()
    if time_budget is not None and time_budget <= 0:
        raise SmallfitError(f"The time budget must be positive, not {time_budget}.")
    started = time.perf_counter()
    deadline = time.monotonic() + time_budget if time_budget is not None else None
    candidates = candidates_for(
        dataset.modality, backbone, strategy, strategy_params, budgeted=time_budget is not None
    )
    pool = (fit_params or {}).get("unlabeled")
    if pool is not None:
        candidates = semi_supervised(candidates)
    searching = estimate and strategy is None and preset is not None
    if not searching:  # a search embeds with every encoder of its own space (search.start)
        for name in dict.fromkeys(c.backbone for c in candidates if c.backbone):
            backbones.create(name).embed(dataset.items, description=f"Embedding with {name}")

    leaderboard, probas_by_label = [], {}
    splits, scored = None, dataset
    if ensemble is None:  # always in the fixed comparison; in a search, with `best` only
        ensemble = not searching or preset == "best"
    if searching:
        budget = time_budget or search.default_budget(len(dataset))
        found = search.run(
            dataset,
            backbone=backbone,
            preset=preset,
            time_budget=budget,
            elapsed=time.perf_counter() - started,  # embedding counts against the budget
            storage=storage,
            seed=seed,
            folds=folds,
            loocv=loocv,
            strategy_params=strategy_params,
            fit_params=fit_params,
        )
        candidates, leaderboard, probas_by_label = found.candidates, found.leaderboard, found.probas
        splits, scored = found.splits, found.dataset
    elif estimate:
        # the frozen-encoder candidates get repeated folds; one that trains a network body
        # runs the first repeat of the same splits (its folds cost seconds to minutes)
        cheap = [c.strategy for c in candidates if not trains_body(c.strategy)]
        names = cheap or [c.strategy for c in candidates]
        splits = comparison_splits(dataset.y, names, folds, loocv, seed)
        for index, candidate in enumerate(candidates):
            model, encoder = build(candidate, seed)
            tic = time.perf_counter()
            row = {
                "candidate": candidate.label,
                "strategy": candidate.strategy,
                "params": candidate.params,
                "backbone": candidate.backbone,
            } | adapt.candidate_entry(model, fit_params)
            try:
                probas = out_of_fold(
                    model,
                    dataset,
                    encoder,
                    splits.first_repeat() if trains_body(candidate.strategy) else splits,
                    description=f"Cross-validating {candidate.label}",
                    deadline=deadline if index else None,
                    fit_params=fit_params,
                )
            except OverBudget as stop:
                row |= {"accuracy": None, "skipped": f"time budget: {stop}"}
            except Exception as error:  # noqa: BLE001 - one candidate failing ends no fit
                if len(candidates) == 1:
                    raise  # the user's own choice: its error is the answer
                row |= {"accuracy": None, "skipped": f"failed: {failure(error)}"}
            else:
                probas_by_label[candidate.label] = probas
                row["accuracy"] = accuracy_interval(dataset.y, probas, random_state=seed)
            row["cv_seconds"] = round(time.perf_counter() - tic, 2)
            leaderboard.append(row)
    choice = None
    if estimate:
        # Highest accuracy wins; on a tie the earlier (simpler, default-ordered) candidate.
        scores = [row["accuracy"]["value"] if row["accuracy"] else -1.0 for row in leaderboard]
        if max(scores) < 0:
            raise SmallfitError(
                "No candidate could be scored: "
                + "; ".join(f"{row['candidate']}: {row['skipped']}" for row in leaderboard)
            )
        best_index = int(np.argmax(scores))
    else:
        best_index = 0
    best = candidates[best_index]
    if estimate and not searching:
        # combine the candidates (or keep the best alone) and estimate that whole choice
        choice = combine(
            candidates, probas_by_label, scored.y, best.label, seed, ensemble is not False
        )
    elif ensemble and estimate:  # the search's `best` preset: its trials' ensemble
        choice = combine(candidates, probas_by_label, scored.y, best.label, seed)
    if choice is not None and choice.candidate.strategy == "ensemble":
        best = choice.candidate
        probas_by_label[best.label] = choice.probas
    final, encoder = build(best, seed)
    final.fit(dataset, encoder, **accepted_fit_params(final, fit_params))
    info: dict[str, Any] = {
        "candidates": leaderboard,
        "metrics": {},
        "settings": {
            "seed": seed,
            "folds": splits and splits.folds,
            "repeats": splits and splits.repeats,
            "loocv": loocv,
            "time_budget": time_budget,
        },
        "data": dataset.record(),
        "versions": library_versions(),
    } | adapt.fit_record(final, fit_params)
    if choice is not None and choice.record is not None:
        info["ensemble"] = choice.record
    if notes := fixed_epochs_notes(final):
        info["training_notes"] = notes
    out_of_sample = probas_by_label.get(best.label)
    if estimate:
        metrics = evaluate_probas(
            scored.y, probas_by_label[best.label], dataset.classes, random_state=seed
        )
        metrics["kind"] = "cross-validation"
        metrics["selected_among"] = len(candidates)
        if choice is not None and choice.honest:
            metrics["honest"] = choice.honest
            info["why"] = choice.why
        info["metrics"] = metrics
        in_time = deadline is None or time.monotonic() < deadline
        if learning_curve or (learning_curve is None and in_time and not curves.costly(final)):
            full = None if best.strategy == "ensemble" else probas_by_label[best.label]
            own = splits.first_repeat() if trains_body(best.strategy) and not searching else splits
            curve = curves.learning_curve(final, scored, encoder, own, full, fit_params, seed)
            if curve:
                info["learning_curve"] = curve
        if pool is not None:
            info["unlabeled"] = pool_summary(pool, candidates, leaderboard)
    # with a search's outer holdout, the out-of-fold probabilities cover the searched part
    info["examples"] = fit_examples(scored, probas_by_label.get(best.label))
    info["doctor"] = fit_summary(scored, probas_by_label.get(best.label))
    if searching and (found.holdout is not None or best.strategy != "ensemble"):
        metrics["honest"], out_of_sample = search.honest_estimate(found, best, seed, fit_params)
    if searching:  # without an outer holdout, an ensemble's estimate is the resampled one
        info["search"] = found.summary
    # The reference lives in the user's (or the default) pretrained encoder's space even when
    # the chosen strategy reads pixels or words, so drift is always measured the same way.
    reference = reference_of_fit(
        dataset,
        backbones.create(backbone or backbones.DEFAULTS[dataset.modality]),
        out_of_sample,
        seed,
    )
    info["fit_seconds"] = round(time.perf_counter() - started, 2)
    return Model(final, best.backbone, dataset.modality, dataset.classes, info, reference)


def fixed_epochs_notes(model) -> list[str]:
    """What trained without early stopping (too few items per class to validate on)."""
    return [
        f"{member.name} trained for its fixed {member.epochs} epochs: the data has too few "
        "items per class to hold some out for early stopping (2 per class at least)"
        for member in getattr(model, "members_", [model])
        if getattr(member, "early_stopping_", True) is False
    ]


def pool_summary(pool: Dataset, candidates: list[Candidate], leaderboard: list[dict]) -> dict:
    """The best labeled-only and the best semi-supervised candidate, side by side."""
    best = {}
    for candidate, row in zip(candidates, leaderboard, strict=True):
        semi = candidate.strategy == "self-training" or "consistency" in candidate.params
        group = "semi" if semi else "labeled_only"
        if row["accuracy"] and (
            group not in best or row["accuracy"]["value"] > best[group]["accuracy"]["value"]
        ):
            best[group] = {"candidate": row["candidate"], "accuracy": row["accuracy"]}
    return {
        "pool": pool.source,
        "n_pool": len(pool),
        "labeled_only": best.get("labeled_only"),
        "semi": best.get("semi"),
    }


def library_versions() -> dict[str, str]:
    import sentence_transformers
    import sklearn
    import timm
    import torch

    return {
        "smallfit": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "scikit_learn": sklearn.__version__,
        "numpy": np.__version__,
    }
