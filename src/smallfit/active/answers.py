"""Adding the answers: a suggestion file with its label column filled in, merged with the
training data into NEW training data (the original data is never changed)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from smallfit import modalities
from smallfit.errors import SmallfitError
from smallfit.modalities.reading import read_source


def add_labels(
    answers: str | Path,
    data: str | Path,
    into: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
) -> dict[str, Any]:
    """Write NEW training data `into`: a copy of `data` plus the rows of `answers` (a CSV
    written by suggest, its label column filled in). Image folders are copied, each newly
    labeled image into into/<label>/; tables get the new rows appended. `data` and the
    labeled files are never changed. Rows left unlabeled are skipped; a label that is not
    a class of `data` becomes a new class (with a warning). The data's modality says what
    `into` must be, what the answers' items are, and how the new data is written. Returns
    a summary."""
    answers, data, into = Path(answers), Path(data), Path(into)
    if into.exists():
        raise SmallfitError(f"{into} already exists; --into must name new training data.")
    if into.resolve().is_relative_to(data.resolve()):
        raise SmallfitError(f"--into {into} lies inside {data}; write the new data elsewhere.")
    train = read_source(data, labeled=True, text_column=text_column, label_column=label_column)
    kind = modalities.get(train.modality)
    kind.check_into(into, data)
    labeled = _read_answers(answers)
    known = {str(c): c for c in train.classes}
    new_classes = sorted({v for v in labeled.label if v not in known})
    if new_classes:
        warnings.warn(
            f"{answers}: label(s) {', '.join(new_classes)} are not classes of {data}; they "
            "become new classes.",
            stacklevel=2,
        )
    from smallfit.data.identity import item_key

    seen = {item_key(item) for item in train.items}
    items = kind.answer_items(list(labeled["item"]), [i + 2 for i in labeled.index], answers)
    fresh = [i for i, item in enumerate(items) if item_key(item) not in seen]
    if len(fresh) < len(items):
        warnings.warn(
            f"{answers}: {len(items) - len(fresh)} labeled item(s) are already in {data} and are "
            "not added again.",
            stacklevel=2,
        )
    labels = [known.get(v, v) for v in labeled.label]
    kind.write_labeled(
        data,
        into,
        [items[i] for i in fresh],
        [labels[i] for i in fresh],
        text_column=text_column,
        label_column=label_column,
    )
    return {
        "into": str(into),
        "added": len(fresh),
        "new_classes": new_classes,
        "training_items": len(train) + len(fresh),
    }


def _read_answers(path: Path) -> pd.DataFrame:
    """The labeled rows of a suggestion CSV (item and label as text); unlabeled ones are
    skipped with a warning."""
    if not path.is_file():
        raise SmallfitError(f"{path} does not exist.")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as err:  # noqa: BLE001 - pandas raises many types
        raise SmallfitError(f"Cannot read {path}: {err}") from None
    missing = [c for c in ("item", "label") if c not in frame.columns]
    if missing:
        raise SmallfitError(
            f"{path} has no {' or '.join(missing)} column; give the CSV that `smallfit suggest` "
            "wrote, with its label column filled in."
        )
    frame["label"] = frame["label"].str.strip()
    empty = frame["label"] == ""
    if empty.all():
        raise SmallfitError(f"{path}: no row has a label yet; fill in its label column.")
    if empty.any():
        warnings.warn(
            f"{path}: {int(empty.sum())} of its {len(frame)} rows have no label and are skipped.",
            stacklevel=3,
        )
    labeled = frame[~empty]
    blank = [str(row + 2) for row in labeled.index[labeled["item"].str.strip() == ""]]
    if blank:
        raise SmallfitError(
            f"{path}: row(s) {', '.join(blank)} have a label but no item; give each its item."
        )
    return labeled  # its index keeps the file's row numbers (row = index + 2)
