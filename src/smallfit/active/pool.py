"""The pool to choose from: read, checked and embedded, either cold (by a backbone) or
for a model (by its reference encoder, or its stored own features for a kind of item
without one, leaving out the items it was trained on)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.metrics import pairwise_distances_argmin_min

from smallfit import backbones, modalities
from smallfit.data import Dataset
from smallfit.errors import SmallfitError
from smallfit.modalities.pools import read_pool
from smallfit.modalities.reading import to_dataset
from smallfit.model import Model
from smallfit.reference import DTYPE, OwnFeatures, Reference, reference_encoder

# A pool item is a training item when its embedding, rounded to float16 as the stored
# ones are, lies within this relative distance of a stored embedding: float16 rounding
# moves a vector by at most 2^-11 (about 5e-4) of its length, distinct items lie far
# further apart.
SAME_ITEM_TOLERANCE = 1e-3


def cold_pool(
    pool: Any, n: int, backbone: str | None, text_column: str | None, skip_bad: bool
) -> tuple[Dataset, np.ndarray]:
    """A cold start's pool and its embeddings by `backbone` (the modality's default if
    None; its own features, fitted on the pool, for a kind of item without one); refuses
    an empty pool, a backbone for another modality, and `n` over its size."""
    dataset = to_dataset(pool, labeled=False, text_column=text_column, skip_bad=skip_bad)
    if len(dataset) == 0:
        raise SmallfitError(f"The pool ({dataset.source}) is empty.")
    kind = modalities.get(dataset.modality)
    if backbone is None and kind.default_backbone is None:  # no pretrained encoder: own features
        own = kind.raw_features()
        if own is None:
            raise SmallfitError(f"A cold start cannot compare {kind.plural}: give a model.")
        _check_size(n, dataset, dropped=False)
        return dataset, OwnFeatures(own.fit(dataset.items), dataset.modality).embed(dataset.items)
    encoder = backbones.create(backbone or kind.default_backbone)
    if encoder.modality != dataset.modality:
        raise SmallfitError(
            f"Backbone {encoder.name} is for {encoder.modality}s but the pool "
            f"({dataset.source}) holds {dataset.modality}s."
        )
    _check_size(n, dataset, dropped=False)
    embeddings = encoder.embed(dataset.items, description=f"Embedding {dataset.source}")
    return dataset, embeddings


def model_pool(
    model: Model,
    reference: Reference,
    pool: Any,
    n: int,
    text_column: str | None,
    skip_bad: bool,
) -> tuple[Dataset, np.ndarray]:
    """`model`'s pool and its embeddings by the reference encoder, without the items the
    model was trained on; refuses `n` over the number left."""
    empty = Dataset(items=[], modality=model.modality)
    dataset = read_pool(
        pool,
        empty,
        text_column=text_column,
        what="The pool",
        skip_bad=skip_bad,
        schema=model.info.get("input"),
    )
    encoder = reference_encoder(reference)
    embeddings = encoder.embed(dataset.items, description=f"Embedding {dataset.source}")
    dataset, embeddings = drop_training_items(dataset, embeddings, reference)
    _check_size(n, dataset, dropped=True)
    return dataset, embeddings


def drop_training_items(
    pool: Dataset, embeddings: np.ndarray, reference: Reference
) -> tuple[Dataset, np.ndarray]:
    """Leave out pool items whose embedding is a stored training embedding (the model has
    no training items, only those embeddings), warning how many; refuse if none is left."""
    rounded = embeddings.astype(DTYPE).astype(np.float32)
    stored = reference.embeddings.astype(np.float32)
    nearest, distance = pairwise_distances_argmin_min(rounded, stored)
    same = distance <= SAME_ITEM_TOLERANCE * np.linalg.norm(stored[nearest], axis=1)
    if not same.any():
        return pool, embeddings
    name = f"The pool ({pool.source})"
    if same.all():
        raise SmallfitError(
            f"{name}: all {len(pool)} of its items are in the model's training data."
        )
    warnings.warn(
        f"{name}: {int(same.sum())} of its {len(pool)} items are in the model's training data "
        "(their embeddings equal stored ones) and are left out.",
        stacklevel=4,  # the caller of suggest, through model_pool
    )
    keep = np.flatnonzero(~same)
    return pool.subset(keep), embeddings[keep]


def _check_size(n: int, pool: Dataset, dropped: bool) -> None:
    if n > len(pool):
        left = " left after dropping the model's training items" if dropped else ""
        raise SmallfitError(
            f"-n {n} asks for more items than the pool ({pool.source}) holds: {len(pool)}{left}. "
            f"Ask for at most {len(pool)}."
        )
