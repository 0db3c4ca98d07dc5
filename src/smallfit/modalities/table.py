"""Tables: rows of numeric, categorical, boolean, date and free-text columns, from a
table file (CSV, TSV, JSON lines, Parquet) or a pandas DataFrame.

A table file is read as texts when, besides its label, it holds a single usable column
and that column is free text (or --text-column names one); otherwise as a table (see
`reading.read_frame`). Each column's type is inferred (modalities.columns) or given.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smallfit.data import Dataset
from smallfit.data.dataset import check_no_missing_labels
from smallfit.data.tables import (
    LABEL_NAMES,
    check_table_path,
    choose_column,
    read_table,
    write_table,
)
from smallfit.errors import SmallfitError
from smallfit.modalities.base import LonePredictor, Modality
from smallfit.modalities.columns import USED_TYPES, Row, column_types, conform, rows_of
from smallfit.modalities.table_checks import lone_columns, used_values
from smallfit.modalities.table_drift import column_tests
from smallfit.modalities.table_features import TableFeatures
from smallfit.modalities.table_summary import column_summary

SHOWN_CHARACTERS = 120  # of a row, in the CLI's tables
SHOWN_CELLS = 12  # of a row in the report (the columns learned from, in order)
CELL_CHARACTERS = 40
# pydantic field types a served row's cells take, per column type
JSON_TYPES = {"numeric": float, "boolean": bool}


def _cell(value: Any) -> str:
    """A cell as the report shows it: "–" when missing, long text cut."""
    if value is None:
        return "–"
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text if len(text) <= CELL_CHARACTERS else text[: CELL_CHARACTERS - 1] + "…"


def row_names(frame: pd.DataFrame, source: str) -> list[str]:
    """How rows are named: by their line in a CSV/TSV (the header is line 1), else from 1."""
    first = 2 if source.endswith((".csv", ".tsv")) else 1
    return [f"row {i + first}" for i in range(len(frame))]


class TableModality(Modality):
    name = "table"
    plural = "rows"
    python_items = "a pandas DataFrame"
    default_backbone = None  # no pretrained encoder: the rows' own features (and text columns)
    # linear, neighbours, bagged trees, boosted trees and a small network: different
    # inductive biases, so their combination can beat any one on the user's table
    candidates = (
        ("classic", {}),
        ("forest", {}),
        ("boosting", {}),
        ("knn", {}),
        ("mlp", {}),
    )
    # candidates="full": each small-data technique on the learner it serves (rows are
    # added inside each fold's fit, so the comparison judges them honestly): synthetic
    # rows of rare classes for neighbours (a large class fills their neighbourhoods),
    # jittered rows for the network (training with noise regularises it, Bishop 1995),
    # bootstrap bags of boosting (unstable on a few dozen rows); and LightGBM if installed.
    full_candidates = (
        ("knn", {"augment": "smote"}),
        ("mlp", {"augment": "noise"}),
        ("boosting", {"bagging": 10}),
    ) + ((("boosting", {"engine": "lightgbm"}),) if importlib.util.find_spec("lightgbm") else ())
    json_field = "rows"
    json_description = "rows: objects of column name to value"
    examples_per_class = 2
    int8_refusal = "--int8 is for text models: a table model's graph is small already."

    def __init__(self) -> None:
        self.schema: dict[str, Any] | None = None  # a fitted model's (see fitted_to)

    def claims(self, item: Any) -> bool:
        return isinstance(item, Row)

    def raw_features(self) -> TableFeatures:
        return TableFeatures()

    # -- the training input and predicting on it ---------------------------------------
    def input_schema(self, dataset: Dataset) -> dict[str, Any] | None:
        return {"column_types": dict(dataset.items[0].types)}

    def conform(self, dataset: Dataset, schema: dict[str, Any] | None) -> Dataset:
        if not schema or not dataset.items:
            return dataset
        frame = pd.DataFrame([dict(row) for row in dataset.items])
        rows = conform(frame, schema["column_types"], dataset.source)
        return Dataset(
            rows, self.name, dataset.labels, dataset.classes, dataset.names, dataset.source
        )

    def describe_input(self, schema: dict[str, Any]) -> str:
        types = schema["column_types"]
        used = ", ".join(f"{c} {k}" for c, k in types.items() if k in USED_TYPES)
        left = ", ".join(f"{c} ({k})" for c, k in types.items() if k not in USED_TYPES)
        return (
            f"Columns: {used}" + (f"; left out: {left}" if left else "") + ". Change with "
            "--column-types COLUMN=TYPE,..."
        )

    def fitted_to(self, schema: dict[str, Any] | None) -> TableModality:
        fitted = copy.copy(self)
        fitted.schema = schema
        return fitted

    # -- describing the data (the report) -----------------------------------------------
    def data_summary(self, dataset: Dataset) -> list[dict[str, Any]] | None:
        return column_summary(dataset.items) if dataset.items else None

    def columns(self, dataset: Dataset) -> list[str]:
        types = dataset.items[0].types if dataset.items else {}
        return [c for c, kind in types.items() if kind in USED_TYPES]

    def shuffle_column(self, items: list[Any], column: str, order: np.ndarray) -> list[Any]:
        values = [items[i].get(column) for i in order]
        return [Row({**row, column: v}, row.types) for row, v in zip(items, values, strict=True)]

    # -- drift: the used columns' values of the sampled training rows, tested per column -
    def reference_sample(self, items: list[Any]) -> list[dict]:
        return [{c: v for c, v in row.items() if row.types.get(c) in USED_TYPES} for row in items]

    def column_drift(self, sample: list[dict], items: list[Any]) -> list[dict[str, Any]]:
        return column_tests(sample, items, items[0].types) if items else []

    # -- adding labels: a suggested row is written as JSON of its columns' values --------
    def written(self, item: Any, name: str) -> str:
        return json.dumps(dict(item), ensure_ascii=False, default=str)

    def answer_items(self, values: list[str], rows: list[int], answers: Path) -> list[Any]:
        items = []
        for value, row in zip(values, rows, strict=True):
            try:
                item = json.loads(value)
            except ValueError:
                item = None
            if not isinstance(item, dict):
                raise SmallfitError(
                    f"{answers} row {row}: its item is not a table row as suggest writes it "
                    '(JSON of column values, such as {"height": 31.5, "colour": "green"}).'
                )
            items.append(item)
        return items

    def check_into(self, into: Path, data: Path) -> None:
        check_table_path(into, data)

    def write_labeled(
        self,
        data: Path,
        into: Path,
        items: list[Any],
        labels: list[Any],
        *,
        text_column: str | None,
        label_column: str | None,
    ) -> None:
        """The table `data` with the rows appended, each with its label in the label
        column, written in the format of `into`'s extension; refuses a row naming a column
        `data` does not have."""
        frame = read_table(data)
        label = choose_column(frame, label_column, LABEL_NAMES, "label", str(data))
        unknown = sorted(set().union(*items) - {str(c) for c in frame.columns}) if items else []
        if unknown:
            raise SmallfitError(
                f"The labeled rows have column(s) {', '.join(unknown)}, which {data} does not."
            )
        rows = pd.DataFrame(items, columns=frame.columns.drop(label)).assign(**{label: labels})
        write_table(pd.concat([frame, rows[frame.columns]], ignore_index=True), into)

    # -- showing -----------------------------------------------------------------------
    def shown(self, item: Any, name: str) -> str:
        """The row's name ("row 12": its line in the file, so a prediction joins back to
        it) and its cells, cut to SHOWN_CHARACTERS."""
        text = ", ".join(f"{c}={v}" for c, v in item.items() if v is not None)
        text = f"{name}: {text}" if name else text
        return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 1] + "…"

    def snippet(self, item: Any) -> dict[str, Any]:
        cells = [[c, _cell(v)] for c, v in item.items() if item.types.get(c) in USED_TYPES]
        return {"row": self.shown(item, ""), "cells": cells[:SHOWN_CELLS]}

    def example_html(self, entry: dict, esc) -> str:
        cells = entry.get("cells")
        if not cells:  # a model saved before rows were kept cell by cell
            return f"<code>{esc(entry.get('row', entry.get('item', '')))}</code>"
        body = "".join(f"<tr><th>{esc(c)}</th><td>{esc(v)}</td></tr>" for c, v in cells)
        return f"<table class=row>{body}</table>"

    def item_html(self, item: Any, name: str, esc) -> str:
        cells = "".join(
            f"<tr><th>{esc(str(c))}</th><td>{esc(str(v))}</td></tr>" for c, v in item.items()
        )
        return f"<table>{cells}</table>"

    # -- checking data -------------------------------------------------------------------
    def duplicate_content(self, item: Any) -> Any:
        """The used columns' values: rows differing only in an id (left out) are copies."""
        return used_values(item)

    def lone_predictors(
        self, dataset: Dataset, seed: int = 0
    ) -> tuple[list[LonePredictor], str | None]:
        return lone_columns(dataset, seed)

    # -- serving -------------------------------------------------------------------------
    def _used(self) -> dict[str, str]:
        if not self.schema:
            raise SmallfitError("A table model's rows are described by its training columns.")
        return {c: k for c, k in self.schema["column_types"].items() if k in USED_TYPES}

    def json_item_type(self) -> Any:
        from pydantic import ConfigDict, Field, create_model

        fields = {
            f"column_{i}": (JSON_TYPES.get(kind, str | float) | None, Field(alias=column))
            for i, (column, kind) in enumerate(self._used().items())
        }
        return create_model("Row", __config__=ConfigDict(extra="ignore"), **fields)

    def json_example(self) -> list[Any]:
        example = {"numeric": 1.0, "boolean": True, "date": "2024-01-31", "text": "a comment"}
        return [{c: example.get(k, "a category") for c, k in self._used().items()}]

    def decode_json(self, values: list[Any]) -> list[Any]:
        frame = pd.DataFrame([v.model_dump(by_alias=True) for v in values])
        return rows_of(frame, self.schema["column_types"])

    def warm_up_items(self) -> list[Any]:
        frame = pd.DataFrame([{c: None for c in self._used()}])
        return rows_of(frame, self.schema["column_types"])


def table_dataset(
    frame: pd.DataFrame,
    *,
    label_column: str | None,
    given_types: dict[str, str],
    labeled: bool,
    source: str,
) -> Dataset:
    """A table Dataset: the label column (chosen by name if not given) apart, every other
    column typed; refuses an empty table and one without a usable column."""
    if frame.empty:
        raise SmallfitError(f"{source} has no rows.")
    names = row_names(frame, source)
    label_col = None
    if labeled or label_column is not None:
        label_col = choose_column(frame, label_column, LABEL_NAMES, "label", source)
    features = frame.drop(columns=[label_col]) if label_col is not None else frame
    types = column_types(features, given_types, source)
    if labeled and not any(kind in USED_TYPES for kind in types.values()):
        shown = ", ".join(f"{c} ({k})" for c, k in types.items())
        raise SmallfitError(
            f"{source} has no column to learn from: {shown}. Set types with --column-types."
        )
    if labeled and len(features.columns) > len(frame):
        warnings.warn(
            f"{source} has more columns ({len(features.columns)}) than rows ({len(frame)}); "
            "the models are regularised, but more rows would help.",
            stacklevel=3,
        )
    labels = None
    if label_col is not None:
        labels = frame[label_col].tolist()
        check_no_missing_labels(labels, names, source)
        labels = np.array(labels, dtype=object)
    return Dataset(rows_of(features, types), "table", labels, names=names, source=source)
