"""Items that are files in class folders (images, sounds): reading the folder tree, and
writing new training data as a copy of it, for every modality whose items are files."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from smallfit.data import Dataset
from smallfit.errors import SmallfitError, list_some


def labeled_folder(
    root: Path, find: Callable[[Path], list[Path]], modality: str, plural: str, example: str
) -> Dataset:
    """`root/<class>/**/file`: one sub-folder per class (`find` lists a folder's files,
    `example` is a file name shown in the error when there are none)."""
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    items, labels, empty = [], [], []
    for class_dir in class_dirs:
        found = find(class_dir)
        if not found:
            empty.append(class_dir.name)
        for path in found:
            items.append(path)
            labels.append(class_dir.name)
    loose = [p for p in find(root) if p.parent == root]
    if not items:
        hint = f" ({len(loose)} {plural} lie directly in it)" if loose else ""
        raise SmallfitError(
            f"No labeled {plural} in {root}{hint}. Expected one sub-folder per class: "
            f"{root}/<class>/{example}"
        )
    if loose:
        warnings.warn(
            f"{len(loose)} {plural} directly in {root} have no class folder and are ignored.",
            stacklevel=4,
        )
    if empty:
        warnings.warn(
            f"Folder(s) {', '.join(empty)} in {root} hold no {plural}, so they are not "
            "classes of this model.",
            stacklevel=4,
        )
    return Dataset(
        items=items,
        modality=modality,
        labels=np.array(labels, dtype=object),
        names=[str(p) for p in items],
        source=str(root),
    )


def unlabeled_folder(
    root: Path, find: Callable[[Path], list[Path]], modality: str, plural: str
) -> Dataset:
    """Every file of the kind under `root`, recursively."""
    items = find(root)
    if not items:
        raise SmallfitError(f"No {plural} found in {root} (looked recursively).")
    return Dataset(items=items, modality=modality, names=[str(p) for p in items], source=str(root))


def existing_files(values: list[str], rows: list[int], answers: Path, plural: str) -> list[Path]:
    """The answers' items as paths, each an existing file; an error names the others."""
    paths = [Path(value) for value in values]
    bad = [f"{p} (row {r})" for r, p in zip(rows, paths, strict=True) if not p.is_file()]
    if bad:
        raise SmallfitError(
            f"{answers}: {len(bad)} item(s) are not {plural} files (paths are read from the "
            f"current folder):\n{list_some(bad)}"
        )
    return paths


def copy_labeled(data: Path, into: Path, items: list[Path], labels: list) -> None:
    """A copy of the folder `data`, then each file copied into into/<label>/ (under a
    free name if its own is taken)."""
    shutil.copytree(data, into)
    for item, label in zip(items, labels, strict=True):
        folder = into / str(label)
        folder.mkdir(exist_ok=True)
        shutil.copy2(item, free_name(folder / item.name))


def free_name(path: Path) -> Path:
    """`path`, or name_1.ext, name_2.ext ... if it is taken."""
    candidate, number = path, 0
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}_{number}{path.suffix}")
    return candidate
