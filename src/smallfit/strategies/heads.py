"""Heads that map feature vectors to class probabilities, shared by several strategies."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight
from torch import nn

from smallfit.numeric import softmax
from smallfit.train.losses import LOSSES, Probabilities, classification_loss, probabilities

C_GRID = np.logspace(-3, 1, 5)


def row_space_basis(X, max_rank: int | None = None) -> np.ndarray | None:
    """An orthonormal basis (d, r) of the span of X's rows, or of its top `max_rank` directions.

    An L2-penalised linear model's weights always lie in the span of the rows (any other
    component adds penalty without changing a prediction), so fitting on X @ basis and
    mapping the weights back gives the same model — about 50x faster when n << d, the
    small-data case. Computed from the n x n Gram matrix, so it also works for sparse
    TF-IDF features. With `max_rank`, only the strongest principal directions are kept
    (principal-component regression), which bounds the cost when n and d are both large.
    Returns None when no reduction applies.
    """
    n, d = X.shape
    if n < d:
        gram = np.asarray((X @ X.T).todense() if sp.issparse(X) else X @ X.T, dtype=np.float64)
    elif max_rank is not None and max_rank < d:
        dense = np.asarray(X.todense() if sp.issparse(X) else X, dtype=np.float64)
        gram = dense.T @ dense
    else:
        return None
    eigenvalues, eigenvectors = np.linalg.eigh(gram)  # ascending
    keep = eigenvalues > eigenvalues.max() * 1e-10
    if max_rank is not None:
        keep &= np.arange(len(eigenvalues)) >= len(eigenvalues) - max_rank
    if n >= d:
        return eigenvectors[:, keep]
    singular = np.sqrt(eigenvalues[keep])
    basis = X.T @ (eigenvectors[:, keep] / singular)  # V = X^T U S^-1
    return np.asarray(basis, dtype=np.float64)


def _neg_log_loss(model, X, y) -> float:
    """Mean log probability of the true class: the inner C search's score. Written out
    because scikit-learn's log_loss validates its inputs on each of the ~150 calls of a
    head's fit, which took a fifth of the fit's time (measured)."""
    proba = model.predict_proba(X)
    true = proba[np.arange(len(y)), np.searchsorted(model.classes_, y)]
    return float(np.mean(np.log(np.clip(true, 1e-15, None))))


def _inner_folds(y: np.ndarray, sources: np.ndarray, k: int, seed: int) -> list:
    """k stratified folds in which all rows made from one item (`sources`: its copies)
    fall together. A source's rows share its label, so stratifying the sources and
    expanding them to their rows suffices (StratifiedGroupKFold's general search
    cost a tenth of a head's fit)."""
    unique, first = np.unique(sources, return_index=True)
    folds = StratifiedKFold(k, shuffle=True, random_state=seed).split(unique, y[first])
    return [
        (
            np.flatnonzero(np.isin(sources, unique[train])),
            np.flatnonzero(np.isin(sources, unique[test])),
        )
        for train, test in folds
    ]


class LogisticHead:
    """Standardised features + multinomial logistic regression.

    The inverse regularisation C is chosen by an inner stratified cross-validation on
    the training data only (log loss), so the outer evaluation stays honest. `sources`
    (one per row: the item it was made from) keeps an item's augmented copies in one inner
    fold: a copy validated against its own source would reward too little regularisation.

    scale="choose" (for embeddings) lets the same inner cross-validation also choose
    between standardising each feature and keeping the embedding's geometry (the vectors
    multiplied by sqrt(d), so that a feature's mean square is 1 as after standardising
    and one C grid serves both). Standardising gives every dimension equal say, which
    suits a domain the encoder knows; on images far from its pretraining (handwriting)
    many dimensions barely vary, and standardising blows their noise up to the size of
    the informative ones: there the geometry wins (the probe on digits at 10 per class:
    75.1 to 83.3%, benchmarks/RESULTS.md).
    """

    def __init__(
        self,
        class_weight: str | None,
        random_state: int,
        scale: bool | str = True,
        max_rank: int | None = None,
    ):
        self.class_weight = class_weight
        self.random_state = random_state
        self.scale = scale
        self.max_rank = max_rank

    def fit(
        self, X, y: np.ndarray, n_classes: int, sources: np.ndarray | None = None
    ) -> LogisticHead:
        items = np.arange(len(y)) if sources is None else sources
        smallest = min(np.unique(items[y == c]).size for c in np.unique(y))
        options = (True, False) if self.scale == "choose" and smallest >= 2 else (bool(self.scale),)
        reduced = {scaled: self._reduced(X, scaled) for scaled in options}
        if smallest < 2:  # an inner split is impossible with singleton classes
            self.C_, scaled = 0.1, options[0]
        else:  # the inner cross-validation's best mean log loss decides (ties: standardising)
            folds = _inner_folds(y, items, min(3, smallest), self.random_state)
            scores = {scaled: self._choose_C(Z, y, folds) for scaled, (Z, _, _) in reduced.items()}
            scaled = max(options, key=lambda option: scores[option][1])
            self.C_ = scores[scaled][0]
        self.scaled_ = scaled
        Z, basis, factor = reduced[scaled]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(C=self.C_, **self._solver()).fit(Z, y)
        if self.scaled_:
            scaler = StandardScaler().fit(X)
            self.mean_ = scaler.mean_.astype(np.float32)
            self.std_ = scaler.scale_.astype(np.float32)
        self.present_ = model.classes_.astype(np.int64)
        coef = model.coef_ @ basis.T if basis is not None else model.coef_
        self.coef_ = np.asarray(coef * factor, dtype=np.float32)  # factor: sqrt(d), see above
        self.intercept_ = model.intercept_.astype(np.float32)
        self.n_classes_ = n_classes
        return self

    def _solver(self) -> dict:
        # newton-cg: ~25x faster than lbfgs on these small reduced problems (measured)
        return dict(solver="newton-cg", max_iter=1000, class_weight=self.class_weight)

    def _reduced(self, X, scaled: bool) -> tuple:
        """(the features the model fits: standardised, or multiplied by `factor` =
        sqrt(d) to keep the geometry, in row-space coordinates; the basis; the factor)."""
        factor = 1.0
        if scaled:
            X = StandardScaler().fit_transform(X)
        elif self.scale == "choose":
            factor = np.sqrt(X.shape[1])
            X = X * factor
        basis = row_space_basis(X, self.max_rank)
        return (np.asarray(X @ basis) if basis is not None else X), basis, factor

    def _choose_C(self, Z, y, folds: list) -> tuple[float, float]:
        """(the C with the best mean inner log loss on the reduced features `Z`, that loss
        negated). Only the scores are kept: the winning option alone is refitted, on all
        the rows."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", FutureWarning)  # sklearn 1.9 attribute renames
            # LogisticRegressionCV warm-starts along the C grid, 2x faster than a grid search
            search = LogisticRegressionCV(
                Cs=C_GRID, cv=folds, scoring=_neg_log_loss, refit=False, **self._solver()
            ).fit(Z, y)
        mean = next(iter(search.scores_.values())).mean(axis=0)
        return float(C_GRID[mean.argmax()]), float(mean.max())

    def _scaled(self, X):
        return (X - self.mean_) / self.std_ if self.scaled_ else X

    def _class_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Weights and biases with one row per class present in training.

        Binary: sklearn keeps one row, for the second class; the first class scores 0.
        """
        if len(self.coef_) > 1:
            return self.coef_, self.intercept_
        return (
            np.vstack([np.zeros_like(self.coef_), self.coef_]),
            np.concatenate([np.zeros_like(self.intercept_), self.intercept_]),
        )

    def predict_proba(self, X) -> np.ndarray:
        coef, intercept = self._class_weights()
        scores = np.asarray(self._scaled(X) @ coef.T) + intercept
        proba = np.zeros((scores.shape[0], self.n_classes_), dtype=np.float64)
        proba[:, self.present_] = softmax(scores)
        return proba

    def as_sklearn(self) -> Any:
        """The same prediction as a fitted scikit-learn classifier (for export by
        skl2onnx): a LogisticRegression, after a StandardScaler when the head scales."""
        if len(self.present_) != self.n_classes_:
            raise NotImplementedError  # a class absent from training scores 0: no sklearn form
        model = LogisticRegression()
        model.coef_, model.intercept_ = self.coef_.astype(np.float64), self.intercept_
        model.classes_ = np.arange(self.n_classes_)
        model.n_features_in_ = self.coef_.shape[1]
        if not self.scaled_:
            return model
        scaler = StandardScaler()
        scaler.mean_, scaler.scale_ = self.mean_.astype(np.float64), self.std_.astype(np.float64)
        scaler.var_, scaler.n_features_in_ = scaler.scale_**2, len(self.mean_)
        return make_pipeline(scaler, model)

    def as_module(self) -> ProbabilityHead:
        """The same prediction as a torch module (for export)."""
        coef, intercept = self._class_weights()
        scaling = {"mean": self.mean_, "std": self.std_} if self.scaled_ else {}
        return ProbabilityHead(coef, intercept, self.n_classes_, self.present_, **scaling)

    def get_state(self) -> tuple[dict, dict]:
        arrays = {"coef": self.coef_, "intercept": self.intercept_, "present": self.present_}
        if self.scaled_:
            arrays |= {"mean": self.mean_, "std": self.std_}
        return arrays, {"C": self.C_, "n_classes": self.n_classes_}

    def set_state(self, arrays: dict, config: dict) -> LogisticHead:
        self.coef_, self.intercept_ = arrays["coef"], arrays["intercept"]
        self.present_ = arrays["present"].astype(np.int64)
        self.scaled_ = "mean" in arrays  # a saved head kept its scaler exactly when it scaled
        if self.scaled_:
            self.mean_, self.std_ = arrays["mean"], arrays["std"]
        self.C_, self.n_classes_ = config["C"], config["n_classes"]
        return self


class TorchHead:
    """A linear layer trained full-batch with AdamW and a chosen loss (see train.losses)."""

    def __init__(
        self,
        loss: str,
        class_weight: str | None,
        epochs: int,
        lr: float,
        weight_decay: float,
        random_state: int,
    ):
        if loss not in LOSSES:
            raise ValueError(f"Unknown loss {loss!r}; choose from {LOSSES}.")
        self.loss, self.class_weight, self.epochs = loss, class_weight, epochs
        self.lr, self.weight_decay, self.random_state = lr, weight_decay, random_state

    def fit(
        self, X: np.ndarray, y: np.ndarray, n_classes: int, sources: np.ndarray | None = None
    ) -> TorchHead:
        """Trains on every row for `epochs` (no inner split, so `sources` changes nothing)."""
        self.mean_ = X.mean(axis=0).astype(np.float32)
        self.std_ = (X.std(axis=0) + 1e-6).astype(np.float32)
        generator = torch.Generator().manual_seed(self.random_state)
        layer = torch.nn.Linear(X.shape[1], n_classes)
        with torch.no_grad():
            bound = 1.0 / np.sqrt(X.shape[1])
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.zero_()
        weight = None
        if self.class_weight == "balanced":
            present = np.unique(y)
            values = np.ones(n_classes, dtype=np.float32)
            values[present] = compute_class_weight("balanced", classes=present, y=y)
            weight = torch.from_numpy(values)
        inputs = torch.from_numpy((X - self.mean_) / self.std_)
        target = torch.from_numpy(y)
        optimiser = torch.optim.AdamW(
            layer.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        for _ in range(self.epochs):
            optimiser.zero_grad()
            classification_loss(layer(inputs), target, self.loss, weight).backward()
            optimiser.step()
        self.weight_ = layer.weight.detach().numpy().copy()
        self.bias_ = layer.bias.detach().numpy().copy()
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        logits = torch.from_numpy(((X - self.mean_) / self.std_) @ self.weight_.T + self.bias_)
        return probabilities(logits, self.loss).numpy().astype(np.float64)

    def as_module(self) -> ProbabilityHead:
        """The same prediction as a torch module (for export)."""
        n_classes = len(self.weight_)
        columns = np.arange(n_classes)
        return ProbabilityHead(
            self.weight_, self.bias_, n_classes, columns, self.mean_, self.std_, self.loss
        )

    def get_state(self) -> tuple[dict, dict]:
        return (
            {"weight": self.weight_, "bias": self.bias_, "mean": self.mean_, "std": self.std_},
            {},
        )

    def set_state(self, arrays: dict, config: dict) -> TorchHead:
        self.weight_, self.bias_ = arrays["weight"], arrays["bias"]
        self.mean_, self.std_ = arrays["mean"], arrays["std"]
        return self


class ProbabilityHead(nn.Module):
    """Standardise, score linearly, turn scores into probabilities (as a head trained with
    `loss` does) and spread them over `n_classes` columns: score row i is class `columns[i]`;
    classes without a row (absent from training) get probability 0.

    Every head (logistic, torch, class centroids) predicts this way, so one module serves
    them all when a model is exported as a single network.
    """

    def __init__(
        self,
        weight: np.ndarray,
        bias: np.ndarray,
        n_classes: int,
        columns: np.ndarray,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        loss: str = "ce",
    ):
        super().__init__()
        dim = weight.shape[1]
        # for each class, its score row, or one past the last (a column of zeros added in
        # forward); an index, not a 0/1 matrix product, so that int8 quantisation leaves it
        source = np.full(n_classes, len(columns), dtype=np.int64)
        source[np.asarray(columns)] = np.arange(len(columns))

        def tensor(values, default: float) -> torch.Tensor:
            values = np.full(dim, default) if values is None else values
            return torch.as_tensor(np.asarray(values, dtype=np.float32))

        self.register_buffer("mean", tensor(mean, 0.0))
        self.register_buffer("std", tensor(std, 1.0))
        self.register_buffer("weight", torch.as_tensor(np.asarray(weight, dtype=np.float32)))
        self.register_buffer("bias", torch.as_tensor(np.asarray(bias, dtype=np.float32)))
        self.register_buffer("source", torch.from_numpy(source))
        self.probabilities = Probabilities(loss)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits = ((features - self.mean) / self.std) @ self.weight.T + self.bias
        probabilities = self.probabilities(logits)
        padded = torch.cat([probabilities, torch.zeros_like(probabilities[:, :1])], dim=1)
        return padded[:, self.source]
