"""Choosing how to fit: compare candidate strategies by cross-validation, then combine
them (or keep the best alone), and estimate the whole choice honestly (fitting.combine).

All candidates are scored on the same splits with the same seed; a candidate that trains
a network body runs the first repeat only, its folds merged into three parts at most.
Embeddings are computed once per encoder
(then cached), so comparing frozen-encoder candidates costs only head fits. A candidate
that fails on the data is listed as skipped and the others go on. With a time budget,
fine-tuning joins the candidates, cheapest candidates go first, and a candidate whose
cross-validation would not finish in the budget is left out (and listed as such); given
the same completed candidates, the same seed gives the same model.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from smallfit import backbones, modalities, progress
from smallfit.budget import UNLIMITED, Budget, OutOfTime
from smallfit.data import Dataset
from smallfit.doctor import fit_summary
from smallfit.errors import SmallfitError
from smallfit.evaluate import accuracy_interval, evaluate_probas, out_of_fold
from smallfit.evaluate import learning_curve as curves
from smallfit.evaluate.importance import permutation_importance
from smallfit.evaluate.selection import HOLDOUT_FRACTION, bbc_cv
from smallfit.fitting import adaptation, search
from smallfit.fitting.candidates import (
    Candidate,
    build,
    candidates_for,
    check_candidates,
    comparison_splits,
    semi_supervised,
    trains_body,
)
from smallfit.fitting.combine import combine
from smallfit.fitting.space import default_budget
from smallfit.modalities.pools import background_class
from smallfit.model import Model
from smallfit.reference import reference_of_fit
from smallfit.report.record import fit_examples
from smallfit.strategies.base import accepted_fit_params
from smallfit.version import library_versions


def failure(error: Exception) -> str:
    """One line on why a candidate failed, for its leaderboard row."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text if isinstance(error, SmallfitError) else f"{type(error).__name__}: {text}"


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
    candidates: str = "quick",
) -> Model:
    """Compare candidates by cross-validation, combine them or keep the best (refitted on
    all data), estimate that whole choice honestly, and return the Model.

    With `estimate=False` and a single candidate, skip cross-validation (used inside
    scikit-learn's own model selection, which does its own). `time_budget` (seconds)
    bounds the comparison: the first candidate always completes, later ones only if
    their folds project to finish (with the refit) within it. `fit_params` (unlabeled
    pools) reach every fold's fit and the refit, for the strategies that accept them.
    `ensemble`: try a greedy ensemble of the candidates, kept if it is more accurate than
    the best single one on resampled items (smallfit.fitting.combine); None: always in
    the fixed comparison, and in a search with the `best` preset; False: keep the best
    single candidate (its honest estimate still covers the choice). `learning_curve`:
    add model.info["learning_curve"] (evaluate.learning_curve); None: when cheap (the
    chosen model trains no network body, and the curve projects to take at most
    curves.MAX_SECONDS and the budget's time left, on one repeat of the folds if need be).
    With a `preset` and no `strategy`, a search (smallfit.fitting.search) of the preset's
    strategies and their hyper-parameters replaces the fixed comparison: it runs within
    `time_budget` (default from the data size), its trials in `storage` (a database URL
    or journal file; None: in memory), and the honest estimate is the winner's on an outer
    holdout where the data can spare one. `candidates`: "quick" compares the modality's
    cheap candidates, "full" also the strategies that train the encoder (fitting.candidates).
    """
    dataset.check_trainable()
    budget = Budget.of(time_budget)
    started = time.perf_counter()
    full = check_candidates(candidates) == "full"
    candidates = candidates_for(dataset.modality, backbone, strategy, strategy_params, full)
    pool = (fit_params or {}).get("unlabeled")
    if pool is not None:
        candidates = semi_supervised(candidates, dataset.modality)
    searching = estimate and strategy is None and preset is not None
    if not searching:  # a search embeds with every encoder of its own space (search.start)
        for name in dict.fromkeys(c.backbone for c in candidates if c.backbone):
            backbones.create(name).embed(dataset.items, description=f"Embedding with {name}")

    leaderboard, probas_by_label = [], {}
    splits, scored = None, dataset
    if ensemble is None:  # always in the fixed comparison; in a search, with `best` only
        ensemble = not searching or preset == "best"
    if searching:
        if not budget.limited:
            budget = Budget.of(default_budget(len(dataset)))  # from the start: embedding counts
        found = search.run(
            dataset,
            backbone=backbone,
            preset=preset,
            budget=budget,
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
        # runs the first repeat of the same splits, in three parts at most (its folds cost
        # seconds to minutes: Splits.coarse)
        cheap = [c.strategy for c in candidates if not trains_body(c.strategy)]
        names = cheap or [c.strategy for c in candidates]
        splits = comparison_splits(
            dataset.y, names, folds, loocv, seed, dataset.classes, dataset.groups
        )
        for index, candidate in enumerate(candidates):
            model, encoder = build(candidate, seed)
            tic = time.perf_counter()
            row = {
                "candidate": candidate.label,
                "strategy": candidate.strategy,
                "params": candidate.params,
                "backbone": candidate.backbone,
            } | adaptation.candidate_entry(model, fit_params)
            try:
                probas = out_of_fold(
                    model,
                    dataset,
                    encoder,
                    splits.coarse() if trains_body(candidate.strategy) else splits,
                    description=f"Cross-validating {candidate.label}",
                    budget=budget if index else UNLIMITED,  # the first always completes
                    fit_params=fit_params,
                )
            except OutOfTime as stop:
                row |= {"accuracy": None, "skipped": f"time budget: {stop}"}
            except Exception as error:  # noqa: BLE001 - one candidate failing ends no fit
                if len(candidates) == 1:
                    raise  # the user's own choice: its error is the answer
                row |= {"accuracy": None, "skipped": f"failed: {failure(error)}"}
            else:
                probas_by_label[candidate.label] = probas
                row["accuracy"] = accuracy_interval(
                    dataset.y, probas, random_state=seed, groups=dataset.groups
                )
            row["cv_seconds"] = round(time.perf_counter() - tic, 2)
            leaderboard.append(row)
            progress.event("candidate", **{k: row.get(k) for k in ("candidate", "accuracy")})
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
            candidates,
            probas_by_label,
            scored.y,
            best.label,
            seed,
            ensemble is not False,
            groups=scored.groups,
        )
    elif ensemble and estimate:  # the search's `best` preset: its trials' ensemble
        choice = combine(
            candidates, probas_by_label, scored.y, best.label, seed, groups=scored.groups
        )
    if choice is not None:  # an ensemble, or the one candidate its selection kept alone
        best = choice.candidate
        if best.strategy == "ensemble":
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
            "groups": None if dataset.groups is None else int(np.unique(dataset.groups).size),
        },
        "data": dataset.record(),
        "versions": library_versions(),
    } | adaptation.fit_record(final, fit_params)
    kind = modalities.get(dataset.modality)
    if (schema := kind.input_schema(dataset)) is not None:
        info["input"] = schema  # how later input is read (a table's column types)
    if (summary := kind.data_summary(dataset)) is not None:
        info["data_summary"] = summary  # what the items' parts hold (a table's columns)
    if choice is not None and choice.record is not None:
        info["ensemble"] = choice.record
    if notes := fixed_epochs_notes(final) + background_notes(dataset):
        info["training_notes"] = notes
    out_of_sample = probas_by_label.get(best.label)
    if estimate:
        metrics = evaluate_probas(
            scored.y,
            probas_by_label[best.label],
            dataset.classes,
            random_state=seed,
            groups=scored.groups,
        )
        metrics["kind"] = "cross-validation"
        metrics["selected_among"] = len(candidates)
        if choice is not None and choice.honest:
            metrics["honest"] = choice.honest
            info["why"] = choice.why
        info["metrics"] = metrics
        in_time = budget.left() > 0
        per_fit = fold_seconds(leaderboard, info, best, splits)  # projects both analyses
        full = None if best.strategy == "ensemble" else probas_by_label[best.label]
        own = splits.coarse() if trains_body(best.strategy) and not searching else splits
        if learning_curve is None:  # when cheap: within its share of the time left
            limit = min(curves.MAX_SECONDS, budget.left())
            cheap = in_time and not curves.costly(final)
            chosen = curves.affordable(own, per_fit, full is None, limit) if cheap else None
            if chosen is not own:  # other folds: the 100% point is refitted on them too
                own, full = chosen, None
        if learning_curve is not False and own is not None:
            curve = curves.learning_curve(final, scored, encoder, own, full, fit_params, seed)
            if curve:
                info["learning_curve"] = curve
        if pool is not None:
            info["unlabeled"] = pool_summary(pool, candidates, leaderboard)
        importance = permutation_importance(
            final,
            scored,
            encoder,
            splits,
            seed=seed,
            fit_seconds=per_fit,
            budget=budget,
            fit_params=fit_params,
        )
        if importance is not None:
            info["importance"] = importance
    # with a search's outer holdout, the out-of-fold probabilities cover the searched part
    info["examples"] = fit_examples(scored, probas_by_label.get(best.label))
    info["doctor"] = fit_summary(scored, probas_by_label.get(best.label))
    if searching and (found.holdout is not None or best.strategy != "ensemble"):
        metrics["honest"], out_of_sample = honest_estimate(found, best, seed, fit_params)
    if searching:  # without an outer holdout, an ensemble's estimate is the resampled one
        info["search"] = found.summary
    # The reference lives in the user's (or the default) pretrained encoder's space even when
    # the chosen strategy reads pixels or words, so drift is always measured the same way;
    # a kind of item without a pretrained encoder (tables) is placed by its own features.
    reference_encoder = backbone or modalities.get(dataset.modality).default_backbone
    reference = reference_of_fit(
        dataset, reference_encoder and backbones.create(reference_encoder), out_of_sample, seed
    )
    info["fit_seconds"] = round(time.perf_counter() - started, 2)
    return Model(final, best.backbone, dataset.modality, dataset.classes, info, reference)


def honest_estimate(found: search.Found, best: Candidate, seed: int, fit_params: dict | None):
    """The winner's honest accuracy (value, low, high, method) and its out-of-sample
    probabilities on all the data: out-of-fold on the searched part, and with an outer
    holdout, the predictions of the winner fitted on the searched part for the holdout."""
    oof = found.probas[best.label]
    if found.holdout is None:
        estimate = bbc_cv(
            found.dataset.y,
            list(found.probas.values()),
            random_state=seed,
            groups=found.dataset.groups,
        )
        return estimate, oof
    model, encoder = build(best, seed)
    model.fit(found.dataset, encoder, **accepted_fit_params(model, fit_params))
    held = found.full.subset(found.holdout)
    proba = model.predict_proba(held.items)
    whole = "" if held.groups is None else f" in {np.unique(held.groups).size} whole groups"
    estimate = accuracy_interval(held.y, proba, random_state=seed, groups=held.groups) | {
        "method": f"outer holdout of {len(held)} items{whole} ({HOLDOUT_FRACTION:.0%}) the "
        "search never saw"
    }
    full = np.full((oof.shape[0], len(found.full), oof.shape[2]), np.nan)
    full[:, found.rows] = oof
    full[:, found.holdout] = proba
    return estimate, full


def fold_seconds(leaderboard: list[dict], info: dict, best: Candidate, splits) -> float | None:
    """About how long one fold's fit of `best` took in the comparison (an ensemble: its
    members' sum); None when unknown (a candidate that was not cross-validated)."""
    rows = {row["candidate"]: row for row in leaderboard}
    if best.strategy == "ensemble":
        labels = [m["candidate"] for m in info.get("ensemble", {}).get("members", [])]
    else:
        labels = [best.label]
    if splits is None or not labels or any(label not in rows for label in labels):
        return None
    return sum(rows[label].get("cv_seconds", 0.0) for label in labels) / len(splits.pairs)


def background_notes(dataset: Dataset) -> list[str]:
    """The modality's advice when no class of the data holds background items."""
    advice = modalities.get(dataset.modality).background_advice
    return [advice] if advice and background_class(dataset.classes) is None else []


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
