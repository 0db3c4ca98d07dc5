"""Drift of each column of a table: are the new rows' values of a column distributed as
the training rows' were (the sample a model keeps of them)?

Kolmogorov-Smirnov for numbers and dates (as days; where values are missing, together
with a chi-square test of the missing share, Bonferroni-combined, so that a column gone
empty is caught), chi-square on the counts of each category for categorical and boolean
columns (a missing value counts as a category of its own), and for free text the MMD
permutation test on the text encoder's embeddings, the test whole texts get. The
p-values are uncorrected: the drift check corrects them together with its test of the
whole rows (Holm). Each column also reports its share of missing values before and after.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, ks_2samp

from smallfit import backbones
from smallfit.modalities.columns import USED_TYPES
from smallfit.modalities.table_features import TEXT_ENCODER
from smallfit.modalities.table_frame import MISSING_CATEGORY
from smallfit.numeric import normalise
from smallfit.twosample import mmd_test

MAX_TEXT_ROWS = 500  # per side in a text column's MMD test: seconds, with power to spare


def column_tests(sample: list[dict], rows: list[dict], types: dict[str, str]) -> list[dict]:
    """One result per used column of `types`: column, type, test, statistic, p_value
    (None when a side has no value to test) and the missing shares of both sides."""
    results = []
    for column, kind in types.items():
        if kind not in USED_TYPES:
            continue
        before = [row.get(column) for row in sample]
        after = [row.get(column) for row in rows]
        results.append(
            {
                "column": column,
                "type": kind,
                **TESTS[kind](before, after),
                "missing_reference": _missing(before),
                "missing_new": _missing(after),
            }
        )
    return results


def _missing(values: list) -> float:
    return round(sum(v is None for v in values) / max(len(values), 1), 4)


def _result(test: str, statistic: float | None, p_value: float | None) -> dict[str, Any]:
    return {"test": test, "statistic": statistic, "p_value": p_value}


def _distributions(
    before: np.ndarray, after: np.ndarray, missing: tuple[int, int], sizes: tuple[int, int]
) -> dict[str, Any]:
    """Kolmogorov-Smirnov on the values present; where values are missing, combined with a
    chi-square test of the missing counts (`missing` of `sizes`) by Bonferroni."""
    tested = ks_2samp(before, after) if len(before) and len(after) else None
    statistic = None if tested is None else float(tested.statistic)
    p_value = None if tested is None else float(tested.pvalue)
    if not any(missing) or not all(sizes):
        return _result("Kolmogorov-Smirnov", statistic, p_value)
    counts = np.array([[m, n - m] for m, n in zip(missing, sizes, strict=True)])
    seen = counts.sum(axis=0) > 0
    p_missing = float(chi2_contingency(counts)[1]) if seen.all() else 1.0
    tests = [p for p in (p_value, p_missing) if p is not None]
    return _result(
        "Kolmogorov-Smirnov + missing share",  # chi-square of the missing counts, Bonferroni
        statistic,
        min(1.0, len(tests) * min(tests)),
    )


def numbers(before: list, after: list) -> dict[str, Any]:
    """Kolmogorov-Smirnov on the values present (and the missing share, see _distributions)."""
    present = [np.array([v for v in side if v is not None], float) for side in (before, after)]
    return _distributions(*present, *_counts(before, after))


def dates(before: list, after: list) -> dict[str, Any]:
    """As numbers, on the dates present as days since 1970."""
    days = []
    for side in (before, after):
        when = pd.to_datetime(pd.Series(side, dtype=object), errors="coerce", format="mixed")
        days.append(((when.dropna() - pd.Timestamp(0)).dt.days).to_numpy(float))
    return _distributions(*days, *_counts(before, after))


def _counts(before: list, after: list) -> tuple[tuple[int, int], tuple[int, int]]:
    """(missing before, missing after), (size before, size after)."""
    return (
        (sum(v is None for v in before), sum(v is None for v in after)),
        (len(before), len(after)),
    )


def categories(before: list, after: list) -> dict[str, Any]:
    """Chi-square test of homogeneity of the two sides' category counts."""
    counts = [
        Counter(MISSING_CATEGORY if v is None else str(v) for v in side) for side in (before, after)
    ]
    seen = sorted(set(counts[0]) | set(counts[1]))
    if not before or not after:
        return _result("chi-square", None, None)
    if len(seen) < 2:  # one category on both sides: nothing changed
        return _result("chi-square", 0.0, 1.0)
    table = np.array([[side[c] for c in seen] for side in counts])
    statistic, p_value, _, _ = chi2_contingency(table)
    return _result("chi-square", float(statistic), float(p_value))


def texts(before: list, after: list) -> dict[str, Any]:
    """MMD permutation test on the text encoder's embeddings of the texts present."""
    present = [[v for v in side if v is not None and v.strip()] for side in (before, after)]
    if not all(present):
        return _result(f"MMD ({TEXT_ENCODER})", None, None)
    rng = np.random.default_rng(0)
    present = [_at_most(side, MAX_TEXT_ROWS, rng) for side in present]
    encoder = backbones.create(TEXT_ENCODER)
    embedded = [normalise(encoder.embed(side)) for side in present]
    tested = mmd_test(*embedded)
    test = f"MMD ({encoder.name})"
    return _result(test, tested["mmd2"], tested["p_value"])


def _at_most(values: list, limit: int, rng: np.random.Generator) -> list:
    if len(values) <= limit:
        return values
    return [values[i] for i in np.sort(rng.choice(len(values), limit, replace=False))]


TESTS = {
    "numeric": numbers,
    "date": dates,
    "categorical": categories,
    "boolean": categories,
    "text": texts,
}
