"""The sections on a model's columns (for items that have columns, such as a table's rows),
each shown only when `model.info` holds its record: what each column holds (its type,
missing share, range or commonest values) and how much the model leans on each one
(permutation importance, measured on held-out rows).
"""

from __future__ import annotations

from smallfit.report.blocks import esc, note, pct, section, table


def number(value: float) -> str:
    return f"{value:.4g}"


def holds(entry: dict) -> str:
    """A column's values in a few words, by its type."""
    if "median" in entry:
        return f"{number(entry['min'])} – {number(entry['max'])}, median {number(entry['median'])}"
    if "first" in entry:
        return f"{esc(entry['first'])} – {esc(entry['last'])}"
    if "mean_words" in entry:
        return f"free text, {entry['mean_words']} words on average"
    if "distinct" in entry:
        common = ", ".join(
            f"<code>{esc(c['value'])}</code> {pct(c['share'])}" for c in entry.get("common", [])
        )
        return f"{entry['distinct']} distinct" + (f"; most common: {common}" if common else "")
    return "no values"


def columns_section(summary: list[dict]) -> tuple[str, str, str]:
    rows = [
        [
            f"<b>{esc(entry['column'])}</b>",
            esc(entry["type"]),
            pct(entry.get("missing", 0.0)),
            holds(entry),
        ]
        for entry in summary
    ]
    body = table(["column", "type", "missing", "values"], rows, "columns") + note(
        "From the training rows. Identifier and constant columns are left out of the model; "
        "change a type with <code>--column-types COLUMN=TYPE</code>."
    )
    return section("columns", "Columns", body)


def importance_section(record: dict) -> tuple[str, str, str]:
    if record.get("skipped"):
        body = note(f"Not measured: {esc(record['skipped'])}.")
        return section("importance", "Column importance", body)
    entries = record.get("columns", [])
    largest = max((e["drop"] for e in entries), default=0.0)
    scale = largest if largest > 0 else 1.0
    rows = [
        [
            f"<b>{esc(e['column'])}</b>",
            f"{100 * e['drop']:+.1f} points",
            f"± {100 * e['spread']:.1f}",
            f'<span class=hbar style="width:{180 * max(0.0, e["drop"]) / scale:.0f}px"></span>',
        ]
        for e in entries
    ]
    body = table(["column", "accuracy drop", "spread", ""], rows, "importance") + note(
        f"How much the accuracy falls when one column's values are shuffled among the rows, "
        f"on rows the model was not trained on: for each of {record.get('folds', '?')} "
        f"cross-validation folds ({record.get('rows', '?')} held-out rows in all), the chosen "
        f"strategy was fitted on the fold's other rows, and each column was shuffled "
        f"{record.get('shuffles', '?')} times (held-out accuracy before shuffling: "
        f"{pct(record.get('baseline'))}). The spread is the standard deviation over folds and "
        "shuffles; a drop within it is noise. Columns that carry the same information share "
        "it: shuffling one leaves the other, so both may look unimportant."
    )
    return section("importance", "Column importance", body)
