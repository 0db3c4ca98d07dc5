"""A table's own features as a scikit-learn transformer skl2onnx converts, with one graph
input per column: numeric and boolean columns as float64 (missing: NaN), categorical
ones as strings (missing: MISSING_CATEGORY). Date and free-text columns have no ONNX
form here (dates are parsed by pandas, texts embedded by a sentence encoder), so a
table that has one is refused, naming it.

Two steps get converters of their own: skl2onnx converts SimpleImputer but drops its
missing-value flags (`add_indicator`), so `ImputeWithFlags` stands in for a fitted
imputer that has them (the median where a value is NaN, then the flags as 0/1); its
OneHotEncoder fails on an unseen category, so `OneHotWithUnseen` maps values to columns
as scikit-learn does (an unseen or infrequent value to the infrequent column, if any).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder

from smallfit.errors import SmallfitError
from smallfit.modalities.columns import Row
from smallfit.modalities.table_frame import MISSING_CATEGORY, frame_of

FLOAT_TYPES = ("numeric", "boolean")
REFUSED = {
    "date": "a date column (its parts are computed by pandas, which ONNX cannot run)",
    "text": "a free-text column (embedded by a sentence encoder, not a scikit-learn step)",
}


class ImputeWithFlags(TransformerMixin, BaseEstimator):
    """A fitted SimpleImputer with add_indicator, as skl2onnx can convert it."""

    def __init__(self, imputer: SimpleImputer):
        self.imputer = imputer

    def fit(self, X, y=None) -> ImputeWithFlags:
        return self

    def transform(self, X):
        return self.imputer.transform(X)


def _impute_shape(operator) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    imputer = operator.raw_operator.imputer
    flags = 0 if imputer.indicator_ is None else len(imputer.indicator_.features_)
    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = DoubleTensorType([rows, len(imputer.statistics_) + flags])


def _impute(scope, operator, container) -> None:
    """Where a value is NaN, the column's median; then the flagged columns' NaN as 0/1."""
    from onnx import TensorProto
    from skl2onnx.operator_converters.common import concatenate_variables

    imputer = operator.raw_operator.imputer
    values = concatenate_variables(scope, operator.inputs, container)
    name = {k: scope.get_unique_variable_name(k) for k in ("medians", "nan", "imputed")}
    medians = imputer.statistics_.astype(np.float64)
    container.add_initializer(name["medians"], TensorProto.DOUBLE, [1, len(medians)], medians)
    container.add_node("IsNaN", values, name["nan"])
    container.add_node("Where", [name["nan"], name["medians"], values], name["imputed"])
    if imputer.indicator_ is None:
        container.add_node("Identity", name["imputed"], operator.outputs[0].full_name)
        return
    flag = {k: scope.get_unique_variable_name(k) for k in ("index", "picked", "flags")}
    features = imputer.indicator_.features_.astype(np.int64)
    container.add_initializer(flag["index"], TensorProto.INT64, [len(features)], features)
    container.add_node("Gather", [name["nan"], flag["index"]], flag["picked"], axis=1)
    container.add_node("Cast", flag["picked"], flag["flags"], to=TensorProto.DOUBLE)
    container.add_node(
        "Concat", [name["imputed"], flag["flags"]], operator.outputs[0].full_name, axis=1
    )


class OneHotWithUnseen(TransformerMixin, BaseEstimator):
    """A fitted OneHotEncoder (handle_unknown="infrequent_if_exist") as skl2onnx can
    convert it: its converter fails on a category it has not seen, where scikit-learn
    gives the column of infrequent categories if there is one, else all zeros."""

    def __init__(self, encoder: OneHotEncoder):
        self.encoder = encoder

    def fit(self, X, y=None) -> OneHotWithUnseen:
        return self

    def transform(self, X):
        return self.encoder.transform(X)

    def groups(self) -> list[tuple[list[str], bool]]:
        """Per input column: its frequent categories in output order, and whether an
        infrequent column follows them (for the other values, unseen ones included)."""
        found = []
        for index, categories in enumerate(self.encoder.categories_):
            rare = self.encoder.infrequent_categories_[index]
            rare = set() if rare is None else {str(c) for c in rare}
            found.append(([str(c) for c in categories if str(c) not in rare], bool(rare)))
        return found


def _one_hot_shape(operator) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    width = sum(len(kept) + rare for kept, rare in operator.raw_operator.groups())
    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = DoubleTensorType([rows, width])


def _one_hot(scope, operator, container) -> None:
    """Per input column: each value's index among the frequent categories (the others:
    one past them), compared with 0..k (k: with an infrequent column) as 0/1 columns."""
    from onnx import TensorProto
    from skl2onnx.operator_converters.common import concatenate_variables

    values = concatenate_variables(scope, operator.inputs, container)
    blocks = []
    for column, (kept, rare) in enumerate(operator.raw_operator.groups()):
        name = {k: scope.get_unique_variable_name(k) for k in ("at", "one", "index", "eq", "hot")}
        container.add_initializer(name["at"], TensorProto.INT64, [1], [column])
        container.add_node("Gather", [values, name["at"]], name["one"], axis=1)
        container.add_node(
            "LabelEncoder",
            name["one"],
            name["index"],
            op_domain="ai.onnx.ml",
            op_version=2,
            keys_strings=kept,
            values_int64s=list(range(len(kept))),
            default_int64=len(kept),
        )
        width = len(kept) + rare
        positions = scope.get_unique_variable_name("positions")
        container.add_initializer(positions, TensorProto.INT64, [1, width], list(range(width)))
        container.add_node("Equal", [name["index"], positions], name["eq"])
        container.add_node("Cast", name["eq"], name["hot"], to=TensorProto.DOUBLE)
        blocks.append(name["hot"])
    container.add_node("Concat", blocks, operator.outputs[0].full_name, axis=1)


def _register() -> None:
    from skl2onnx import update_registered_converter

    update_registered_converter(ImputeWithFlags, "SmallfitImputeWithFlags", _impute_shape, _impute)
    update_registered_converter(
        OneHotWithUnseen, "SmallfitOneHotWithUnseen", _one_hot_shape, _one_hot
    )


def refusal(types: dict[str, str]) -> str | None:
    """Why a table of these used column types has no ONNX form, or None."""
    for column, kind in types.items():
        if kind in REFUSED:
            return f"column {column!r} is {REFUSED[kind]}"
    return None


def convertible(columns: Any, types: dict[str, str]) -> Any:
    """A copy of the fitted ColumnTransformer `columns` that skl2onnx converts (imputers
    with flags and one-hot encoders swapped for the steps above); raises SmallfitError
    naming a column that cannot be exported."""
    if (why := refusal(types)) is not None:
        raise SmallfitError(
            f"This table model cannot be exported to ONNX: its {why}. A table model exports "
            "when every column it learns from is numeric, boolean or categorical: refit "
            "without that column, or with --column-types COLUMN=categorical."
        )
    _register()
    columns = copy.deepcopy(columns)
    for position, (name, part, selected) in enumerate(columns.transformers_):
        if isinstance(part, OneHotEncoder):
            columns.transformers_[position] = (name, OneHotWithUnseen(part), selected)
        for index, (step_name, step) in enumerate(getattr(part, "steps", [])):
            if isinstance(step, SimpleImputer) and step.add_indicator:
                part.steps[index] = (step_name, ImputeWithFlags(step))
    return columns


class TableExport:
    """A fitted table's features for ONNX: the transformer, the graph's inputs, and rows
    as the graph takes them (see the module docstring)."""

    def __init__(self, columns: Any, types: dict[str, str]):
        self.transformer = convertible(columns, types)
        self.types = types
        self.inputs = {c: "float64" if k in FLOAT_TYPES else "string" for c, k in types.items()}

    def initial_types(self) -> list[tuple[str, Any]]:
        """skl2onnx's declaration of the graph inputs (any number of rows)."""
        from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

        kinds = {"float64": DoubleTensorType, "string": StringTensorType}
        return [(c, kinds[k]([None, 1])) for c, k in self.inputs.items()]

    def feed(self, rows: list[dict]) -> dict[str, np.ndarray]:
        """Rows as the graph takes them: one (n, 1) array per column."""
        frame = frame_of(rows, self.types)
        feed = {}
        for column, kind in self.inputs.items():
            values = frame[column].to_numpy()
            typed = values.astype(np.float64) if kind == "float64" else values.astype(str)
            feed[column] = typed.reshape(-1, 1)
        return feed

    def describe(self) -> dict[str, Any]:
        """What model.onnx.json says of the inputs."""
        return {
            "columns": self.inputs,
            "shape": "(rows, 1) per column",
            "missing": f"NaN for a number or a flag, the string {MISSING_CATEGORY!r} for a "
            "category",
            "booleans": "1.0 for true, 0.0 for false",
        }

    def examples(self, n: int) -> list[Row]:
        """`n` generated rows from what the fitted transformer learned (medians,
        categories): a missing value in every column in the first, an unseen category in
        the last."""
        medians, categories = {}, {}
        for name, part, selected in self.transformer.transformers_:
            if name == "numbers":
                imputer = part.steps[0][1]
                statistics = getattr(imputer, "imputer", imputer).statistics_
                medians = dict(zip(selected, statistics, strict=True))
            elif name == "categories":
                categories = dict(zip(selected, part.encoder.categories_, strict=True))
        rows = []
        for k in range(n):
            row: dict[str, Any] = {}
            for column, kind in self.types.items():
                known = [c for c in categories.get(column, []) if c != MISSING_CATEGORY]
                if k == 0:
                    row[column] = None
                elif kind == "numeric":
                    row[column] = float(medians.get(column, 0.0)) * (0.5 + 0.4 * k) + k
                elif kind == "boolean":
                    row[column] = bool(k % 2)
                else:
                    row[column] = known[k % len(known)] if k < n - 1 and known else "(unseen)"
            rows.append(Row(row, self.types))
        return rows
