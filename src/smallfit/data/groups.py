"""The group of each item, for fairness slices: a column of the data table, or, for a
folder of images, a table with an `item` column (image paths, relative to the folder or
absolute) and the group column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from smallfit.data.dataset import Dataset, _is_missing
from smallfit.data.tables import choose_column, is_table_path, read_table
from smallfit.errors import SmallfitError, list_some


def read_groups(dataset: Dataset, column: str, groups_file: str | Path | None = None) -> np.ndarray:
    """Each item's group, in the dataset's order; errors name the file, column and rows."""
    source = Path(dataset.source)
    if groups_file is None:
        if not is_table_path(source):
            raise SmallfitError(
                f"{source} is not a table, so it has no column {column!r}; for images give a "
                f"table with columns item and {column} (--groups FILE)."
            )
        frame = read_table(source)
        values = frame[choose_column(frame, column, (), "group", str(source))].tolist()
        names = dataset.names
    else:
        values, names = _groups_of_images(dataset, column, Path(groups_file))
    missing = [name for name, value in zip(names, values, strict=True) if _is_missing(value)]
    if missing:
        where = groups_file or source
        raise SmallfitError(
            f"{len(missing)} item(s) have no value in column {column!r} of {where}:\n"
            f"{list_some(missing)}"
        )
    return np.array([str(v) for v in values], dtype=object)


def _groups_of_images(dataset: Dataset, column: str, path: Path) -> tuple[list, list[str]]:
    if not path.is_file():
        raise SmallfitError(f"The groups table {path} does not exist.")
    frame = read_table(path)
    item_column = choose_column(frame, "item", (), "item", str(path))
    group_column = choose_column(frame, column, (), "group", str(path))
    root = Path(dataset.source)
    by_path: dict[Path, object] = {}
    for item, group in zip(frame[item_column], frame[group_column], strict=True):
        if pd.isna(item):
            continue
        item = Path(str(item))
        by_path[(item if item.is_absolute() else root / item).resolve()] = group
    keys = [Path(name).resolve() for name in dataset.names]
    unlisted = [name for name, key in zip(dataset.names, keys, strict=True) if key not in by_path]
    if unlisted:
        raise SmallfitError(
            f"{len(unlisted)} item(s) of {root} are not in {path} (its item column holds "
            f"paths relative to {root}, or absolute):\n{list_some(unlisted)}"
        )
    return [by_path[key] for key in keys], list(dataset.names)
