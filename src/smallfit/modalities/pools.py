"""Reading an unlabeled pool (for semi-supervised learning, active learning, domain
adaptation) against the labeled data it will be used with.

One reader for every pool, so each command gives the same clear messages: an empty
pool, a pool of the other modality, and items that are already in the labeled data
(dropped, with a warning that says how many: a pool item that is also a training item
would leak its label into pseudo-labels and inflate estimates).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from smallfit import modalities
from smallfit.data.dataset import Dataset
from smallfit.data.identity import item_key
from smallfit.errors import SmallfitError
from smallfit.modalities.reading import to_dataset

BACKGROUND = "background"  # the class --background items are added to
# class names that say "none of the others" (as folder names, Speech Commands' among them)
BACKGROUND_NAMES = {"background", "_background_noise_", "noise", "silence", "unknown"}
BACKGROUND_NAMES |= {"_unknown_", "other", "others", "none", "negative"}


def background_class(classes: list) -> Any:
    """The class of `classes` that holds background items (by its name), or None."""
    return next((c for c in classes if str(c).lower() in BACKGROUND_NAMES), None)


def with_background(dataset: Dataset, background: Dataset) -> Dataset:
    """`dataset` plus the items of `background` (read with read_pool) as the class
    BACKGROUND, joining it when the data already has one: items that belong to none of
    the classes, so the model can answer "none of these". With `dataset.groups`, each
    background item is a group of its own (it shares no speaker or source with another)."""
    labels = np.concatenate([dataset.labels, np.full(len(background), BACKGROUND, dtype=object)])
    groups = None
    if dataset.groups is not None:
        own = np.array([f"background item {name}" for name in background.names], dtype=object)
        groups = np.concatenate([dataset.groups, own])
    return Dataset(
        items=dataset.items + background.items,
        modality=dataset.modality,
        labels=labels,
        names=dataset.names + background.names,
        source=dataset.source,
        groups=groups,
    )


def read_pool(
    source: Any,
    labeled: Dataset,
    *,
    text_column: str | None = None,
    what: str = "The unlabeled pool",
    skip_bad: bool = False,
    schema: dict[str, Any] | None = None,
) -> Dataset:
    """The pool `source` (a folder, a table, a Dataset or Python items) as an unlabeled
    Dataset of `labeled`'s modality, read as the labeled data was (`schema`, see
    Modality.input_schema; by default `labeled`'s own: a table's column types), without
    the items `labeled` already holds.

    A table's labels, if it has a label column, are ignored: a pool is unlabeled.
    """
    pool = to_dataset(source, labeled=False, text_column=text_column, skip_bad=skip_bad)
    name = f"{what} ({pool.source})"
    if len(pool) == 0:
        raise SmallfitError(f"{name} is empty.")
    if pool.modality != labeled.modality:
        raise SmallfitError(
            f"{name} holds {pool.modality}s but the labeled data holds {labeled.modality}s; "
            "give a pool of the same kind."
        )
    kind = modalities.get(pool.modality)
    if schema is None and len(labeled):
        schema = kind.input_schema(labeled)
    pool = kind.conform(pool, schema)
    known = {item_key(item) for item in labeled.items}
    keep = [i for i, item in enumerate(pool.items) if item_key(item) not in known]
    if len(keep) < len(pool):
        dropped = len(pool) - len(keep)
        if not keep:
            raise SmallfitError(
                f"{name}: all {dropped} of its items are already in the labeled data."
            )
        warnings.warn(
            f"{name}: {dropped} of its {len(pool)} items are already in the labeled data "
            "and are left out of the pool.",
            stacklevel=2,
        )
    pool = pool.subset(keep)
    return Dataset(items=pool.items, modality=pool.modality, names=pool.names, source=pool.source)
