"""The side-by-side view: an HTML page showing the items of every duplicate and leakage
finding next to each other, so a person can judge them at a glance."""

from __future__ import annotations

from pathlib import Path

from smallfit import modalities
from smallfit.data import Dataset
from smallfit.doctor.findings import Findings
from smallfit.errors import SmallfitError

PAIR_KINDS = ("conflicting_labels", "exact_duplicate", "near_duplicate", "leakage")


def write_pairs_html(
    findings: Findings, dataset: Dataset, test: Dataset | None, path: Path
) -> None:
    """A self-contained HTML page with every duplicate and leakage finding's items side by
    side: thumbnails (inline PNG, up to 192 px) for images, the texts for texts."""
    import html

    by_name = {n: i for n, i in zip(dataset.names, dataset.items, strict=True)}
    if test is not None:
        by_name |= {f"test: {n}": i for n, i in zip(test.names, test.items, strict=True)}

    def show(name: str, position: int, kind: str) -> str:
        key = f"test: {name}" if kind == "leakage" and position == 1 else name
        item = by_name.get(key, by_name.get(name))
        if item is None:
            body = ""
        else:
            body = modalities.get(dataset.modality).item_html(item, name, html.escape)
        return f"<td><b>{html.escape(name)}</b><br>{body}</td>"

    rows = []
    for finding in findings.findings:
        if finding.kind not in PAIR_KINDS:
            continue
        cells = "".join(show(n, k, finding.kind) for k, n in enumerate(finding.items))
        rows.append(
            f"<tr><td>{finding.kind.replace('_', ' ')}<br><small>{html.escape(finding.detail)}"
            f"</small></td>{cells}</tr>"
        )
    page = (
        "<!doctype html><meta charset='utf-8'><title>smallfit doctor: pairs</title>"
        "<style>body{font-family:sans-serif}td{vertical-align:top;padding:6px;"
        "border-bottom:1px solid #ccc;max-width:40em}</style>"
        f"<h1>Duplicates and leakage in {html.escape(findings.source)}</h1>"
        f"<table>{''.join(rows) or '<tr><td>No duplicates found.</td></tr>'}</table>"
    )
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as error:
        raise SmallfitError(f"Cannot write {path}: {error}") from None
