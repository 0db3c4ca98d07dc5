"""`hybrid`: the words and the meaning of a text under one logistic head.

`classic`'s TF-IDF (word 1-2-grams, character 2-5-grams) and the encoder's unit-length
sentence embedding, side by side: each block has unit norm per text, so neither drowns
the other, and the head's regularisation (C chosen by inner cross-validation) weighs
them on the user's data. The two views fail differently: rare words, codes and jargon
are lost in a sentence embedding and kept by TF-IDF; paraphrases and synonyms are the
reverse. One model over both can draw on a word and a meaning together, which averaging
the two models' probabilities (the ensemble) cannot.
"""

from __future__ import annotations

import scipy.sparse as sp

from smallfit.numeric import normalise
from smallfit.strategies.classic import Classic
from smallfit.strategies.registry import register


@register
class Hybrid(Classic):
    """Logistic regression on [TF-IDF words and characters, normalised embedding]."""

    name = "hybrid"
    modalities = ("text",)
    fixed_backbone = {}  # the user's (or the default) encoder

    def _features(self, items):
        words = super()._features(items)
        meaning = sp.csr_matrix(normalise(self.encoder_.embed(items)))
        return sp.hstack([words, meaning]).tocsr()
