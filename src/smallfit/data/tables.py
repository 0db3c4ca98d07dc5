"""Reading and writing tables (CSV, TSV, JSONL, Parquet) and choosing their columns."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from smallfit.errors import SmallfitError, list_some

TABLE_EXTENSIONS = {".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".pq"}
LABEL_NAMES = ("label", "labels", "class", "category", "target", "y")


def is_table_path(path: Path) -> bool:
    return path.suffix.lower() in TABLE_EXTENSIONS


def check_table_path(into: Path, data: Path) -> None:
    """Refuse `into` as the new table of labeled items read from table `data` unless its
    extension names a table format."""
    if not is_table_path(into):
        raise SmallfitError(
            f"--into {into} must be a table file (.csv, .tsv, .jsonl, .parquet) like {data}."
        )


def read_table(path: Path, data: bytes | None = None) -> pd.DataFrame:
    """Read a table by its extension, from `data` when given (an upload, which `path`
    names); errors say which file and why."""
    suffix = path.suffix.lower()
    source = path if data is None else io.BytesIO(data)
    try:
        if suffix == ".csv":
            return pd.read_csv(source, keep_default_na=False, na_values=[""])
        if suffix == ".tsv":
            return pd.read_csv(source, sep="\t", keep_default_na=False, na_values=[""])
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(source, lines=True)
        return pd.read_parquet(source)
    except Exception as err:  # noqa: BLE001 - pandas raises many types; the user needs one message
        raise SmallfitError(f"Cannot read table {path}: {err}") from None


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write `frame` in the format of `path`'s extension, the way read_table reads it back
    (Parquet for .parquet, .pq)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix in (".jsonl", ".ndjson"):
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path, index=False)


def choose_column(
    frame: pd.DataFrame,
    given: str | None,
    preferred: tuple[str, ...],
    role: str,
    source: str,
    exclude: set[str] = frozenset(),
    *,
    fallback_only_strings: bool = False,
) -> str:
    """The column to use for `role`: the one given, else an unambiguous conventional name,
    else (`fallback_only_strings`, for free text) the only column of strings left."""
    columns = [str(c) for c in frame.columns]
    if given is not None:
        if given not in columns:
            raise SmallfitError(
                f"{source} has no column {given!r}. Its columns are: {', '.join(columns)}."
            )
        return given
    lowered = {c.lower(): c for c in columns if c not in exclude}
    for name in preferred:
        if name in lowered:
            return lowered[name]
    if fallback_only_strings:
        # pandas 3 reads text as its string dtype, earlier versions as object
        strings = [
            c
            for c in columns
            if c not in exclude
            and (frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c].dtype))
        ]
        if len(strings) == 1:
            return strings[0]
    flag = f"--{role}-column"
    raise SmallfitError(
        f"Cannot tell which column of {source} holds the {role}; pass {flag}. "
        f"Its columns are: {', '.join(columns)}."
    )


def check_texts(texts: list, names: list[str], source: str) -> list[str]:
    """Texts as strings; name the rows that are empty."""
    empty = [
        n for n, t in zip(names, texts, strict=True) if not isinstance(t, str) or not t.strip()
    ]
    if empty:
        raise SmallfitError(
            f"{len(empty)} row(s) in {source} have an empty text:\n{list_some(empty)}"
        )
    return list(texts)
