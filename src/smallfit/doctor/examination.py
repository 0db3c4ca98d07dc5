"""Putting the checks together: `examine` runs every check on a labeled Dataset (and a
test set for leakage), `doctor` does so from any data source and returns a table, and
`fit_summary` runs only the cheap checks, for a fit's record."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from smallfit.data import Dataset
from smallfit.doctor.classes import class_imbalance, outliers
from smallfit.doctor.duplicates import exact_duplicates, near_duplicates
from smallfit.doctor.findings import Finding, Findings, summary
from smallfit.doctor.label_errors import label_issues, mean_over_repeats, out_of_fold_probabilities
from smallfit.doctor.leaky_columns import leaky_columns
from smallfit.doctor.space import doctor_space
from smallfit.errors import SmallfitError
from smallfit.modalities.reading import to_dataset


def examine(
    dataset: Dataset,
    test: Dataset | None = None,
    backbone: str | None = None,
    seed: int = 0,
) -> Findings:
    """Every check on a labeled `dataset` (and leakage into `test`, labeled or not, read
    as the data is: a table's test rows under the data's column types)."""
    from smallfit import modalities

    if dataset.labels is None:
        raise SmallfitError(
            f"{dataset.source} has no labels; the doctor examines labeled data "
            "(a folder of class sub-folders, or a table with a label column)."
        )
    if test is not None and test.modality != dataset.modality:
        raise SmallfitError(
            f"The test set {test.source} holds {test.modality}s but {dataset.source} holds "
            f"{dataset.modality}s; give a test set of the same kind."
        )
    kind = modalities.get(dataset.modality)
    if test is not None:
        test = kind.conform(test, kind.input_schema(dataset))
    space = doctor_space(dataset, test, backbone, seed)
    notes: dict[str, str] = {"space": space.described}
    findings = exact_duplicates(dataset)
    near, note = near_duplicates(dataset, space.vectors, test, space.test_vectors, space.metric)
    findings += near
    notes |= note
    found, note = leaky_columns(dataset, seed)
    findings += found
    notes |= note
    suspicion = None
    try:
        probabilities = out_of_fold_probabilities(dataset, space.encoder, seed, space.probe)
    except SmallfitError as error:
        notes["label_issues"] = f"skipped: {error}"
    else:
        found, suspicion = label_issues(dataset, probabilities)
        findings += found
        notes["label_issues"] = (
            "confident learning (cleanlab) on out-of-fold probabilities of "
            f"{space.probe.name} on {space.described}; suspicion = 1 - p(given label)"
        )
    findings += class_imbalance(dataset)
    findings += faulty_signals(dataset)
    found, note = outliers(dataset, space.vectors, space.metric)
    findings += found
    notes |= note
    return Findings(findings, notes, dataset.source, len(dataset), suspicion)


def faulty_signals(dataset: Dataset) -> list[Finding]:
    """One finding per item whose recording is faulty (Modality.faulty_items), worst first."""
    from smallfit import modalities

    found = modalities.get(dataset.modality).faulty_items(dataset)
    return [
        Finding(
            "faulty_signal",
            [dataset.names[index]],
            f"{dataset.names[index]} ({dataset.labels[index]}): {problem}",
            score,
            "Listen to it: record it again or remove it; a model learns the fault as if it "
            "were the class.",
        )
        for index, problem, score in sorted(found, key=lambda f: -f[2])
    ]


def doctor(
    data: Any,
    labels: Any = None,
    *,
    test: Any = None,
    backbone: str | None = None,
    seed: int = 0,
    text_column: str | None = None,
    label_column: str | None = None,
    skip_bad: bool = False,
) -> pd.DataFrame:
    """Examine labeled data (a folder, a table, a Dataset, or items with `labels`), and
    `test` for leakage; a DataFrame of findings (kind, items, detail, score, suggestion),
    with how each check decided in `.attrs["notes"]`. The data is only read."""
    dataset = to_dataset(
        data,
        labels,
        labeled=True,
        text_column=text_column,
        label_column=label_column,
        skip_bad=skip_bad,
    )
    test_set = None
    if test is not None:
        test_set = to_dataset(test, labeled=False, text_column=text_column, skip_bad=skip_bad)
    return examine(dataset, test_set, backbone=backbone, seed=seed).frame()


def fit_summary(dataset: Dataset, probas: np.ndarray | None) -> dict:
    """The cheap checks, for a fit's record: exact duplicates and conflicting labels,
    class imbalance, and label suspects from the chosen candidate's out-of-fold
    probabilities (repeats, n, n_classes) when there are some. No model is fitted."""
    findings = exact_duplicates(dataset) + class_imbalance(dataset)
    if probas is not None:
        findings += label_issues(dataset, mean_over_repeats(probas))[0]
    return summary(Findings(findings, source=dataset.source, n_items=len(dataset)))
