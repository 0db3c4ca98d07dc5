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

from smallfit import backbones, modalities
from smallfit.backbones import Encoder
from smallfit.backbones.base import CAPABILITIES
from smallfit.data import Dataset
from smallfit.errors import SmallfitError
from smallfit.numeric import Normalise
from smallfit.strategies.constraints import check_params


class Strategy(BaseEstimator):
    name: ClassVar[str]
    # What it needs of its encoder beyond `embed` (keys of backbones.base.CAPABILITIES):
    # a strategy runs on every kind of item whose encoder offers them.
    needs: ClassVar[frozenset[str]] = frozenset()
    # False: not the user's encoder: it reads the items' own features (computed by their
    # own encoder if the modality names one, RawFeatures.backbone).
    uses_encoder: ClassVar[bool] = True
    # The encoder it always uses instead of the user's (scratch: raw pixels), if any.
    fixed_backbone: ClassVar[str | None] = None
    # True: it reads the items' own features (Modality.raw_features), so it runs only on
    # kinds of item that define them; `dense_features`: only where they are dense arrays.
    reads_items: ClassVar[bool] = False
    dense_features: ClassVar[bool] = False
    # What a budgeted search tries (smallfit.fitting.space): parameter -> choices, the
    # default first (enqueued first). Choices that change only calibration, not which class
    # wins (prototype's scale), are left out: cross-validated accuracy cannot tell them apart.
    search_space: ClassVar[dict[str, list]] = {}
    # Parameter -> the values it may take (strategies.constraints), checked when fit starts.
    constraints: ClassVar[dict[str, list]] = {}
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

    def as_sklearn(self) -> tuple[Any, Any]:
        """The fitted strategy as the items' own features (RawFeatures) and one fitted
        scikit-learn classifier over them, whose classes are the indices of `classes_`
        (for ONNX export by skl2onnx); NotImplementedError when it is not one."""
        raise NotImplementedError

    def encoders(self) -> list[Encoder]:
        """The distinct encoders a fitted strategy reads, its own features' included (for
        timing and uncached prediction)."""
        found = [getattr(self, "encoder_", None)]
        raw = getattr(self, "raw_", None)
        if raw is not None:
            found += raw.encoders()
        return list({id(e): e for e in found if e is not None}.values())

    def _resolved(self, param: str, modality: str, fallback: Any) -> Any:
        """Parameter `param`, or where it is None the value the modality sets for this
        strategy (Modality.strategy_defaults), else `fallback`."""
        value = getattr(self, param)
        if value is not None:
            return value
        return modalities.get(modality).strategy_defaults.get(self.name, {}).get(param, fallback)

    def _remember(self, dataset: Dataset, encoder: Encoder | None) -> None:
        """Check this strategy can learn the data with `encoder`; keep the class order."""
        cls = type(self)
        check_params(self.name, self.get_params(deep=False), cls.constraints)
        if not works_on(cls, dataset.modality):
            raise SmallfitError(refusal(cls, dataset.modality))
        if cls.uses_encoder and encoder is not None:
            # stand-ins over stored embeddings may declare no modality (any) and no capabilities
            modality = getattr(encoder, "modality", None)
            if modality not in (None, dataset.modality):
                raise SmallfitError(
                    f"Encoder {encoder.name} is for {modality}s but the data holds "
                    f"{dataset.modality}s."
                )
            offered = getattr(encoder, "capabilities", frozenset())
            if not cls.needs <= offered:
                raise SmallfitError(_lacking(cls, encoder.name, offered))
        self.classes_ = list(dataset.classes)
        self.encoder_ = encoder


def encoder_for(cls: type[Strategy], modality: str, backbone: str | None) -> str | None:
    """The encoder strategy `cls` runs on, given the user's `backbone` (None: the
    modality's default, or where that lacks what `cls` needs, the first of the modality's
    candidate encoders that has it: sounds fine-tune the sound-event encoder); None if it
    takes no encoder."""
    kind = modalities.get(modality)
    if not cls.uses_encoder:  # the items' own features may come from an encoder (pixels)
        return kind.raw_features().backbone if cls.reads_items else None
    if cls.fixed_backbone or backbone:
        return cls.fixed_backbone or backbone
    able = [
        name
        for name in (kind.default_backbone, *kind.candidate_backbones)
        if name is not None and cls.needs <= backbones.capabilities_of(name)
    ]
    return able[0] if able else kind.default_backbone


def works_on(cls: type[Strategy], modality: str, backbone: str | None = None) -> bool:
    """Whether strategy `cls` can learn `modality` items on encoder `backbone` (None: the
    modality's default): that encoder is for those items and offers what `cls` needs, and
    the items have their own features if `cls` reads them. Decided without loading weights."""
    if cls.reads_items:
        own = modalities.get(modality).raw_features()
        if own is None or (cls.dense_features and not own.dense):
            return False
    name = encoder_for(cls, modality, backbone)
    if name is None:
        return not cls.uses_encoder  # a kind of item with no encoder has no embeddings
    return backbones.modality_of(name) == modality and cls.needs <= backbones.capabilities_of(name)


def refusal(cls: type[Strategy], modality: str, backbone: str | None = None) -> str:
    """Why `cls` does not run on `modality` items (with encoder `backbone`): what the
    encoder lacks, or the kinds of item it runs on."""
    if backbone is not None and works_on(cls, modality):
        return _lacking(cls, backbone, backbones.capabilities_of(backbone))
    kinds = [m.name for m in modalities.all_registered() if works_on(cls, m.name)]
    return (
        f"The {cls.name} strategy works on {' and '.join(kinds) or 'no registered kind of'} "
        f"data, not {modality}."
    )


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


def _lacking(cls: type[Strategy], encoder: str, has: frozenset[str]) -> str:
    missing = "; ".join(CAPABILITIES[c] for c in sorted(cls.needs - has))
    return f"The {cls.name} strategy needs an encoder with {missing}; {encoder} has none."
