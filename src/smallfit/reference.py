"""The reference sample a model keeps of its training data, for drift checks and updates.

At fit time a class-stratified sample of the training items (all of them up to
MAX_ROWS, which covers the 20-2,000 examples smallfit is made for) is embedded by a
fixed pretrained encoder and stored with its labels and out-of-fold predictions.
`smallfit drift` compares new data with it; `smallfit update` rehearses it so an
updated model does not forget. The encoder is the fit's backbone even when the chosen
strategy does not use it (classic reads pixels or words) or trains a copy of it
(finetune): drift is measured in a space that does not move.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from smallfit import backbones
from smallfit.errors import SmallfitError

MAX_ROWS = 2000
# float16 halves the file (2,000 x 1,280 image embeddings: 5 MB) and keeps about three
# significant digits, far finer than the differences drift tests or heads respond to.
DTYPE = np.float16


@dataclass
class Reference:
    """Embeddings of a sample of training items, their labels and out-of-fold predictions.

    `predicted` is -1 and `confidence` NaN for rows without an out-of-fold prediction
    (a fit without cross-validation, or a class with a single example).
    """

    encoder: dict[str, Any]  # backbones.describe() of the embedding encoder
    embeddings: np.ndarray  # (n, dim) float16
    labels: np.ndarray  # (n,) class indices
    predicted: np.ndarray  # (n,) class indices, -1 where unknown
    confidence: np.ndarray  # (n,) highest class probability, NaN where unknown
    drawn_from: int  # how many training items the sample was drawn from

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def has_predictions(self) -> bool:
        return bool((self.predicted >= 0).any())

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "embeddings": self.embeddings,
            "labels": self.labels,
            "predicted": self.predicted,
            "confidence": self.confidence,
        }

    def record(self) -> dict[str, Any]:
        """What model.json says is stored (the arrays themselves are in weights.safetensors)."""
        return {
            "contents": "embeddings of a class-stratified sample of the training items, "
            "their labels and out-of-fold predictions (for smallfit drift and update)",
            "encoder": self.encoder,
            "rows": len(self),
            "drawn_from": self.drawn_from,
            "max_rows": MAX_ROWS,
            "dtype": np.dtype(DTYPE).name,
            "dim": int(self.embeddings.shape[1]),
            "predictions": "out-of-fold" if self.has_predictions else "none",
        }

    @classmethod
    def from_saved(cls, arrays: dict[str, np.ndarray], record: dict[str, Any]) -> Reference:
        """Rebuild from model.json's record and the `reference.` arrays; ValueError if either
        is incomplete."""
        missing = sorted({"embeddings", "labels", "predicted", "confidence"} - set(arrays))
        if missing:
            raise ValueError(f"its reference sample lacks {', '.join(missing)}")
        if not isinstance(record, dict) or not isinstance(record.get("encoder"), dict):
            raise ValueError("its reference record does not name the encoder")
        if not len(arrays["embeddings"]) == len(arrays["labels"]) == len(arrays["predicted"]):
            raise ValueError("its reference arrays differ in length")
        return cls(
            encoder=record["encoder"],
            embeddings=arrays["embeddings"],
            labels=arrays["labels"].astype(np.int64),
            predicted=arrays["predicted"].astype(np.int64),
            confidence=arrays["confidence"].astype(np.float32),
            drawn_from=int(record.get("drawn_from", len(arrays["labels"]))),
        )


def stratified_rows(y: np.ndarray, limit: int = MAX_ROWS, seed: int = 0) -> np.ndarray:
    """Sorted row indices: all rows if there are at most `limit`, else about `limit` drawn
    per class in proportion to its size (at least one per class), seeded."""
    if len(y) <= limit:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        quota = max(1, int(len(rows) * limit / len(y)))
        picked.append(rng.choice(rows, quota, replace=False))
    return np.sort(np.concatenate(picked))


def make_reference(
    embeddings: np.ndarray,
    y: np.ndarray,
    probas: np.ndarray | None,
    encoder: dict[str, Any],
    drawn_from: int,
) -> Reference:
    """A Reference from rows already sampled; `probas` are their out-of-fold probabilities
    (repeats, n, n_classes) as cross-validation returns them, or None. The first repeat is
    kept: one model's prediction per item, as the deployed model gives one."""
    n = len(y)
    predicted = np.full(n, -1, dtype=np.int64)
    confidence = np.full(n, np.nan, dtype=np.float32)
    if probas is not None:
        first = probas[0]
        scored = ~np.isnan(first[:, 0])
        predicted[scored] = first[scored].argmax(axis=1)
        confidence[scored] = first[scored].max(axis=1)
    return Reference(
        encoder=encoder,
        embeddings=np.asarray(embeddings, dtype=DTYPE),
        labels=np.asarray(y, dtype=np.int64),
        predicted=predicted,
        confidence=confidence,
        drawn_from=drawn_from,
    )


def reference_of_fit(dataset, encoder, probas: np.ndarray | None, seed: int) -> Reference:
    """The reference a fit stores: a sample of `dataset` embedded by `encoder`."""
    rows = stratified_rows(dataset.y, seed=seed)
    embeddings = encoder.embed(
        [dataset.items[i] for i in rows], description=f"Embedding a reference with {encoder.name}"
    )
    return make_reference(
        embeddings,
        dataset.y[rows],
        None if probas is None else probas[:, rows],
        backbones.describe(encoder),
        len(dataset),
    )


def reference_encoder(reference: Reference):
    """The encoder that embedded the reference, warning if its setup has changed since
    (other weights, or bf16 on one machine and fp32 on another): new embeddings would then
    differ from the stored ones a little for reasons that are not the data's."""
    encoder = backbones.create(reference.encoder["name"])
    if backbones.describe(encoder)["id"] != reference.encoder.get("id"):
        warnings.warn(
            f"The model's reference sample was embedded by a different setup of {encoder.name} "
            f"(weights {reference.encoder.get('weights')}, precision "
            f"{reference.encoder.get('precision')}); small differences may look like drift.",
            stacklevel=3,
        )
    return encoder


def require_reference(model, purpose: str) -> Reference:
    """The model's reference, or a clear error naming what to do."""
    if model.reference is None:
        from smallfit import modalities

        kind = modalities.get(model.modality)
        if kind.default_backbone is None:  # no pretrained encoder to embed its items with
            raise SmallfitError(f"{purpose.capitalize()} does not work on {kind.name}s yet.")
        raise SmallfitError(
            f"This model has no stored reference sample of its training data, which {purpose} "
            "needs (models fitted before smallfit stored one). Fit it again with `smallfit fit`."
        )
    return model.reference
