"""Where the doctor compares items: a pretrained encoder's embeddings when the kind of
item has one (compared by cosine, ranked by a linear probe), else the items' own
features (Modality.raw_features: a table's standardised numbers, one-hot categories and
embedded text columns; compared by Euclidean distance, ranked by `classic`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from smallfit.data import Dataset
from smallfit.errors import SmallfitError


@dataclass
class Space:
    """The vectors of the data (and of a test set) and how the checks read them."""

    vectors: np.ndarray
    test_vectors: np.ndarray | None
    metric: str  # "cosine" or "euclidean" (see similarity.VECTOR_SIGNAL)
    described: str  # "dinov2_small embeddings", "the rows' own features": for notes
    encoder: Any  # what the probe's fit takes (None for the items' own features)
    probe: Any  # the strategy whose out-of-fold probabilities rank labels


def doctor_space(
    dataset: Dataset, test: Dataset | None, backbone: str | None, seed: int = 0
) -> Space:
    """The space of `dataset`'s modality: `backbone` (or its default encoder), else its
    own features, fitted on `dataset`'s items (no labels read) and applied to `test`'s."""
    from smallfit import backbones, modalities

    kind = modalities.get(dataset.modality)
    name = backbone or kind.default_backbone
    if name is None:
        return _own_features(dataset, test, kind, seed)
    if backbones.modality_of(name) != dataset.modality:
        raise SmallfitError(f"Backbone {name} is not for {dataset.modality}s.")
    from smallfit.strategies.probe import Probe

    encoder = backbones.create(name)
    vectors = encoder.embed(dataset.items, description=f"Embedding with {name}")
    test_vectors = None
    if test is not None:
        test_vectors = encoder.embed(test.items, description=f"Embedding {test.source}")
    probe = Probe(random_state=seed)
    return Space(vectors, test_vectors, "cosine", f"{name} embeddings", encoder, probe)


def _own_features(dataset: Dataset, test: Dataset | None, kind: Any, seed: int) -> Space:
    from smallfit.strategies.classic import Classic

    features = kind.raw_features()
    if features is None:
        raise SmallfitError(
            f"The doctor does not examine {kind.plural} yet: they have neither a pretrained "
            "encoder nor features of their own to compare them by."
        )
    features.fit(dataset.items)
    vectors = _dense(features.transform(dataset.items))
    test_vectors = None if test is None else _dense(features.transform(test.items))
    if features.scale:  # columns of unequal spreads: standardise, as the models do
        mean, spread = vectors.mean(axis=0), np.maximum(vectors.std(axis=0), 1e-12)
        vectors = (vectors - mean) / spread
        test_vectors = None if test_vectors is None else (test_vectors - mean) / spread
    described = f"the {kind.plural}' own features"
    return Space(vectors, test_vectors, "euclidean", described, None, Classic(random_state=seed))


def _dense(features: Any) -> np.ndarray:
    """Features as a float numpy array (a sparse matrix made dense)."""
    return np.asarray(features.toarray() if hasattr(features, "toarray") else features, float)
