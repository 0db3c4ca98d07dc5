"""The in-memory description of a labeled (or unlabeled) dataset that every other module uses."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smallfit.errors import SmallfitError, list_some


@dataclass
class Dataset:
    """Items of one modality, their labels (or None) and the ordered class list.

    `modality` names a registered modality (smallfit.modalities), which says how its items
    are read, shown and served; fitting asks for it by this name.

    Items are image paths / PIL images / arrays for images and strings for text.
    `names` says how each item is shown to a person (a path, or "row 12").
    `groups` (optional, one value per item) names what items share (a patient, a
    speaker, a batch): cross-validation keeps each group's items in one fold, so the
    estimate describes groups never seen in training.
    """

    items: list[Any]
    modality: str
    labels: np.ndarray | None = None
    classes: list[Any] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    source: str = "python objects"
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.names:
            self.names = [f"item {i}" for i in range(len(self.items))]
        if self.groups is not None:
            self.groups = np.asarray([str(g) for g in self.groups], dtype=object)
            if len(self.groups) != len(self.items):
                raise SmallfitError(
                    f"Got {len(self.items)} items but {len(self.groups)} group values; "
                    "they must match."
                )
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=object)
            if len(self.labels) != len(self.items):
                raise SmallfitError(
                    f"Got {len(self.items)} items but {len(self.labels)} labels; they must match."
                )
            if not self.classes:
                self.classes = sorted({_plain(v) for v in self.labels}, key=_sort_key)
                warn_near_duplicate_classes(self.classes, self.source)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def y(self) -> np.ndarray:
        """Labels as integer indices into `classes`."""
        if self.labels is None:
            raise SmallfitError(f"{self.source} has no labels.")
        index = {c: i for i, c in enumerate(self.classes)}
        try:
            return np.array([index[_plain(v)] for v in self.labels], dtype=np.int64)
        except KeyError as err:
            raise SmallfitError(
                f"Label {err.args[0]!r} is not one of the model's classes: {self.classes}."
            ) from None

    def subset(self, indices) -> Dataset:
        """The items at `indices`, keeping the full class list (so folds agree on columns)."""
        indices = np.asarray(indices, dtype=np.int64)
        return Dataset(
            items=[self.items[i] for i in indices],
            modality=self.modality,
            labels=None if self.labels is None else self.labels[indices],
            classes=list(self.classes),
            names=[self.names[i] for i in indices],
            source=self.source,
            groups=None if self.groups is None else self.groups[indices],
        )

    def class_counts(self) -> dict[Any, int]:
        counts = np.bincount(self.y, minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts, strict=True)}

    def check_trainable(self) -> None:
        """Refuse data no classifier can be trained on, naming what is wrong."""
        if self.labels is None:
            raise SmallfitError(f"{self.source} has no labels, so no classifier can be trained.")
        if len(self.classes) < 2:
            found = self.classes[0] if self.classes else "none"
            raise SmallfitError(
                f"{self.source} has fewer than two classes (found: {found}). "
                "A classifier needs at least two classes with examples."
            )

    def on_classes(self, classes: list[Any], owner: str = "model") -> Dataset:
        """This dataset with its labels mapped onto a fitted `owner`'s classes (matched by
        their text, so "3" in a table finds the class 3); a label it lacks is an error."""
        unknown = sorted({str(v) for v in self.labels} - {str(c) for c in classes})
        if unknown:
            raise SmallfitError(
                f"{self.source} has labels the {owner} does not know: {', '.join(unknown)}. "
                f"The {owner}'s classes are: {', '.join(map(str, classes))}."
            )
        by_text = {str(c): c for c in classes}
        return Dataset(
            items=self.items,
            modality=self.modality,
            labels=[by_text[str(v)] for v in self.labels],
            classes=list(classes),
            names=self.names,
            source=self.source,
            groups=self.groups,
        )

    def record(self, fingerprint: str | None = None) -> dict[str, Any]:
        """What a model directory's model.json says about the data it was fitted on;
        `fingerprint` replaces the items' own when they stand for other data."""
        return {
            "source": self.source,
            "n_items": len(self),
            "class_counts": {str(k): v for k, v in self.class_counts().items()},
            "fingerprint": fingerprint or self.fingerprint(),
        }

    def fingerprint(self) -> str:
        """A short hash of item contents and labels, stored with a model to identify its data."""
        from smallfit.data.identity import item_key

        digest = hashlib.sha256()
        labels = self.labels if self.labels is not None else [None] * len(self)
        for item, label in zip(self.items, labels, strict=True):
            digest.update(item_key(item).encode())
            digest.update(repr(_plain(label)).encode())
        return digest.hexdigest()[:16]


def warn_near_duplicate_classes(classes: list[Any], source: str) -> None:
    """Warn, naming them, of class names that differ only in case or surrounding spaces
    ("positive", "Positive "): almost always one class typed two ways, which would be
    learnt as two. They stay apart (the labels are the user's), but said once."""
    spellings: dict[str, list[str]] = {}
    for name in classes:
        if isinstance(name, str):
            spellings.setdefault(name.strip().casefold(), []).append(name)
    alike = [names for names in spellings.values() if len(names) > 1]
    if alike:
        shown = "; ".join(", ".join(repr(n) for n in names) for names in alike[:5])
        warnings.warn(
            f"Labels in {source} that differ only in case or surrounding spaces are "
            f"separate classes: {shown}. If each group is one class, make its labels "
            "identical.",
            stacklevel=3,
        )


def _plain(value: Any) -> Any:
    """numpy scalars to Python scalars, so labels compare, sort and serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _sort_key(value: Any):
    return (0, value, "") if isinstance(value, int | float) else (1, 0, str(value))


def check_no_missing_labels(labels, names: list[str], source: str) -> None:
    """Name the rows whose label is missing or empty."""
    missing = [n for n, v in zip(names, labels, strict=True) if _is_missing(v)]
    if missing:
        raise SmallfitError(
            f"{len(missing)} item(s) in {source} have no label:\n{list_some(missing)}"
        )


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()
