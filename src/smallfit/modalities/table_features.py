"""A table's own features: numbers, categories, flags and dates as columns a model can
use, and each free-text column embedded by the text encoder (transfer inside a table).

Fitted on the training rows of each fold only (imputation medians, categories, scales),
by scikit-learn's ColumnTransformer. Its fitted state is kept with skops, which stores
scikit-learn objects without pickle and loads only the types listed in `TRUSTED`.

A text column's 384-dimensional embedding is projected on its first principal
directions among the training rows (at most TEXT_COMPONENTS). A table has a few dozen to
a few hundred rows: the minor directions of one column cannot be estimated from them,
yet they would outnumber every other column ten to one, drowning the columns for trees
and neighbours and multiplying the fit time of the network and the boosting. The
projection keeps the embedding's geometry along the kept directions (no rescaling).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from smallfit import backbones
from smallfit.modalities.base import RawFeatures
from smallfit.modalities.columns import USED_TYPES
from smallfit.modalities.table_frame import frame_of

TEXT_ENCODER = "minilm"
TEXT_COMPONENTS = 16  # principal directions kept of each text column's embedding
# Types inside a fitted ColumnTransformer that skops does not trust by default; loading
# refuses any other, so a model file cannot make skops build arbitrary objects.
TRUSTED = ["numpy.dtype"]


def to_array(model: Any) -> np.ndarray:
    """A fitted scikit-learn object as bytes in a uint8 array (for safetensors)."""
    return np.frombuffer(sio.dumps(model), dtype=np.uint8).copy()


def from_array(array: np.ndarray, trusted: list[str]) -> Any:
    return sio.loads(array.tobytes(), trusted=trusted)


class TableFeatures(RawFeatures):
    """Numbers (median-imputed, with a missing flag, standardised), categories (one-hot;
    unseen ones at predict time are all zeros), dates (year, month, weekday, day of year,
    days since 1970) and free text (unit-length sentence embeddings, projected on their
    first principal directions among the training rows)."""

    dense = True

    def fit(self, items: list[Any]) -> TableFeatures:
        self.types_ = {c: k for c, k in items[0].types.items() if k in USED_TYPES}
        frame = frame_of(items, self.types_)
        numeric = [c for c in frame.columns if self.types_.get(c) != "categorical"]
        categorical = [c for c in frame.columns if self.types_.get(c) == "categorical"]
        parts = []
        if numeric:
            numbers = make_pipeline(
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                StandardScaler(),
            )
            parts.append(("numbers", numbers, numeric))
        if categorical:
            # min_frequency: categories seen once in the training rows join "infrequent"
            categories = OneHotEncoder(
                handle_unknown="infrequent_if_exist", min_frequency=2, sparse_output=False
            )
            parts.append(("categories", categories, categorical))
        self.columns_ = ColumnTransformer(parts).fit(frame) if parts else None
        self.texts_ = {
            column: PCA(min(TEXT_COMPONENTS, len(items)), random_state=0).fit(
                self._embedded(items, column)
            )
            for column, kind in self.types_.items()
            if kind == "text"
        }
        return self

    def transform(self, items: list[Any]) -> np.ndarray:
        blocks = []
        if self.columns_ is not None:
            blocks.append(self.columns_.transform(frame_of(items, self.types_)))
        for column, projection in self.texts_.items():
            blocks.append(projection.transform(self._embedded(items, column)))
        return np.hstack(blocks).astype(np.float32)

    @staticmethod
    def _embedded(items: list[Any], column: str) -> np.ndarray:
        """The column's unit-length sentence embeddings, an empty cell as "(empty)"."""
        values = [row.get(column) or "" for row in items]
        embedded = backbones.create(TEXT_ENCODER).embed(
            [v if v.strip() else "(empty)" for v in values]
        )
        return embedded / np.maximum(np.linalg.norm(embedded, axis=1, keepdims=True), 1e-12)

    def encoders(self) -> list[Any]:
        return [backbones.create(TEXT_ENCODER)] if self.texts_ else []

    def onnx_export(self) -> Any:
        from smallfit.modalities.table_onnx import TableExport

        return TableExport(self.columns_, self.types_)

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {} if self.columns_ is None else {"table_columns": to_array(self.columns_)}
        arrays |= {f"text_projection.{c}": to_array(p) for c, p in self.texts_.items()}
        return arrays, {"column_types": self.types_}

    def set_state(self, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> TableFeatures:
        self.types_ = dict(config["column_types"])
        stored = arrays.get("table_columns")
        self.columns_ = None if stored is None else from_array(stored, TRUSTED)
        self.texts_ = {
            column: from_array(arrays[f"text_projection.{column}"], TRUSTED)
            for column, kind in self.types_.items()
            if kind == "text"
        }
        return self
