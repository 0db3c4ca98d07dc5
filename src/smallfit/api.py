"""The Python API: `fit` a source into a Model, and `Classifier`, a scikit-learn estimator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from smallfit.auto import fit_dataset
from smallfit.data import Dataset, from_python, read_source, to_dataset
from smallfit.model import Model


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
    label_descriptions: dict | None = None,
    skip_bad: bool = False,
    time_budget: float | None = None,
    finetune_params: dict | None = None,
) -> Model:
    """Fit a classifier to `data` and estimate how good it is.

    `data` is a folder of class sub-folders, a table file, a Dataset, or Python items
    (paths, texts, PIL images, arrays, a DataFrame) with `labels`. `time_budget`
    (seconds) adds fine-tuning to the compared strategies and bounds the comparison;
    `finetune_params` (e.g. {"unfreeze": "all"}) set the finetune strategy's options.
    """
    dataset = to_dataset(
        data,
        labels,
        labeled=True,
        text_column=text_column,
        label_column=label_column,
        skip_bad=skip_bad,
    )
    params = {"zeroshot": {"descriptions": label_descriptions}} if label_descriptions else {}
    if finetune_params:
        params["finetune"] = finetune_params
    return fit_dataset(
        dataset,
        backbone=backbone,
        strategy=strategy,
        strategy_params=params,
        folds=folds,
        loocv=loocv,
        seed=seed,
        time_budget=time_budget,
    )


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
) -> dict:
    """Metrics (with 95% bootstrap intervals) of a fitted model on labeled data it never saw
    (`tta`: with test-time augmentation, to see whether it helps)."""
    from smallfit.errors import SmallfitError
    from smallfit.evaluate import evaluate_probas
    from smallfit.model import load

    model = model if isinstance(model, Model) else load(model)
    dataset = (
        data
        if isinstance(data, Dataset)
        else read_source(
            data,
            labeled=True,
            text_column=text_column,
            label_column=label_column,
            skip_bad=skip_bad,
        )
    )
    unknown = sorted({str(v) for v in dataset.labels} - {str(c) for c in model.classes})
    if unknown:
        raise SmallfitError(
            f"{dataset.source} has labels the model does not know: {', '.join(unknown)}. "
            f"The model's classes are: {', '.join(map(str, model.classes))}."
        )
    by_text = {str(c): c for c in model.classes}
    dataset = Dataset(
        items=dataset.items,
        modality=dataset.modality,
        labels=[by_text[str(v)] for v in dataset.labels],
        classes=model.classes,
        names=dataset.names,
        source=dataset.source,
    )
    metrics = evaluate_probas(dataset.y, model.predict_proba(dataset, tta=tta), model.classes)
    metrics["kind"] = "holdout"
    metrics["source"] = dataset.source
    return metrics
