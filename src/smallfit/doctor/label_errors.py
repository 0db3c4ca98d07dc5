"""Likely label errors: confident learning (Northcutt et al. 2021, via cleanlab) on a
probe's out-of-fold probabilities, and each item's suspicion, 1 - p(given label)."""

from __future__ import annotations

import numpy as np

from smallfit.data import Dataset
from smallfit.doctor.findings import Finding


def label_suspicion(y: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per item, suspicion 1 - p(given label) (cleanlab's self-confidence) and whether
    confident learning counts it as a label issue; rows of NaN (never scored) get NaN and
    False. cleanlab: its confident-learning estimate is the reference implementation."""
    from cleanlab.filter import find_label_issues

    suspicion = np.full(len(y), np.nan)
    flagged = np.zeros(len(y), dtype=bool)
    scored = ~np.isnan(probabilities).any(axis=1)
    if scored.sum() < 2 or np.unique(y[scored]).size < 2:
        return suspicion, flagged
    p = probabilities[scored]
    p = p / p.sum(axis=1, keepdims=True)
    suspicion[scored] = 1.0 - p[np.arange(len(p)), y[scored]]
    present = np.unique(y[scored])  # cleanlab wants classes 0..K-1, each present
    remap = np.searchsorted(present, y[scored])
    sub = p[:, present] / np.maximum(p[:, present].sum(axis=1, keepdims=True), 1e-12)
    flagged[scored] = find_label_issues(remap, sub, n_jobs=1)
    return suspicion, flagged


def label_issues(dataset: Dataset, probabilities: np.ndarray) -> tuple[list[Finding], np.ndarray]:
    """Items confident learning flags, most suspicious first, with the likelier class;
    and every item's suspicion."""
    suspicion, flagged = label_suspicion(dataset.y, probabilities)
    findings = []
    for i in np.flatnonzero(flagged):
        given = dataset.classes[dataset.y[i]]
        likely = dataset.classes[int(np.argmax(probabilities[i]))]
        findings.append(
            Finding(
                "label_issue",
                [dataset.names[i]],
                f"labeled {given}; out-of-fold p({given}) = {probabilities[i, dataset.y[i]]:.2f},"
                f" p({likely}) = {probabilities[i].max():.2f}",
                float(suspicion[i]),
                f"Check the label: it may be {likely}.",
            )
        )
    return sorted(findings, key=lambda f: -f.score), suspicion


def out_of_fold_probabilities(dataset: Dataset, encoder, seed: int = 0, probe=None) -> np.ndarray:
    """A probe's cross-validated probabilities (n, n_classes), averaged over repeats;
    `probe` is a strategy (default: `probe`, a linear head on the encoder's embeddings)."""
    from smallfit.evaluate import make_splits, out_of_fold
    from smallfit.strategies.probe import Probe

    probe = Probe(random_state=seed) if probe is None else probe
    splits = make_splits(dataset.y, random_state=seed)
    probas = out_of_fold(
        probe, dataset, encoder, splits, f"Out-of-fold probabilities ({probe.name})"
    )
    return mean_over_repeats(probas)


def mean_over_repeats(probas: np.ndarray) -> np.ndarray:
    """(repeats, n, K) with NaN where unscored -> (n, K), NaN rows for never-scored items."""
    counts = (~np.isnan(probas)).sum(axis=0)
    total = np.nansum(probas, axis=0)
    return np.divide(total, counts, out=np.full(total.shape, np.nan), where=counts > 0)
