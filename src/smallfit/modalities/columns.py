"""A table's columns: each one's type, inferred from its values or given by the user,
and rows made from a frame under those types (the same ones at fit and predict time).

Types: numeric, categorical, boolean, date, text (free text, embedded by the text
encoder), identifier (unique codes such as ids and ticket numbers: no signal, left out)
and constant (one value or none at all: left out). Inferring a type looks at one
column's values only, never at the labels, so doing it on the whole file leaks nothing;
what is learned from values (categories, means) is learned inside each fold.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from smallfit.errors import SmallfitError, list_some

COLUMN_TYPES = ("numeric", "categorical", "boolean", "date", "text", "identifier", "constant")
USED_TYPES = ("numeric", "categorical", "boolean", "date", "text")  # the others are left out
# Spellings of a missing value that spreadsheets and UCI files use besides an empty cell.
MISSING_MARKERS = {"", "?", "na", "n/a", "nan", "none", "null", "-", "--"}
TRUE_WORDS = {"true", "yes", "y", "t"}
FALSE_WORDS = {"false", "no", "n", "f"}
MAX_CATEGORIES = 50  # more distinct strings than this (and mostly unique): not categories
TEXT_WORDS = 3  # free text averages at least this many words per value
# A column this much numbers whose other values are words has stray entries ("unknown",
# "12 kg") to correct; below it the words are real values (ticket codes such as "113803"
# beside "A/5 21171"), and the column is read as strings.
MOSTLY_NUMBERS = 0.9
ID_NAME = re.compile(r"(?i:(^|[_\s.-])(id|index|key)$)|[a-z]I[dD]$")


class Row(dict):
    """One row of a table: column -> value (None when missing), with the column types of
    its table (shared by all its rows), which the table's features read."""

    __slots__ = ("types",)

    def __init__(self, values: dict[str, Any], types: dict[str, str]):
        super().__init__(values)
        self.types = types


def _present(series: pd.Series) -> pd.Series:
    """The values that are not missing (NaN, None, or a missing-value marker)."""
    values = series.dropna()
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        values = values[~values.astype(str).str.strip().str.lower().isin(MISSING_MARKERS)]
    return values


def infer_type(series: pd.Series) -> str:
    """The type of one column, from its values alone (see the module docstring)."""
    values = _present(series)
    if values.nunique() <= 1:
        return "constant"
    if pd.api.types.is_bool_dtype(values.dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values.dtype):
        return _numeric_or_identifier(values, series.name)
    words = values.astype(str).str.strip().str.lower()
    if set(words) <= TRUE_WORDS | FALSE_WORDS:
        return "boolean"
    numbers = pd.to_numeric(words, errors="coerce")
    if numbers.notna().all():
        return _numeric_or_identifier(numbers, series.name)
    if numbers.notna().mean() >= MOSTLY_NUMBERS:
        return "mixed"  # refused by column_types, which names the odd values
    if _looks_like_dates(words):
        return "date"
    distinct = values.nunique() / len(values)
    if values.nunique() <= MAX_CATEGORIES and distinct < 0.5:
        return "categorical"
    if words.str.split().str.len().mean() >= TEXT_WORDS:
        return "text"
    return "identifier" if distinct > 0.9 else "categorical"


def _numeric_or_identifier(values: pd.Series, name: Any) -> str:
    """Distinct integers are ids when they are consecutive (row numbers) or their column
    is named as ids are (id, customer_id, PassengerId, index, key)."""
    numbers = values.astype(float)
    if (numbers == numbers.round()).all() and numbers.is_unique:
        if ID_NAME.search(str(name)):
            return "identifier"
        consecutive = (np.diff(np.sort(numbers.to_numpy())) == 1).all()
        if consecutive and len(numbers) >= 10:
            return "identifier"
    return "numeric"


def _looks_like_dates(words: pd.Series) -> bool:
    if not words.str.contains(r"\d", regex=True).all() or not words.str.contains(r"[-/:.]").all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when it guesses each format
        parsed = pd.to_datetime(words, errors="coerce", format="mixed")
    return parsed.notna().mean() >= 0.95


def parse_column_types(text: str | None) -> dict[str, str]:
    """`col=type,col=type` (the --column-types option) as a dict; errors name the part."""
    if not text:
        return {}
    given = {}
    for part in text.split(","):
        column, _, kind = part.partition("=")
        column, kind = column.strip(), kind.strip()
        if not column or kind not in COLUMN_TYPES:
            raise SmallfitError(
                f"Cannot read column type {part.strip()!r}: write COLUMN=TYPE with TYPE one of "
                f"{', '.join(COLUMN_TYPES)}."
            )
        given[column] = kind
    return given


def column_types(frame: pd.DataFrame, given: dict[str, str], source: str) -> dict[str, str]:
    """Every column's type: the one `given`, else inferred; refuses a column of mixed
    values (naming it and some of its odd values) and a given column that is not there."""
    unknown = sorted(set(given) - {str(c) for c in frame.columns})
    if unknown:
        raise SmallfitError(
            f"--column-types names {', '.join(unknown)}, not columns of {source}. Its columns "
            f"are: {', '.join(str(c) for c in frame.columns)}."
        )
    types = {}
    for column in frame.columns:
        name = str(column)
        types[name] = given.get(name) or infer_type(frame[column])
        if types[name] == "mixed":
            values = _present(frame[column]).astype(str)
            odd = values[pd.to_numeric(values, errors="coerce").isna()]
            rows = [f"row {i + 2}: {v!r}" for i, v in odd.items()]
            raise SmallfitError(
                f"Column {name!r} of {source} mixes numbers and words:\n{list_some(rows)}\n"
                f"Correct those values, or set its type with --column-types {name}=categorical."
            )
    return types


def typed_value(value: Any, kind: str) -> Any:
    """A cell as a row holds it under its column's type: float, bool or str; None if missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, str) and value.strip().lower() in MISSING_MARKERS:
        return None
    if kind == "numeric":
        number = pd.to_numeric(value, errors="coerce")
        return None if pd.isna(number) else float(number)
    if kind == "boolean":
        if isinstance(value, bool | np.bool_):
            return bool(value)
        word = str(value).strip().lower()
        if word in TRUE_WORDS or word == "1":
            return True
        if word in FALSE_WORDS or word == "0":
            return False
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a code read as 3.0 is the category "3"
    return str(value).strip() if kind != "text" else str(value)


def rows_of(frame: pd.DataFrame, types: dict[str, str]) -> list[Row]:
    """Rows of the frame's columns that `types` names, each value typed (the columns
    left out as strings: shown, and checked for duplicates, but not learned from)."""
    frame = frame.rename(columns=str)
    present = [c for c in types if c in frame.columns]
    kinds = {c: types[c] if types[c] in USED_TYPES else "categorical" for c in present}
    records = frame[present].to_dict(orient="records")
    return [Row({c: typed_value(r[c], kinds[c]) for c in present}, types) for r in records]


def conform(frame: pd.DataFrame, types: dict[str, str], source: str) -> list[Row]:
    """Rows of a frame to predict on, under the training table's `types`: a missing used
    column is refused (named); extra columns are left out with a warning naming them."""
    columns = {str(c) for c in frame.columns}
    missing = [c for c, kind in types.items() if kind in USED_TYPES and c not in columns]
    if missing:
        raise SmallfitError(
            f"{source} lacks column(s) {', '.join(missing)}, which the model was trained on."
        )
    extra = sorted(columns - set(types))
    if extra:
        warnings.warn(
            f"{source}: column(s) {', '.join(extra)} were not in the training table; ignored.",
            stacklevel=3,
        )
    return rows_of(frame, types)
