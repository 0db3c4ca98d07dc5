"""What a table's columns hold, for the report: each column's type, its share of missing
values and, by type, its range and median, or its categories and the most common ones.

Computed at fit time from the training rows and kept in model.info, so the report shows
it without the data. Only counts, numbers and a few category names are kept.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from smallfit.modalities.columns import Row

COMMON = 3  # most common categories (or values) shown per column


def column_summary(rows: list[Row]) -> list[dict[str, Any]]:
    """One entry per column of the rows' table: name, type, missing share and what its
    values look like (see the module docstring)."""
    types = rows[0].types
    return [_column(name, kind, [row.get(name) for row in rows]) for name, kind in types.items()]


def _column(name: str, kind: str, values: list[Any]) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    entry: dict[str, Any] = {
        "column": name,
        "type": kind,
        "missing": round(1 - len(present) / len(values), 4) if values else 0.0,
    }
    if not present:
        return entry
    if kind == "numeric":
        numbers = np.asarray(present, dtype=float)
        entry |= {
            "min": float(numbers.min()),
            "median": float(np.median(numbers)),
            "max": float(numbers.max()),
        }
    elif kind == "date":
        when = pd.to_datetime(pd.Series(present, dtype=object), errors="coerce", format="mixed")
        when = when.dropna()
        if len(when):
            entry |= {"first": str(when.min().date()), "last": str(when.max().date())}
    elif kind == "text":
        entry["mean_words"] = round(float(np.mean([len(str(v).split()) for v in present])), 1)
    else:  # categorical, boolean, identifier, constant: how many values, the commonest
        counts = Counter(str(v) for v in present)
        entry["distinct"] = len(counts)
        if kind == "identifier":
            return entry  # a code per row: its commonest values say nothing
        entry["common"] = [
            {"value": value, "share": round(count / len(values), 4)}
            for value, count in counts.most_common(COMMON)
        ]
    return entry
