"""Turning what a user points at (a folder, a file, a table, Python objects) into a
Dataset, by asking each registered modality whether it is one of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smallfit import modalities
from smallfit.data.dataset import Dataset, check_no_missing_labels
from smallfit.data.tables import is_table_path, read_table
from smallfit.errors import SmallfitError
from smallfit.modalities.text import from_frame


def read_source(
    source: str | Path,
    *,
    labeled: bool,
    text_column: str | None = None,
    label_column: str | None = None,
    skip_bad: bool = False,
) -> Dataset:
    """Read a folder or file of a registered modality (labeled image folders follow
    `root/<class>/**/image`; unlabeled folders are read recursively), or a table."""
    path = Path(source)
    if not path.exists():
        raise SmallfitError(f"{path} does not exist.")
    if path.is_file() and is_table_path(path):
        return from_frame(
            read_table(path),
            text_column=text_column,
            label_column=label_column,
            labeled=labeled,
            source=str(path),
        )
    for modality in modalities.all_registered():
        dataset = modality.read_path(path, labeled)
        if dataset is not None:
            return modality.drop_unreadable(dataset, skip_bad)
    raise SmallfitError(
        f"Cannot read {path}: expected a folder of images, an image, or a table "
        "(.csv, .tsv, .jsonl, .parquet)."
    )


def to_dataset(
    data: Any,
    labels: Any = None,
    *,
    labeled: bool,
    text_column: str | None = None,
    label_column: str | None = None,
    skip_bad: bool = False,
) -> Dataset:
    """A Dataset from whatever the Python API accepts: a Dataset, a folder or table path
    (read with read_source), or Python items with their `labels`."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, str | Path) and labels is None:
        return read_source(
            data,
            labeled=labeled,
            text_column=text_column,
            label_column=label_column,
            skip_bad=skip_bad,
        )
    return from_python(data, labels, text_column=text_column)


def from_python(X: Any, y: Any = None, *, text_column: str | None = None) -> Dataset:
    """A Dataset from Python objects: a DataFrame, or items of one registered modality
    (paths, texts, PIL images, arrays, ...)."""
    if isinstance(X, pd.DataFrame):
        dataset = from_frame(X, text_column=text_column, label_column=None, labeled=False)
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
