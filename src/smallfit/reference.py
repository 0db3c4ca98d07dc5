"""The reference sample a model keeps of its training data, for drift checks and updates.

At fit time a class-stratified sample of the training items (all of them up to
MAX_ROWS, which covers the 20-2,000 examples smallfit is made for) is embedded by a
fixed pretrained encoder and stored with its labels and out-of-fold predictions.
`smallfit drift` compares new data with it; `smallfit update` rehearses it so an
updated model does not forget. The encoder is the fit's backbone even when the chosen
strategy does not use it (classic reads pixels or words) or trains a copy of it
(finetune): drift is measured in a space that does not move.

A kind of item without a pretrained encoder (a table's rows) is embedded by its own
features instead (Modality.raw_features: a table's standardised numbers, one-hot
categories and embedded text columns), fitted once on all the training items and stored
with the sample, so new items are placed in the same fixed space. The modality may also
keep the sampled items' values (Modality.reference_sample: a table's column values), for
tests of each column.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from smallfit import backbones, modalities
from smallfit.errors import SmallfitError
from smallfit.modalities.base import RawFeatures

MAX_ROWS = 2000
# float16 halves the file (2,000 x 1,280 image embeddings: 5 MB) and keeps about three
# significant digits, far finer than the differences drift tests or heads respond to.
DTYPE = np.float16
OWN_FEATURES = "own features"  # the encoder's name when the items' own features embed them


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
    # The fitted own features' state (arrays, config) when they embedded the sample.
    features: tuple[dict[str, np.ndarray], dict[str, Any]] | None = None
    sample: list[dict] | None = None  # the sampled items' values (Modality.reference_sample)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def has_predictions(self) -> bool:
        return bool((self.predicted >= 0).any())

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "embeddings": self.embeddings,
            "labels": self.labels,
            "predicted": self.predicted,
            "confidence": self.confidence,
        }
        if self.features is not None:
            arrays |= {f"features.{k}": v for k, v in self.features[0].items()}
        if self.sample is not None:  # JSON text as bytes: safetensors holds arrays only
            text = json.dumps(self.sample, default=str).encode("utf-8")
            arrays["sample"] = np.frombuffer(text, dtype=np.uint8).copy()
        return arrays

    def record(self) -> dict[str, Any]:
        """What model.json says is stored (the arrays themselves are in weights.safetensors)."""
        embedded = "the own features" if self.features is not None else "embeddings"
        record = {
            "contents": f"{embedded} of a class-stratified sample of the training items, "
            "their labels and out-of-fold predictions (for smallfit drift, suggest and update)",
            "encoder": self.encoder,
            "rows": len(self),
            "drawn_from": self.drawn_from,
            "max_rows": MAX_ROWS,
            "dtype": np.dtype(DTYPE).name,
            "dim": int(self.embeddings.shape[1]),
            "predictions": "out-of-fold" if self.has_predictions else "none",
        }
        if self.features is not None:
            record["features"] = self.features[1]
        if self.sample is not None:
            record["sample"] = (
                f"the values of the {len(self.sample)} sampled training items (JSON in "
                "weights.safetensors, reference.sample), for per-column drift tests"
            )
        return record

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
        features = None
        if "features" in record:
            prefix = "features."
            own = {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
            features = (own, record["features"])
        sample = None
        if "sample" in arrays:
            try:
                sample = json.loads(arrays["sample"].tobytes().decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise ValueError("its reference sample of item values is damaged") from None
        return cls(
            encoder=record["encoder"],
            embeddings=arrays["embeddings"],
            labels=arrays["labels"].astype(np.int64),
            predicted=arrays["predicted"].astype(np.int64),
            confidence=arrays["confidence"].astype(np.float32),
            drawn_from=int(record.get("drawn_from", len(arrays["labels"]))),
            features=features,
            sample=sample,
        )


class OwnFeatures:
    """The items' own features, fitted on the training items, in an encoder's place (its
    `name` and `embed`): the space a kind of item without a pretrained encoder is
    compared in by drift and suggest."""

    name = OWN_FEATURES

    def __init__(self, features: RawFeatures, modality: str):
        self.features = features
        self.modality = modality

    def embed(self, items: list[Any], description: str | None = None) -> np.ndarray:
        values = self.features.transform(items)
        values = values.toarray() if hasattr(values, "toarray") else values  # sparse
        return np.asarray(values, dtype=np.float32)

    def record(self) -> dict[str, Any]:
        return {
            "name": OWN_FEATURES,
            "modality": self.modality,
            "features": type(self.features).__name__,
        }


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


def reference_of_fit(dataset, encoder, probas: np.ndarray | None, seed: int) -> Reference | None:
    """The reference a fit stores: a sample of `dataset` embedded by `encoder`, or with
    `encoder` None, by the items' own features fitted on all of `dataset` (None when its
    kind of item has none either)."""
    kind = modalities.get(dataset.modality)
    rows = stratified_rows(dataset.y, seed=seed)
    sampled = [dataset.items[i] for i in rows]
    features, described = None, None
    if encoder is None:
        own = kind.raw_features()
        if own is None:
            return None
        own.fit(dataset.items)
        features = own.get_state()
        encoder = OwnFeatures(own, dataset.modality)
        described = encoder.record()
    embeddings = encoder.embed(sampled, description=f"Embedding a reference with {encoder.name}")
    reference = make_reference(
        embeddings,
        dataset.y[rows],
        None if probas is None else probas[:, rows],
        described or backbones.describe(encoder),
        len(dataset),
    )
    reference.features = features
    reference.sample = kind.reference_sample(sampled)
    return reference


def reference_encoder(reference: Reference):
    """The encoder that embedded the reference (or the stored own features), warning if
    its setup has changed since (other weights, or bf16 on one machine and fp32 on
    another): new embeddings would then differ from the stored ones a little for reasons
    that are not the data's."""
    if reference.features is not None:
        modality = reference.encoder["modality"]
        own = modalities.get(modality).raw_features().set_state(*reference.features)
        return OwnFeatures(own, modality)
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
        kind = modalities.get(model.modality)
        if kind.default_backbone is None and kind.raw_features() is None:  # nothing to embed by
            raise SmallfitError(f"{purpose.capitalize()} does not work on {kind.name}s yet.")
        raise SmallfitError(
            f"This model has no stored reference sample of its training data, which {purpose} "
            "needs (models fitted before smallfit stored one). Fit it again with `smallfit fit`."
        )
    return model.reference
