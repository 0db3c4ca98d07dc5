"""A table's own features: numbers, categories, flags and dates as columns a model can
use, and each free-text column embedded by the text encoder (transfer inside a table).

Fitted on the training rows of each fold only (imputation medians, categories, scales),
by scikit-learn's ColumnTransformer. Its fitted state is kept with skops, which stores
scikit-learn objects without pickle and loads only the types listed in `TRUSTED`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from smallfit import backbones
from smallfit.modalities.base import RawFeatures
from smallfit.modalities.columns import USED_TYPES
from smallfit.modalities.table_frame import frame_of

TEXT_ENCODER = "minilm"
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
    days since 1970) and free text (unit-length sentence embeddings)."""

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
        return self

    def transform(self, items: list[Any]) -> np.ndarray:
        blocks = []
        if self.columns_ is not None:
            blocks.append(self.columns_.transform(frame_of(items, self.types_)))
        texts = [c for c, kind in self.types_.items() if kind == "text"]
        if texts:
            encoder = backbones.create(TEXT_ENCODER)
            for column in texts:
                values = [row.get(column) or "" for row in items]
                embedded = encoder.embed([v if v.strip() else "(empty)" for v in values])
                norms = np.linalg.norm(embedded, axis=1, keepdims=True)
                blocks.append(embedded / np.maximum(norms, 1e-12))
        return np.hstack(blocks).astype(np.float32)

    def encoders(self) -> list[Any]:
        has_text = any(kind == "text" for kind in self.types_.values())
        return [backbones.create(TEXT_ENCODER)] if has_text else []

    def onnx_export(self) -> Any:
        from smallfit.modalities.table_onnx import TableExport

        return TableExport(self.columns_, self.types_)

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {} if self.columns_ is None else {"table_columns": to_array(self.columns_)}
        return arrays, {"column_types": self.types_}

    def set_state(self, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> TableFeatures:
        self.types_ = dict(config["column_types"])
        stored = arrays.get("table_columns")
        self.columns_ = None if stored is None else from_array(stored, TRUSTED)
        return self
