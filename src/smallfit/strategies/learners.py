"""scikit-learn learners on the items' own dense features (a table's columns; raw
pixels): bagged trees, boosted trees, nearest neighbours and a small network.

Each also takes the small-data techniques (strategies.small_data): `augment` ("smote" or
"noise" rows added to its training rows) and `bagging` (bootstrap bags of it).

Each is one scikit-learn estimator with settings chosen for small data rather than
scikit-learn's defaults (which assume thousands of rows: a boosting leaf of 20 rows
cannot split a class of 10). The fitted estimator is kept with skops (no pickle; only
the types in `TRUSTED` load).

Their native code (OpenMP in the boosting, BLAS in the network) runs on one thread: on a
few hundred rows threads cost more to start and synchronise than they save, and where
another program holds the cores, threads that spin while waiting for one slow a fit a
hundredfold (on the 2-core machine beside another job, `boosting` alone on an 80-row
table took 459 s with two threads and 9 s with one).
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from smallfit import modalities
from smallfit.errors import SmallfitError
from smallfit.modalities.table_features import from_array, to_array
from smallfit.strategies.base import Strategy
from smallfit.strategies.constraints import Between, OneOf
from smallfit.strategies.registry import register
from smallfit.strategies.small_data import AUGMENTS, augmented, bagged

# What a fitted learner holds beyond what skops trusts by default.
TRUSTED = [
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    # LightGBM's booster is rebuilt from its own text model format (no code is run)
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
]
# The parameters and search choices every learner shares: the small-data techniques.
TECHNIQUES = {
    "augment": [OneOf(AUGMENTS), None],
    "bagging": [Between(0, integer=True)],
    "random_state": [Between(integer=True)],
}
TECHNIQUE_SPACE = {"augment": [None, "smote", "noise"], "bagging": [0, 10]}
BOOSTING_ENGINES = ("sklearn", "lightgbm")


class Learner(Strategy):
    """Shared by the learners: own features in, one fitted estimator, probabilities out."""

    uses_encoder = False
    reads_items = True
    dense_features = True
    onnx_refusal: ClassVar[str | None] = None  # why its ONNX form would not be faithful

    def _estimator(self, n_items: int) -> ClassifierMixin:
        raise NotImplementedError

    def fit(self, dataset, encoder) -> Learner:
        self._remember(dataset, encoder)
        self.modality_ = dataset.modality
        self.raw_ = modalities.get(self.modality_).raw_features()
        features, y = augmented(
            self.raw_.fit_transform(dataset.items), dataset.y, self.augment, self.random_state
        )
        estimator = bagged(self._estimator(len(dataset)), self.bagging, self.random_state)
        with warnings.catch_warnings(), threadpool_limits(1):
            # L-BFGS's iteration cap is part of the small network's regularisation
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.estimator_ = estimator.fit(features, y)
        return self

    def predict_proba(self, items) -> np.ndarray:
        features = self.raw_.transform(items)
        with threadpool_limits(1):
            proba = self.estimator_.predict_proba(features)
        full = np.zeros((len(items), len(self.classes_)))
        full[:, self.estimator_.classes_] = proba  # a class absent from a fold scores 0
        return full

    def as_sklearn(self):
        if self.onnx_refusal:
            raise SmallfitError(self.onnx_refusal)
        return self.raw_, self.estimator_

    def get_state(self):
        arrays, config = self.raw_.get_state()
        arrays = arrays | {"estimator": to_array(self.estimator_)}
        return arrays, config | {"modality": self.modality_}

    def set_state(self, arrays, config, encoder) -> Learner:
        self.encoder_ = encoder
        self.modality_ = config["modality"]
        self.raw_ = modalities.get(self.modality_).raw_features().set_state(arrays, config)
        self.estimator_ = from_array(arrays["estimator"], TRUSTED)
        return self


@register
class Forest(Learner):
    """Random forest (or extremely randomised trees), classes weighted by their size."""

    name = "forest"
    search_space = {"kind": ["random", "extra"], "min_leaf": [1, 2, 4], "augment": [None, "smote"]}
    constraints = {
        "kind": [OneOf(("random", "extra"))],
        "trees": [Between(1, integer=True)],
        "min_leaf": [Between(1, integer=True)],
    } | TECHNIQUES

    def __init__(
        self,
        kind: str = "random",
        trees: int = 300,
        min_leaf: int = 1,
        augment: str | None = None,
        bagging: int = 0,
        random_state: int = 0,
    ):
        self.kind = kind
        self.trees = trees
        self.min_leaf = min_leaf
        self.augment = augment
        self.bagging = bagging
        self.random_state = random_state

    def _estimator(self, n_items: int) -> ClassifierMixin:
        forest = RandomForestClassifier if self.kind == "random" else ExtraTreesClassifier
        return forest(
            n_estimators=self.trees,
            min_samples_leaf=self.min_leaf,
            class_weight="balanced",
            random_state=self.random_state,
            n_jobs=1,
        )


@register
class Boosting(Learner):
    """Histogram gradient boosting with small-data settings: leaves of a few rows, shallow
    trees, slow shrinkage, L2 regularisation, classes weighted by their size. `engine`:
    scikit-learn's, or LightGBM's where installed (the same settings; LightGBM's defaults
    need 20 rows a leaf and cannot split a class of 10)."""

    name = "boosting"
    search_space = {"rate": [0.05, 0.1, 0.02], "depth": [3, 2, 5], "min_leaf": [3, 1, 8]}
    search_space |= TECHNIQUE_SPACE
    constraints = {
        "engine": [OneOf(BOOSTING_ENGINES)],
        "rate": [Between(0, 1, above=True)],
        "rounds": [Between(1, integer=True)],
        "depth": [Between(1, integer=True)],
        "min_leaf": [Between(1, integer=True)],
    } | TECHNIQUES

    def __init__(
        self,
        engine: str = "sklearn",
        rate: float = 0.05,
        rounds: int = 200,
        depth: int = 3,
        min_leaf: int = 3,
        augment: str | None = None,
        bagging: int = 0,
        random_state: int = 0,
    ):
        self.engine = engine
        self.rate = rate
        self.rounds = rounds
        self.depth = depth
        self.min_leaf = min_leaf
        self.augment = augment
        self.bagging = bagging
        self.random_state = random_state

    def _estimator(self, n_items: int) -> ClassifierMixin:
        if self.engine == "lightgbm":
            try:
                from lightgbm import LGBMClassifier
            except ImportError as error:
                raise SmallfitError(
                    "engine='lightgbm' needs LightGBM: pip install lightgbm"
                ) from error
            return LGBMClassifier(
                n_estimators=self.rounds,
                learning_rate=self.rate,
                max_depth=self.depth,
                num_leaves=2**self.depth,
                min_child_samples=self.min_leaf,
                min_data_in_bin=1,
                reg_lambda=1.0,
                class_weight="balanced",
                random_state=self.random_state,
                n_jobs=1,
                verbose=-1,
            )
        return HistGradientBoostingClassifier(
            learning_rate=self.rate,
            max_iter=self.rounds,
            max_depth=self.depth,
            min_samples_leaf=self.min_leaf,
            l2_regularization=1.0,
            early_stopping=False,  # a validation split of a few dozen rows is noise
            class_weight="balanced",
            random_state=self.random_state,
        )


@register
class Neighbours(Learner):
    """k nearest neighbours, closer ones weighing more; k at most a third of the rows."""

    name = "knn"
    onnx_refusal = (
        "The knn strategy cannot be exported to ONNX: rows at the same distance are frequent "
        "in tables (repeated values), and ONNX Runtime breaks those ties between neighbours "
        "differently from scikit-learn, so its probabilities would differ. The other table "
        "strategies export (an ensemble too, without knn among its members)."
    )
    search_space = {"k": [5, 3, 10]} | TECHNIQUE_SPACE
    constraints = {"k": [Between(1, integer=True)]} | TECHNIQUES

    def __init__(
        self, k: int = 5, augment: str | None = None, bagging: int = 0, random_state: int = 0
    ):
        self.k = k
        self.augment = augment
        self.bagging = bagging
        self.random_state = random_state

    def _estimator(self, n_items: int) -> ClassifierMixin:
        return KNeighborsClassifier(
            n_neighbors=max(1, min(self.k, n_items // 3)), weights="distance"
        )


@register
class Network(Learner):
    """A one-hidden-layer network trained by L-BFGS (full batches: on a few hundred rows
    it converges faster and more surely than SGD), with weight decay `decay`."""

    name = "mlp"
    search_space = {"width": [64, 32, 128], "decay": [1e-2, 1e-1, 1.0]} | TECHNIQUE_SPACE
    constraints = {"width": [Between(1, integer=True)], "decay": [Between(0)]} | TECHNIQUES

    def __init__(
        self,
        width: int = 64,
        decay: float = 1e-2,
        augment: str | None = None,
        bagging: int = 0,
        random_state: int = 0,
    ):
        self.width = width
        self.decay = decay
        self.augment = augment
        self.bagging = bagging
        self.random_state = random_state

    def _estimator(self, n_items: int) -> ClassifierMixin:
        return MLPClassifier(
            (self.width,),
            solver="lbfgs",
            alpha=self.decay,
            max_iter=500,
            random_state=self.random_state,
        )
