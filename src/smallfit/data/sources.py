"""Turning what a user points at (a folder, a file, a table, Python objects) into a Dataset."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from smallfit.data.dataset import Dataset, check_no_missing_labels
from smallfit.data.images import bad_images_error, check_readable, find_images, is_image_path
from smallfit.data.tables import (
    LABEL_NAMES,
    TEXT_NAMES,
    check_texts,
    choose_column,
    is_table_path,
    read_table,
)
from smallfit.errors import SmallfitError


def read_source(
    source: str | Path,
    *,
    labeled: bool,
    text_column: str | None = None,
    label_column: str | None = None,
    skip_bad: bool = False,
) -> Dataset:
    """Read a folder of images, a single image or a table.

    Labeled folders follow `root/<class>/**/image`; unlabeled folders are read recursively.
    """
    path = Path(source)
    if not path.exists():
        raise SmallfitError(f"{path} does not exist.")
    if path.is_dir():
        dataset = _labeled_folder(path) if labeled else _unlabeled_folder(path)
        return _drop_or_refuse_bad(dataset, skip_bad)
    if is_table_path(path):
        return from_frame(
            read_table(path),
            text_column=text_column,
            label_column=label_column,
            labeled=labeled,
            source=str(path),
        )
    if is_image_path(path):
        if labeled:
            raise SmallfitError(
                f"{path} is a single image; labeled images come as a folder root/<class>/*.jpg."
            )
        return _drop_or_refuse_bad(
            Dataset(items=[path], modality="image", names=[str(path)], source=str(path)), skip_bad
        )
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


def _labeled_folder(root: Path) -> Dataset:
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    items, labels = [], []
    for class_dir in class_dirs:
        for image in find_images(class_dir):
            items.append(image)
            labels.append(class_dir.name)
    loose = [p for p in root.iterdir() if p.is_file() and is_image_path(p)]
    if not items:
        hint = f" ({len(loose)} images lie directly in it)" if loose else ""
        raise SmallfitError(
            f"No labeled images in {root}{hint}. Expected one sub-folder per class: "
            f"{root}/<class>/*.jpg"
        )
    if loose:
        warnings.warn(
            f"{len(loose)} image(s) directly in {root} have no class folder and are ignored.",
            stacklevel=2,
        )
    return Dataset(
        items=items,
        modality="image",
        labels=np.array(labels, dtype=object),
        names=[str(p) for p in items],
        source=str(root),
    )


def _unlabeled_folder(root: Path) -> Dataset:
    items = find_images(root)
    if not items:
        raise SmallfitError(f"No images found in {root} (looked recursively).")
    return Dataset(items=items, modality="image", names=[str(p) for p in items], source=str(root))


def _drop_or_refuse_bad(dataset: Dataset, skip_bad: bool) -> Dataset:
    bad = set(check_readable(dataset.items))
    if not bad:
        return dataset
    if not skip_bad:
        raise bad_images_error(sorted(bad), dataset.source)
    warnings.warn(f"Skipping {len(bad)} unreadable image(s) in {dataset.source}.", stacklevel=2)
    keep = [i for i, item in enumerate(dataset.items) if item not in bad]
    if not keep:
        raise bad_images_error(sorted(bad), dataset.source)
    return dataset.subset(keep)


def from_frame(
    frame: pd.DataFrame,
    *,
    text_column: str | None,
    label_column: str | None,
    labeled: bool,
    source: str = "the DataFrame",
) -> Dataset:
    """A text Dataset from a table, choosing columns by name when they are not given."""
    if frame.empty:
        raise SmallfitError(f"{source} has no rows.")
    label_col = None
    if labeled or label_column is not None:
        label_col = choose_column(frame, label_column, LABEL_NAMES, "label", source)
    text_col = choose_column(
        frame, text_column, TEXT_NAMES, "text", source, exclude={label_col} if label_col else set()
    )
    names = [
        f"row {i + 2}" if source.endswith((".csv", ".tsv")) else f"row {i + 1}"
        for i in range(len(frame))
    ]
    texts = check_texts(frame[text_col].tolist(), names, source)
    labels = None
    if label_col is not None:
        labels = frame[label_col].tolist()
        check_no_missing_labels(labels, names, source)
        labels = np.array(labels, dtype=object)
    return Dataset(items=texts, modality="text", labels=labels, names=names, source=source)


def from_python(X: Any, y: Any = None, *, text_column: str | None = None) -> Dataset:
    """A Dataset from Python objects: a DataFrame, paths, texts, PIL images or arrays."""
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
    modality = _modality_of(items)
    if modality == "image":
        items = [Path(i) if isinstance(i, str) else i for i in items]
        names = [str(i) if isinstance(i, Path) else f"item {k}" for k, i in enumerate(items)]
        paths = [i for i in items if isinstance(i, Path)]
        bad = check_readable(paths)
        if bad:
            raise bad_images_error(bad, "the given items")
    else:
        names = [f"item {k}" for k in range(len(items))]
        items = check_texts(items, names, "the given texts")
    return _with_labels(Dataset(items=items, modality=modality, names=names), y)


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


def _modality_of(items: list[Any]) -> str:
    kinds = set()
    for item in items:
        if isinstance(item, Image.Image | np.ndarray | Path):
            kinds.add("image")
        elif isinstance(item, str):
            path = Path(item)
            looks_like_file = len(item) < 4096 and is_image_path(path) and path.is_file()
            kinds.add("image" if looks_like_file else "text")
        else:
            raise SmallfitError(
                f"Cannot use an item of type {type(item).__name__}; "
                "give image paths, PIL images, numpy arrays or strings."
            )
    if len(kinds) > 1:
        raise SmallfitError("The items mix images and texts; give one kind at a time.")
    return kinds.pop()
