"""A table's rows as a frame of numbers and strings, the input of its fitted column
transformer (modalities.table_features) and of that transformer's ONNX graph
(modalities.table_onnx): numbers and flags as floats (NaN when missing), categories as
strings (MISSING_CATEGORY when missing), dates split into parts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

DATE_PARTS = ("year", "month", "weekday", "dayofyear", "days")  # what a date becomes
MISSING_CATEGORY = "(missing)"


def frame_of(rows: list[dict], types: dict[str, str]) -> pd.DataFrame:
    """The rows' numeric, boolean, categorical and date columns as a frame of numbers and
    strings (dates split into parts); text columns are embedded separately."""
    columns: dict[str, Any] = {}
    for name, kind in types.items():
        values = [row.get(name) for row in rows]
        if kind in ("numeric", "boolean"):
            columns[name] = np.array([np.nan if v is None else float(v) for v in values])
        elif kind == "categorical":
            columns[name] = np.array(
                [MISSING_CATEGORY if v is None else v for v in values], dtype=object
            )
        elif kind == "date":
            when = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce", format="mixed")
            for part in DATE_PARTS:
                series = (
                    (when - pd.Timestamp(0)).dt.days if part == "days" else getattr(when.dt, part)
                )
                columns[f"{name}.{part}"] = series.astype(float).to_numpy()
    return pd.DataFrame(columns, index=range(len(rows)))
