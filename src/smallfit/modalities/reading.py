"""Turning what a user points at (a folder, a file, a table, Python objects) into a
Dataset, by asking each registered modality whether it is one of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smallfit import modalities
from smallfit.data.dataset import Dataset, check_no_missing_labels
from smallfit.data.tables import LABEL_NAMES, choose_column, is_table_path, read_table
from smallfit.errors import SmallfitError, list_some
from smallfit.modalities.base import Modality
from smallfit.modalities.table import row_names, table_dataset
from smallfit.modalities.text import TEXT_NAMES, from_frame


def read_source(
    source: str | Path,
    *,
    labeled: bool,
    text_column: str | None = None,
    label_column: str | None = None,
    skip_bad: bool = False,
    column_types: dict[str, str] | None = None,
    group_column: str | None = None,
) -> Dataset:
    """Read a folder or file of a registered modality (labeled image folders follow
    `root/<class>/**/image`; unlabeled folders are read recursively), or a table file
    (of texts, of columns, or of file paths: see read_frame)."""
    path = Path(source)
    if not path.exists():
        raise SmallfitError(f"{path} does not exist.")
    if path.is_file() and is_table_path(path):
        dataset = read_frame(
            read_table(path),
            text_column=text_column,
            label_column=label_column,
            column_types=column_types,
            labeled=labeled,
            source=str(path),
            group_column=group_column,
        )  # a table of file paths names files that may not be readable
        return modalities.get(dataset.modality).drop_unreadable(dataset, skip_bad)
    kinds = " or ".join(m.plural for m in modalities.all_registered() if reads_files(m))
    readers = modalities.all_registered()
    if group_column is not None:
        raise SmallfitError(
            f"{path} is not a table, so it has no column {group_column!r}; for a folder, "
            "give a table with columns item (paths relative to the folder) and group."
        )
    if path.is_dir():
        readers = [m for m in readers if m.finds(path)]
        if len(readers) > 1:
            raise SmallfitError(
                f"{path} holds {' and '.join(m.plural for m in readers)}; a data folder holds "
                "one kind of item. Move the others out."
            )
        if not readers:
            layout = f"{path}/<class>/<file>" if labeled else "files in it or below it"
            raise SmallfitError(f"No {kinds} found in {path}. Expected {layout}.")
    for modality in readers:
        dataset = modality.read_path(path, labeled)
        if dataset is not None:
            return modality.drop_unreadable(dataset, skip_bad)
    raise SmallfitError(
        f"Cannot read {path}: expected a folder or file of {kinds}, or a table "
        "(.csv, .tsv, .jsonl, .parquet)."
    )


def reads_files(modality: Modality) -> bool:
    """Whether `modality` reads folders and files of its own (not tables)."""
    return type(modality).read_path is not Modality.read_path


def to_dataset(
    data: Any,
    labels: Any = None,
    *,
    labeled: bool,
    text_column: str | None = None,
    label_column: str | None = None,
    skip_bad: bool = False,
    column_types: dict[str, str] | None = None,
    group_column: str | None = None,
) -> Dataset:
    """A Dataset from whatever the Python API accepts: a Dataset, a folder or table path
    (read with read_source), a DataFrame holding its label column, or Python items with
    their `labels`. `group_column`: a column of the table that gives each row's group
    (Dataset.groups), not read as a feature."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, str | Path) and labels is None:
        return read_source(
            data,
            labeled=labeled,
            text_column=text_column,
            label_column=label_column,
            skip_bad=skip_bad,
            column_types=column_types,
            group_column=group_column,
        )
    if isinstance(data, pd.DataFrame) and labels is None:
        return read_frame(
            data,
            text_column=text_column,
            label_column=label_column,
            column_types=column_types,
            labeled=labeled,
            source="the DataFrame",
            group_column=group_column,
        )
    if group_column is not None:
        raise SmallfitError(
            f"group_column {group_column!r} names a column of a table; with Python items, "
            "give the group values themselves (groups=[...], one per item)."
        )
    return from_python(data, labels, text_column=text_column, column_types=column_types)


def read_frame(
    frame: pd.DataFrame,
    *,
    text_column: str | None,
    label_column: str | None,
    column_types: dict[str, str] | None,
    labeled: bool,
    source: str,
    group_column: str | None = None,
) -> Dataset:
    """A table read as files, texts or a table of columns (without its `group_column`,
    whose values become the Dataset's groups). Files (sounds, images): a
    column's every value is the path of such a file (see file_column). Texts:
    --text-column names one; or it has a column of a text's conventional name (text,
    review, ...); or, besides the label, it has one column. A table otherwise, or whenever
    column types are given."""
    if group_column is None:
        return _read_frame(frame, text_column, label_column, column_types, labeled, source)
    column = choose_column(frame, group_column, (), "group", source)
    groups = frame[column]
    names = row_names(frame, source)
    missing = [names[i] for i in np.flatnonzero(groups.isna().to_numpy())]
    if missing:
        raise SmallfitError(
            f"{len(missing)} row(s) of {source} have no value in column {column!r}:\n"
            f"{list_some(missing)}"
        )
    rest = frame.drop(columns=[column])
    dataset = _read_frame(rest, text_column, label_column, column_types, labeled, source)
    dataset.groups = np.array([str(g) for g in groups], dtype=object)
    return dataset


def _read_frame(frame, text_column, label_column, column_types, labeled, source) -> Dataset:
    if column_types:
        return table_dataset(
            frame,
            label_column=label_column,
            given_types=column_types,
            labeled=labeled,
            source=source,
        )
    if text_column is not None:
        return from_frame(
            frame,
            text_column=text_column,
            label_column=label_column,
            labeled=labeled,
            source=source,
        )
    if labeled or label_column is not None:
        label = choose_column(frame, label_column, LABEL_NAMES, "label", source)
    else:  # a file to predict on may still hold its labels
        label = next((str(c) for c in frame.columns if str(c).lower() in LABEL_NAMES), None)
    features = [str(c) for c in frame.columns if str(c) != label]
    if (files := file_column(frame, features, label, source)) is not None:
        return files
    if len(features) <= 1 or any(c.lower() in TEXT_NAMES for c in features):
        return from_frame(
            frame, text_column=None, label_column=label_column, labeled=labeled, source=source
        )
    return table_dataset(
        frame, label_column=label_column, given_types={}, labeled=labeled, source=source
    )


def file_column(
    frame: pd.DataFrame, features: list[str], label: str | None, source: str
) -> Dataset | None:
    """The files named by a column of `frame` whose every value is a path of one kind of
    item that reads files (sounds, images), relative to the table's folder, with the
    labels of column `label`; None when no column is such."""
    table = Path(source)
    base = table.parent if table.is_file() else Path.cwd()
    readers = [m for m in modalities.all_registered() if reads_files(m)]
    for column in features:
        values = frame[column]
        if values.isna().any() or not all(isinstance(v, str) for v in values):
            continue
        paths = [base / v for v in values]
        for modality in readers:
            if paths and all(modality.claims(p) for p in paths):
                missing = [f"{p} (row {i + 2})" for i, p in enumerate(paths) if not p.is_file()]
                if missing:
                    raise SmallfitError(
                        f"{source}: column {column!r} names {len(missing)} {modality.plural} "
                        "that do not exist (paths are read from the table's folder):\n"
                        f"{list_some(missing)}"
                    )
                labels = None
                if label is not None:
                    labels = frame[label].tolist()
                    names = [str(p) for p in paths]
                    check_no_missing_labels(labels, names, source)
                dataset = Dataset(
                    items=paths,
                    modality=modality.name,
                    labels=None if labels is None else np.array(labels, dtype=object),
                    names=[str(p) for p in paths],
                    source=source,
                )
                return dataset
    return None


def from_python(
    X: Any,
    y: Any = None,
    *,
    text_column: str | None = None,
    column_types: dict[str, str] | None = None,
) -> Dataset:
    """A Dataset from Python objects: a DataFrame (of texts or columns, see read_frame),
    or items of one registered modality (paths, texts, PIL images, arrays, ...)."""
    if isinstance(X, pd.DataFrame):
        dataset = read_frame(
            X,
            text_column=text_column,
            label_column=None,
            column_types=column_types,
            labeled=False,
            source="the DataFrame",
        )
        return _with_labels(dataset, y)
    if isinstance(X, np.ndarray) and X.dtype != object and X.ndim in (3, 4):
        items: list[Any] = list(X)  # a stack of images
    elif isinstance(X, str | Path):
        raise SmallfitError(
            "Pass a list of items (paths or texts), or use read_source for a folder."
        )
    else:
        items = list(X)
    if not items:
        raise SmallfitError("No items were given.")
    modality = modality_of(items)
    items, names = modality.from_items(items)
    return _with_labels(Dataset(items=items, modality=modality.name, names=names), y)


def modality_of(items: list[Any]) -> modalities.Modality:
    """The one registered modality that claims every item (the first that claims each)."""
    kinds: dict[str, modalities.Modality] = {}
    for index, item in enumerate(items):
        owner = next((m for m in modalities.all_registered() if m.claims(item)), None)
        if owner is None:
            known = " or ".join(
                f"{m.plural} ({m.python_items})" if m.python_items else m.plural
                for m in modalities.all_registered()
            )
            raise SmallfitError(
                f"Cannot use item {index}, of type {type(item).__name__}; give {known}."
            )
        kinds[owner.name] = owner
    if len(kinds) > 1:
        mixed = [m.plural for m in modalities.all_registered() if m.name in kinds]
        raise SmallfitError(f"The items mix {' and '.join(mixed)}; give one kind at a time.")
    return next(iter(kinds.values()))


def _with_labels(dataset: Dataset, y: Any) -> Dataset:
    if y is None:
        return dataset
    labels = list(y.tolist() if hasattr(y, "tolist") else y)
    check_no_missing_labels(labels, dataset.names, dataset.source)
    return Dataset(
        items=dataset.items,
        modality=dataset.modality,
        labels=np.array(labels, dtype=object),
        names=dataset.names,
        source=dataset.source,
    )
