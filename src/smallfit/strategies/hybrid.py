"""`hybrid`: the items' own features and the encoder's meaning under one logistic head.

`classic`'s features (for texts TF-IDF of words and characters) and the encoder's
unit-length embedding, side by side: for texts each block has unit norm per text (dense
features such as pixels are standardised column by column), so neither drowns the
other, and the head's regularisation (C chosen by inner cross-validation)
weighs them on the user's data. The two views fail differently: rare words, codes and
jargon are lost in a sentence embedding and kept by TF-IDF; paraphrases and synonyms are
the reverse. One model over both can draw on a word and a meaning together, which
averaging the two models' probabilities (the ensemble) cannot.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from smallfit.numeric import normalise
from smallfit.strategies.classic import Classic
from smallfit.strategies.registry import register


@register
class Hybrid(Classic):
    """Logistic regression on [the items' own features, normalised embedding]."""

    name = "hybrid"
    uses_encoder = True  # the user's (or the default) encoder

    def as_sklearn(self):
        raise NotImplementedError  # its features include the encoder's embeddings

    def _joined(self, own, items):
        meaning = normalise(self.encoder_.embed(items))
        if sp.issparse(own):
            return sp.hstack([own, sp.csr_matrix(meaning)]).tocsr()
        return np.hstack([own, meaning])
