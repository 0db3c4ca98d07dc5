"""The Python API: `fit` a source into a Model, and `Classifier`, a scikit-learn estimator."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from smallfit import modalities, strategies
from smallfit.data import Dataset
from smallfit.errors import SmallfitError
from smallfit.fitting.candidates import check_candidates
from smallfit.fitting.compare import fit_dataset
from smallfit.fitting.space import PRESETS, check_preset
from smallfit.modalities.pools import read_pool, with_background
from smallfit.modalities.reading import from_python, to_dataset
from smallfit.model import Model, check_destination
from smallfit.train.checkpoint import checkpointing


def fit(
    data: Any,
    labels: Any = None,
    *,
    backbone: str | None = None,
    strategy: str | None = None,
    folds: int | None = None,
    loocv: bool = False,
    seed: int = 0,
    text_column: str | None = None,
    label_column: str | None = None,
    column_types: dict[str, str] | None = None,
    label_descriptions: dict | None = None,
    skip_bad: bool = False,
    time_budget: float | None = None,
    strategy_params: dict[str, dict] | None = None,
    checkpoints: str | Path | None = None,
    ensemble: bool | None = None,
    learning_curve: bool | None = None,
    target_unlabeled: Any = None,
    unlabeled: Any = None,
    preset: str | None = None,
    storage: str | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    candidates: str = "quick",
    background: Any = None,
    group_column: str | None = None,
    groups: Any = None,
) -> Model:
    """Fit a classifier to `data` and estimate how good it is.

    `data` is a folder of class sub-folders, a table file, a Dataset, or Python items
    (paths, texts, PIL images, arrays, a DataFrame) with `labels`; a table's
    `label_column` and `column_types` ({column: numeric, categorical, boolean, date, text,
    identifier or constant}) override what is inferred. `candidates`: "quick"
    compares the modality's cheap candidates (seconds each); "full" adds the strategies
    that train the encoder (finetune, and contrastive for texts: minutes each).
    `time_budget` (seconds) bounds the comparison: a candidate that would not finish in
    time is left out, and a training stops mid-fold when the time runs out.
    `strategy_params`: parameters per strategy name, e.g. {"finetune": {"unfreeze":
    "all"}} (see `finetune_options`) or {"contrastive": {"pairs_per_example": 10}}; a
    strategy's are refused unless this fit trains it (see `trains`).
    `checkpoints`: a folder where every training run (each fold, each stage) saves its
    state per epoch; fitting again with the same folder and data restores the runs that
    finished and continues an interrupted one, giving the same model.
    `ensemble`: combine the compared candidates in a greedy ensemble, kept if it is more
    accurate than the best single one on resampled items; None: always, but in a search
    only with `preset="best"`; False: keep the best single candidate.
    `learning_curve`: accuracy at 25-100% of the labels and predictions for 2x and 4x, in
    model.info["learning_curve"]; None: only when cheap (no network body is trained and
    it projects to take at most about 20 s, on one repeat of the folds if need be).
    `target_unlabeled`: unlabeled items (a folder, a table, Python items) of the domain the
    model will be used on, for domain adaptation (smallfit.adapt); the cross-validated
    metrics remain those of the labeled domain.
    `unlabeled`: a pool without labels (a folder, a table, Python items); each
    frozen-embedding candidate is then also compared self-trained on it (strategies.self_training),
    and finetune with FixMatch, with pseudo-labels made inside each fold.
    `preset` (fast, balanced or best; see smallfit.fitting.search): instead of the fixed
    comparison, search strategies and hyper-parameters with Optuna within `time_budget`
    (default from the data size), trials kept in `storage` (a database URL, or a journal
    file path, that `smallfit worker` processes may share; None: in memory).
    `background`: items (a folder, a table, Python items) that belong to none of the
    classes (other words, noise, silence), added as the class "background" so that the
    model can answer "none of these" (keyword spotting needs it).
    `group_column` (a column of the data table, not read as a feature) or `groups` (for a
    folder, a table with columns item and group, or `group_column`; in Python, one value
    per item) names what items share, such as a patient or a speaker: every
    cross-validation fold then holds whole groups, so the estimate is for new groups.
    `out`: save the model in this directory, as `smallfit fit --out` does: an existing
    `out` is refused unless `overwrite`; training runs checkpoint in OUT.checkpoints/
    (instead of `checkpoints`) and a search without `storage` keeps its trials in the
    journal file OUT.search.journal, both removed once the model is written. Checkpoints
    left there by an interrupted fit are refused unless `resume`, which continues it.
    """
    check_candidates(candidates)
    if candidates == "full" and (strategy is not None or preset is not None):
        raise SmallfitError(
            "candidates full widens the default comparison; a strategy or a preset says "
            "itself what is trained: give one of them."
        )
    journal = None
    if out is not None:
        if checkpoints is not None:
            raise SmallfitError(
                "Give out or checkpoints, not both: a fit saved to out checkpoints in "
                "OUT.checkpoints/."
            )
        out = Path(out)
        checkpoints = _prepare_out(out, overwrite, resume)
        journal = out.with_name(out.name + ".search.journal")
    elif resume:
        raise SmallfitError("resume continues an interrupted fit saved to out; give out too.")
    for name, given in (strategy_params or {}).items():
        if given and not trains(name, strategy=strategy, preset=preset, candidates=candidates):
            raise SmallfitError(
                f"strategy_params[{name!r}] would not be used: this fit does not train {name}. "
                f'Choose strategy={name!r}, candidates="full", or a preset that searches it.'
            )
    if journal is not None:
        if storage is None and strategy is None:
            _remove_journal(journal)  # left by an interrupted fit: start afresh
        storage = storage or (str(journal.resolve()) if preset else None)
    dataset = to_dataset(
        data,
        labels,
        labeled=True,
        text_column=text_column,
        label_column=label_column,
        skip_bad=skip_bad,
        column_types=column_types,
        group_column=group_column if groups is None else None,
    )
    if groups is not None:
        dataset.groups = _groups(dataset, group_column, groups)
    if background is not None:
        what = "The background items"
        extra = read_pool(
            background, dataset, text_column=text_column, what=what, skip_bad=skip_bad
        )
        dataset = with_background(dataset, extra)
    params = {name: dict(given) for name, given in (strategy_params or {}).items() if given}
    if label_descriptions:
        params["zeroshot"] = {**params.get("zeroshot", {}), "descriptions": label_descriptions}
    target_pool = (
        read_pool(target_unlabeled, dataset, text_column=text_column, what="The target pool")
        if target_unlabeled is not None
        else None
    )
    pool = None
    if unlabeled is not None:
        pool = read_pool(unlabeled, dataset, text_column=text_column, skip_bad=skip_bad)
    with checkpointing(checkpoints) as store:
        model = fit_dataset(
            dataset,
            backbone=backbone,
            strategy=strategy,
            strategy_params=params,
            folds=folds,
            loocv=loocv,
            seed=seed,
            time_budget=time_budget,
            ensemble=ensemble,
            learning_curve=learning_curve,
            fit_params={"unlabeled": pool, "target_unlabeled": target_pool},
            preset=preset,
            storage=storage,
            candidates=candidates,
        )
    if store and (store.restored_runs or store.resumed_epochs):
        model.info["resumed"] = {
            "finished_runs_restored": store.restored_runs,
            "epochs_restored_in_interrupted_runs": store.resumed_epochs,
        }
    if out is not None:
        model.save(out, overwrite=overwrite)
        shutil.rmtree(checkpoints, ignore_errors=True)
        _remove_journal(journal)
    return model


def checkpoint_folder(out: Path) -> Path:
    """Where a fit saved to `out` keeps its per-epoch checkpoints: OUT.checkpoints/."""
    return out.with_name(out.name + ".checkpoints")


def _prepare_out(out: Path, overwrite: bool, resume: bool) -> Path:
    """Before any work, refuse to replace `out` or to discard (or invent) an interrupted
    fit's checkpoints; returns the checkpoint folder."""
    check_destination(out, overwrite)
    checkpoints = checkpoint_folder(out)
    left_over = checkpoints.is_dir() and any(checkpoints.iterdir())
    if resume and not left_over:
        raise SmallfitError(f"Nothing to resume: {checkpoints} holds no checkpoints.")
    if left_over and not resume:
        raise SmallfitError(
            f"An interrupted fit left checkpoints in {checkpoints}: add --resume to continue "
            "it, or delete that folder to start afresh."
        )
    return checkpoints


def _remove_journal(path: Path) -> None:
    """Delete a search's journal file and the lock file Optuna keeps beside it."""
    for each in (path, path.with_name(path.name + ".lock")):
        each.unlink(missing_ok=True)


def trains(name: str, *, strategy: str | None, preset: str | None, candidates: str) -> bool:
    """Whether a fit with these settings may train strategy `name`: it is the chosen
    `strategy`, a `preset` searches it, or it is among the `candidates` ("quick" or
    "full") of some modality. Unknown names, presets and candidate sets are refused."""
    strategies.create(name)  # the helpful unknown-name error
    if strategy is not None:
        return name == strategy
    if preset is not None:
        return name in PRESETS[check_preset(preset)]
    defaults = {n for m in modalities.all_registered() for n, *_ in m.candidates}
    training = {n for m in modalities.all_registered() for n, *_ in m.full_candidates}
    return name in defaults or (check_candidates(candidates) == "full" and name in training)


def finetune_options(unfreeze: str | None, augment: str | None, mix: str | None) -> dict:
    """strategy_params["finetune"] from the words `smallfit fit` takes: --unfreeze (gradual, all or
    top:K), --augment (an augmentation preset) and --mix (none, mixup, cutmix); None: the
    strategy's default."""
    from smallfit.augment import IMAGE_PRESETS
    from smallfit.train.loop import MIXES

    params = _parse_unfreeze(unfreeze) if unfreeze else {}
    for flag, value, choices in (("augment", augment, IMAGE_PRESETS), ("mix", mix, MIXES)):
        if value is not None and value not in choices:
            raise SmallfitError(f"Unknown --{flag} {value!r}; choose from {', '.join(choices)}.")
        if value is not None:
            params[flag] = value
    return params


def _parse_unfreeze(text: str) -> dict:
    """finetune parameters for 'gradual', 'all' or 'top:K'."""
    if text in ("gradual", "all"):
        return {"unfreeze": text}
    mode, _, count = text.partition(":")
    if mode == "top" and count.isdigit():
        return {"unfreeze": "top", "top_groups": int(count)}
    raise SmallfitError(f"Cannot read --unfreeze {text!r}: use gradual, all or top:K (e.g. top:3).")


class Classifier(ClassifierMixin, BaseEstimator):
    """smallfit as a scikit-learn estimator, on lists of image paths or texts.

    With `strategy=None` each `fit` compares strategies by its own cross-validation;
    naming a strategy skips that, which is faster inside `cross_val_score` or
    `GridSearchCV` (they do their own).
    """

    def __init__(
        self,
        backbone: str | None = None,
        strategy: str | None = None,
        folds: int | None = None,
        random_state: int = 0,
    ):
        self.backbone = backbone
        self.strategy = strategy
        self.folds = folds
        self.random_state = random_state

    def fit(self, X, y) -> Classifier:
        dataset = from_python(X, y)
        self.model_ = fit_dataset(
            dataset,
            backbone=self.backbone,
            strategy=self.strategy,
            folds=self.folds,
            seed=self.random_state,
            estimate=self.strategy is None,
        )
        self.classes_ = np.array(self.model_.classes)
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(from_python(X))

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def evaluate_model(
    model: Model | str | Path,
    data: Any,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    skip_bad: bool = False,
    tta: bool = False,
    group_column: str | None = None,
    groups: Any = None,
) -> dict:
    """Metrics (with 95% bootstrap intervals) of a fitted model on labeled data it never saw
    (`tta`: with test-time augmentation, to see whether it helps).

    Fairness slices (under "fairness", see evaluate.fairness) when groups are given:
    `group_column` of the data table; for images, `groups` is a table with columns item
    and `group_column` (default "group"); or `groups` holds one value per item.
    """
    from smallfit.evaluate import evaluate_probas
    from smallfit.model import load

    model = model if isinstance(model, Model) else load(model)
    dataset = to_dataset(
        data, labeled=True, text_column=text_column, label_column=label_column, skip_bad=skip_bad
    )
    dataset = dataset.on_classes(model.classes)
    group_values = None
    if group_column is not None or groups is not None:
        group_values = _groups(dataset, group_column, groups)
    proba = model.predict_proba(dataset, tta=tta)
    metrics = evaluate_probas(dataset.y, proba, model.classes)
    metrics["kind"] = "holdout"
    metrics["source"] = dataset.source
    if group_values is not None:
        from smallfit.evaluate.fairness import fairness_report, small_group_warning

        column = group_column or "group"
        predicted = proba.argmax(axis=1)
        report = fairness_report(dataset.y, predicted, group_values, model.classes, column)
        metrics["fairness"] = report
        if small_group_warning(report):
            warnings.warn(small_group_warning(report), stacklevel=2)
    return metrics


def _groups(dataset: Dataset, group_column: str | None, groups: Any) -> np.ndarray:
    """Each item's group: from the data table, a groups table, or values given in Python."""
    from smallfit.data.groups import read_groups

    if groups is None or isinstance(groups, str | Path):
        return read_groups(dataset, group_column or "group", groups)
    values = np.asarray(list(groups), dtype=object)
    if len(values) != len(dataset):
        raise SmallfitError(f"Got {len(values)} group values for {len(dataset)} items.")
    return np.array([str(v) for v in values], dtype=object)
