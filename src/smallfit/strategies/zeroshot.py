"""`zeroshot` (text): match each text to a description of each class; no labels needed."""

from __future__ import annotations

import numpy as np

from smallfit.errors import SmallfitError
from smallfit.numeric import normalise, softmax
from smallfit.strategies.base import Strategy, frozen_encoder_module
from smallfit.strategies.constraints import Between, Kind
from smallfit.strategies.heads import ProbabilityHead
from smallfit.strategies.registry import register


@register
class ZeroShot(Strategy):
    """Cosine similarity between a text and each class description.

    `descriptions` maps class name to a description; classes without one use
    `template` filled with the class name. Labels, if any, are used only for scoring.
    """

    name = "zeroshot"
    needs = frozenset({"queries"})  # it embeds each class's description

    constraints = {
        "descriptions": [Kind(dict), None],
        "template": [Kind(str)],
        "scale": [Between(0, above=True)],
    }

    def __init__(
        self,
        descriptions: dict | None = None,
        template: str = "This text is about {}.",
        scale: float = 20.0,
    ):
        self.descriptions = descriptions
        self.template = template
        self.scale = scale

    def fit(self, dataset, encoder) -> ZeroShot:
        self._remember(dataset, encoder)
        descriptions = self.descriptions or {}
        unknown = set(descriptions) - {str(c) for c in dataset.classes}
        if unknown:
            raise SmallfitError(
                f"Label descriptions name classes that are not in the data: {sorted(unknown)}. "
                f"The classes are: {dataset.classes}."
            )
        self.prompts_ = [descriptions.get(str(c), self.template.format(c)) for c in dataset.classes]
        self.prototypes_ = normalise(encoder.embed(self.prompts_))
        return self

    def predict_proba(self, items) -> np.ndarray:
        scores = normalise(self.encoder_.embed(items)) @ self.prototypes_.T
        return softmax(self.scale * scores.astype(np.float64))

    def inference_module(self):
        n = len(self.prototypes_)
        head = ProbabilityHead(self.scale * self.prototypes_, np.zeros(n), n, np.arange(n))
        return frozen_encoder_module(self.encoder_, head)

    def get_state(self):
        return {"prototypes": self.prototypes_}, {"prompts": self.prompts_}

    def set_state(self, arrays, config, encoder) -> ZeroShot:
        self.encoder_ = encoder
        self.prototypes_ = arrays["prototypes"]
        self.prompts_ = config["prompts"]
        return self
