"""How the classes are populated: imbalance (a class with under half an even share of
the items) and outliers (items far from every class centroid in the embedding)."""

from __future__ import annotations

import numpy as np

from smallfit.data import Dataset
from smallfit.doctor.duplicates import FAR_OUT
from smallfit.doctor.findings import Finding
from smallfit.numeric import normalise


def class_imbalance(dataset: Dataset) -> list[Finding]:
    """One finding when some class has under half an even share of the items: below that,
    accuracy is visibly led by the large classes, so read balanced accuracy and recall."""
    counts = dataset.class_counts()
    even = len(dataset) / len(counts)
    small = sorted((c for c, n in counts.items() if n < even / 2), key=lambda c: counts[c])
    if not small:
        return []
    largest = max(counts, key=counts.get)
    ratio = counts[largest] / max(counts[small[0]], 1)
    shown = ", ".join(f"{c} ({counts[c]})" for c in small)
    return [
        Finding(
            "class_imbalance",
            [str(c) for c in small],
            f"largest class {largest} has {counts[largest]} items, {ratio:.1f}x the smallest; "
            f"under half an even share ({even:.0f}): {shown}",
            float(ratio),
            f"Add examples of {', '.join(map(str, small[:3]))} if you can; judge the model by "
            "balanced accuracy and per-class recall (the probe already weighs classes "
            "evenly).",
        )
    ]


def outliers(dataset: Dataset, embeddings: np.ndarray) -> tuple[list[Finding], dict[str, str]]:
    """Items whose cosine distance to the nearest class centroid (their own class's
    without them) is above the far-out fence (Q3 + 3 IQR) of all items' such distances."""
    y = dataset.y
    unit = normalise(embeddings)
    sums = np.zeros((len(dataset.classes), unit.shape[1]))
    np.add.at(sums, y, unit)
    counts = np.bincount(y, minlength=len(dataset.classes)).astype(np.float64)
    means = sums / np.maximum(counts, 1)[:, None]
    similarity = unit @ normalise(means).T
    own = sums[y] - unit  # own class without the item itself
    norms = np.linalg.norm(own, axis=1)
    similarity[np.arange(len(y)), y] = np.where(
        norms > 1e-12, (unit * own).sum(axis=1) / np.maximum(norms, 1e-12), -1.0
    )
    similarity[:, counts == 0] = -1.0
    distance = 1.0 - similarity.max(axis=1)
    q1, q3 = np.quantile(distance, [0.25, 0.75])
    fence = q3 + FAR_OUT * (q3 - q1)
    findings = [
        Finding(
            "outlier",
            [dataset.names[i]],
            f"cosine distance {distance[i]:.3f} to the nearest class centroid "
            f"({dataset.classes[int(similarity[i].argmax())]}); fence {fence:.3f}",
            float(distance[i]),
            "Look at it: it may be from another source, corrupt, or a class not in the data; "
            "remove it if it does not belong.",
        )
        for i in np.flatnonzero(distance > fence)
    ]
    note = f"distance to the nearest class centroid above Q3 + {FAR_OUT:g} IQR = {fence:.3f}"
    return sorted(findings, key=lambda f: -f.score), {"outliers": note}
