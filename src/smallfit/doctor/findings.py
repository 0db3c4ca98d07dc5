"""What the doctor's checks return: a `Finding` per problem, and `Findings`, one
examination's findings with its notes, as a table, a CSV, or a short summary for reports.
Every check builds these, so they live apart from any one check."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from smallfit.errors import SmallfitError

KINDS = (
    "exact_duplicate",
    "conflicting_labels",
    "near_duplicate",
    "leakage",
    "leaky_column",
    "label_issue",
    "class_imbalance",
    "outlier",
    "faulty_signal",
)
COLUMNS = ["kind", "items", "detail", "score", "suggestion"]
SUMMARY_PER_KIND = 10  # findings per kind kept in a summary (the counts give the totals)


@dataclass
class Finding:
    kind: str
    items: list[str]
    detail: str
    score: float
    suggestion: str


@dataclass
class Findings:
    """The findings of one examination, most serious first within each kind, and `notes`:
    how each check decided (thresholds and why) or why it was skipped. `suspicion` ranks
    every item by how likely its label is wrong (NaN: never scored), flagged or not."""

    findings: list[Finding]
    notes: dict[str, str] = field(default_factory=dict)
    source: str = ""
    n_items: int = 0
    suspicion: np.ndarray | None = None

    def counts(self) -> dict[str, int]:
        return {kind: sum(f.kind == kind for f in self.findings) for kind in KINDS}

    def frame(self) -> pd.DataFrame:
        """One row per finding (kind, items, detail, score, suggestion); notes in `attrs`."""
        rows = [[f.kind, f.items, f.detail, f.score, f.suggestion] for f in self.findings]
        table = pd.DataFrame(rows, columns=COLUMNS)
        table.attrs["notes"] = dict(self.notes)
        return table

    def write_csv(self, path: Path) -> None:
        """The findings as CSV; `items` holds a JSON list of item names."""
        table = self.frame()
        table["items"] = [json.dumps(items) for items in table["items"]]
        try:
            table.to_csv(path, index=False)
        except OSError as error:
            raise SmallfitError(f"Cannot write {path}: {error}") from None


def summary(findings: Findings | pd.DataFrame) -> dict:
    """{"counts": {kind: n}, "findings": [{"kind", "items", "detail", "suggestion"}]}, at
    most SUMMARY_PER_KIND findings per kind (most serious first), for reports."""
    if isinstance(findings, pd.DataFrame):
        rows = [Finding(**{k: r[k] for k in COLUMNS}) for r in findings.to_dict("records")]
        findings = Findings(rows)
    shown: list[dict] = []
    for kind in KINDS:
        for f in [f for f in findings.findings if f.kind == kind][:SUMMARY_PER_KIND]:
            shown.append(
                {
                    "kind": f.kind,
                    "items": [str(i) for i in f.items],
                    "detail": f.detail,
                    "suggestion": f.suggestion,
                }
            )
    return {"counts": findings.counts(), "findings": shown}
