"""What a fit records for its report besides the metrics: a few items per class and the
most confident out-of-fold mistakes. Only names and short snippets are kept (text, never
images), so model.json stays small; the report draws thumbnails from the files if they
are still there when it is rendered."""

from __future__ import annotations

import numpy as np

from smallfit import modalities

MISTAKES = 12
SAMPLES = 48  # items shown in the data overview, spread over the classes


def _shown(dataset, index: int) -> dict:
    snippet = modalities.get(dataset.modality).snippet(dataset.items[index])
    return {"item": dataset.names[index]} | snippet


def fit_examples(dataset, probas: np.ndarray | None) -> dict:
    """Sample items per class and, given the chosen candidate's out-of-fold probabilities
    (repeats, n, classes), the mistakes it made with the highest confidence (probabilities
    averaged over repeats) and each item's out-of-fold predicted class (its index, or None
    where it was never scored), which says which items make each confusion cell."""
    y = dataset.y
    per_class = max(1, min(4, SAMPLES // len(dataset.classes)))
    samples = {}
    for label, name in enumerate(dataset.classes):
        rows = np.flatnonzero(y == label)
        picked = rows[np.linspace(0, len(rows) - 1, min(per_class, len(rows))).astype(int)]
        samples[str(name)] = [_shown(dataset, int(i)) for i in picked] if len(rows) else []
    examples: dict = {"samples": samples}
    if probas is not None:
        mean = probas.mean(axis=0)  # unscored items are NaN in every repeat
        scored = np.flatnonzero(~np.isnan(mean[:, 0]))
        predicted, confidence = mean[scored].argmax(axis=1), mean[scored].max(axis=1)
        wrong = np.flatnonzero(predicted != y[scored])
        order = wrong[np.argsort(-confidence[wrong], kind="stable")][:MISTAKES]
        examples["mistakes"] = [
            _shown(dataset, int(scored[k]))
            | {
                "label": str(dataset.classes[y[scored[k]]]),
                "predicted": str(dataset.classes[predicted[k]]),
                "confidence": round(float(confidence[k]), 4),
            }
            for k in order
        ]
        examples["predicted"] = [None] * len(dataset)
        for k, index in enumerate(scored):
            examples["predicted"][int(index)] = int(predicted[k])
        examples["n_mistakes"] = int(len(wrong))
        examples["n_scored"] = int(len(scored))
    return examples
