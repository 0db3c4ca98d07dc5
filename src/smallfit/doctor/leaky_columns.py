"""Columns that give the label away: a column that alone predicts the label (almost)
perfectly, while the others do not, is most often known only after the label (an
outcome code, a date of diagnosis, an id assigned per class). The modality finds them
(Modality.lone_predictors: only tables have columns); this turns them into findings."""

from __future__ import annotations

from smallfit import modalities
from smallfit.data import Dataset
from smallfit.doctor.findings import Finding


def leaky_columns(dataset: Dataset, seed: int = 0) -> tuple[list[Finding], dict[str, str]]:
    """One finding per column that alone predicts the label, and how they were judged."""
    found, note = modalities.get(dataset.modality).lone_predictors(dataset, seed)
    findings = [
        Finding(
            "leaky_column",
            [p.column],
            f"column `{p.column}` of {dataset.source} alone predicts the label: "
            f"{p.accuracy:.0%} cross-validated (every other column together: {p.others:.0%})",
            p.accuracy,
            f"Is `{p.column}` known only after the label? If so, leave it out "
            f"(--column-types {p.column}=identifier): a model using it scores well here and "
            "fails where the label is unknown.",
        )
        for p in found
    ]
    return findings, ({} if note is None else {"leaky_columns": note})
