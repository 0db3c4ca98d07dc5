"""The Strategy contract: one way of adapting an encoder to the user's classes.

scikit-learn style: `__init__` stores arguments only, `fit(dataset, encoder)` returns
self, learned state ends in `_`, `predict_proba(items)` has one column per class in
`classes_` order, and the same `random_state` gives the same model. A fitted strategy
saves itself as (arrays, config): arrays go to safetensors, config to JSON.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from torch import nn

from smallfit.backbones import Encoder
from smallfit.data import Dataset
from smallfit.errors import SmallfitError
from smallfit.numeric import Normalise


class Strategy(BaseEstimator):
    name: ClassVar[str]
    # The modalities it works on; None: any, for it reads items only through its encoder's
    # `embed` (strategies that train a body or read pixels or words name theirs).
    modalities: ClassVar[tuple[str, ...] | None] = None
    # The encoder this strategy needs per modality when it is not the user's backbone
    # (the no-transfer baseline uses raw pixels, or none at all for TF-IDF).
    fixed_backbone: ClassVar[dict[str, str | None]] = {}
    # What a budgeted search tries (smallfit.fitting.space): parameter -> choices, the
    # default first (enqueued first). Choices that change only calibration, not which class
    # wins (prototype's scale), are left out: cross-validated accuracy cannot tell them apart.
    search_space: ClassVar[dict[str, list]] = {}
    # Strategies that train the encoder's body cost seconds to minutes per fit, so
    # their cross-validation runs one k-fold pass instead of repeating it.
    trains_body: ClassVar[bool] = False
    # Strategies whose fit and predict_proba use the encoder only through `embed(items)`:
    # they can be trained again on stored embeddings (smallfit.update).
    embedding_only: ClassVar[bool] = False

    def fit(self, dataset: Dataset, encoder: Encoder | None) -> Strategy:
        """Learn from `dataset`. A strategy that can use more than the labeled data takes
        keyword fit parameters (an unlabeled pool, a target-domain pool); callers pass
        every fit parameter they have through `accepted_fit_params`."""
        raise NotImplementedError

    def predict_proba(self, items: list[Any]) -> np.ndarray:
        raise NotImplementedError

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Learned arrays and JSON-able config, enough for `set_state` to rebuild the model."""
        raise NotImplementedError

    def set_state(
        self, arrays: dict[str, np.ndarray], config: dict[str, Any], encoder: Encoder | None
    ) -> Strategy:
        raise NotImplementedError

    def inference_module(self) -> nn.Module:
        """The fitted strategy as one torch module in eval mode: the encoder's `body_input`
        tensor in, (n, n_classes) probabilities in `classes_` order out.

        Strategies whose features are not a network's (TF-IDF, raw pixels) leave it out;
        `smallfit.export` lists the strategies that provide it.
        """
        raise NotImplementedError

    def _remember(self, dataset: Dataset, encoder: Encoder | None) -> None:
        """Check the data is of a modality this strategy works on; keep the class order."""
        if not works_on(type(self), dataset.modality):
            raise SmallfitError(
                f"The {self.name} strategy works on {' and '.join(self.modalities)} data, "
                f"not {dataset.modality}."
            )
        self.classes_ = list(dataset.classes)
        self.encoder_ = encoder


def works_on(cls: type[Strategy], modality: str) -> bool:
    return cls.modalities is None or modality in cls.modalities


def accepted_fit_params(strategy: Strategy, fit_params: dict[str, Any] | None) -> dict[str, Any]:
    """The fit parameters `strategy.fit` takes (by its signature), leaving out None values.

    One caller (cross-validation, the final refit, a learning curve) can then hand every
    strategy all it has, and each strategy receives only what it understands.
    """
    if not fit_params:
        return {}
    accepted = inspect.signature(strategy.fit).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    return {k: v for k, v in fit_params.items() if v is not None and (takes_any or k in accepted)}


def frozen_encoder_module(encoder: Encoder, head: nn.Module) -> nn.Module:
    """Encoder network, unit-length embedding, head: a frozen-encoder strategy as one network."""
    return nn.Sequential(encoder.embedding_module(), Normalise(), head).eval()
