"""The data doctor: what in a labeled dataset deserves a look before (or after) a fit.

Checks, each a small function returning findings: exact duplicates (content hash) and
copies that disagree on their label; near duplicates; duplicates shared by a training
and a test set (leakage, which inflates test scores); likely label errors (confident
learning, Northcutt et al. 2021, via cleanlab, on a probe's out-of-fold probabilities);
class imbalance; items far from every class. It never changes the data: it reads it
and returns findings with suggestions.

Near duplicates are judged relative to the data's own spacing, by a ratio test (as in
Lowe's SIFT matching): a pair's distance is divided by the local spacing of both items
(each one's distance to its 10th nearest neighbour), and a pair is a near duplicate when
that ratio is a far-out low value among every item's nearest-neighbour ratio (below
Tukey's far-out fence, Q1 - 3 IQR, of their logarithms). Two signals are tested alone
and together (the product of their ratios): the pretrained embedding's cosine distance,
and a second one the embedding is blind to. For images that is the correlation of small
grey thumbnails, taken at the best of the nine one-pixel offsets: it ignores brightness
and contrast (darkened, brightened, re-encoded copies) and a shift by one pixel, which
moves a small picture's embedding about as far as a different item. For texts it is the
Jaccard overlap of case-folded word 3-grams: lower-cased, re-spaced and truncated copies.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smallfit.data import Dataset, load_image
from smallfit.errors import SmallfitError
from smallfit.modalities.reading import to_dataset
from smallfit.numeric import normalise
from smallfit.progress import progress_bar

KINDS = (
    "exact_duplicate",
    "conflicting_labels",
    "near_duplicate",
    "leakage",
    "label_issue",
    "class_imbalance",
    "outlier",
)
COLUMNS = ["kind", "items", "detail", "score", "suggestion"]
LOCAL_SCALE_NEIGHBOUR = 10  # the k-th nearest neighbour's distance is an item's local spacing
FAR_OUT = 3.0  # Tukey's far-out fence, in interquartile ranges
# A near duplicate is at least twice as close as its items' spacing, whatever the fence
# says: where most items have no close neighbour in a signal (short texts share no word
# 3-grams) the spread is zero and the fence would admit any pair sharing anything.
MAX_RATIO = 0.5
THUMBNAIL_SIDES = (16, 32)  # thumbnails: the data's smallest side, within these bounds
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


# -- exact duplicates ---------------------------------------------------------------------
def exact_duplicates(dataset: Dataset) -> list[Finding]:
    """Groups of items with the same content (hash); copies labeled differently apart."""
    findings = []
    for group in _groups_by_content(dataset.items):
        names = [dataset.names[i] for i in group]
        labels = sorted({str(dataset.labels[i]) for i in group}) if _labeled(dataset) else []
        if len(labels) > 1:
            findings.append(
                Finding(
                    "conflicting_labels",
                    names,
                    f"{len(group)} identical copies labeled differently: {', '.join(labels)}",
                    float(len(group)),
                    "Decide the right label and keep one copy: a model cannot satisfy both, "
                    "and a copy on each side of a split is counted wrong whatever it predicts.",
                )
            )
        else:
            shown = f", all labeled {labels[0]}" if labels else ""
            findings.append(
                Finding(
                    "exact_duplicate",
                    names,
                    f"{len(group)} identical copies{shown}",
                    float(len(group)),
                    "Keep one copy: copies weigh the item more in training, and a copy on "
                    "each side of a cross-validation split inflates the estimate.",
                )
            )
    return sorted(findings, key=lambda f: -f.score)


def _groups_by_content(items: list[Any]) -> list[list[int]]:
    from smallfit.data.identity import item_key

    groups: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[item_key(item)].append(index)
    return [g for g in groups.values() if len(g) > 1]


def _labeled(dataset: Dataset) -> bool:
    return dataset.labels is not None


# -- near duplicates and leakage -----------------------------------------------------------
def cosine_distances(embeddings: np.ndarray) -> np.ndarray:
    unit = normalise(embeddings)
    return np.clip(1.0 - unit @ unit.T, 0.0, 2.0)


def thumbnail_distances(items: list[Any]) -> np.ndarray:
    """1 - correlation of grey thumbnails, at the best one-pixel offset (see the module doc).

    The thumbnail side is the smallest image side in the data (16 to 32 pixels), so a small
    image is never enlarged and a one-pixel shift of it stays one thumbnail pixel. Each
    thumbnail's border pixel is cropped so the nine offset windows compare the same area.
    """
    images = []
    with progress_bar(len(items), "Thumbnails") as advance:
        for item in items:
            images.append(load_image(item).convert("L"))
            advance()
    side = int(np.clip(min(min(i.size) for i in images), *THUMBNAIL_SIDES))
    grey = np.stack([np.asarray(i.resize((side, side)), dtype=np.float32) for i in images])

    def windows(dx: int, dy: int) -> np.ndarray:
        part = grey[:, 1 + dy : side - 1 + dy, 1 + dx : side - 1 + dx].reshape(len(grey), -1)
        part = part - part.mean(axis=1, keepdims=True)
        return part / np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-6)

    centre = windows(0, 0)
    best = np.full((len(grey), len(grey)), -1.0, dtype=np.float32)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            np.maximum(best, windows(dx, dy) @ centre.T, out=best)
    best = np.maximum(best, best.T)
    return np.clip(1.0 - best, 0.0, 2.0)


def shingle_distances(texts: list[str]) -> np.ndarray:
    """1 - Jaccard overlap of the texts' sets of case-folded word 3-grams (1 with none)."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(ngram_range=(3, 3), binary=True, lowercase=True)
    try:
        shingles = vectorizer.fit_transform(texts)
    except ValueError:  # no text has three words
        return np.ones((len(texts), len(texts)))
    shared = (shingles @ shingles.T).toarray().astype(np.float64)
    sizes = np.asarray(shingles.sum(axis=1)).ravel().astype(np.float64)
    union = sizes[:, None] + sizes[None, :] - shared
    return 1.0 - np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)


def near_pairs(distances: dict[str, np.ndarray]) -> tuple[list[tuple[int, int, str]], str]:
    """Pairs (i, j, signals that flagged them), i < j, by the ratio test of the module doc,
    and a note saying the fences used. Items must be distinct (exact copies removed)."""
    n = len(next(iter(distances.values())))
    if n < 4:
        return [], f"skipped: {n} distinct items are too few to learn the data's spacing"
    k = min(LOCAL_SCALE_NEIGHBOUR, n - 1)
    ratios = {}
    for name, matrix in distances.items():
        matrix = np.maximum(matrix.astype(np.float64), 1e-6)
        np.fill_diagonal(matrix, np.inf)
        spacing = np.partition(matrix, k - 1, axis=1)[:, k - 1]
        ratios[name] = matrix / np.sqrt(np.outer(spacing, spacing))
    if len(ratios) > 1:
        ratios["together"] = np.prod(list(ratios.values()), axis=0)
    flagged: dict[tuple[int, int], list[str]] = defaultdict(list)
    fences = []
    for name, ratio in ratios.items():
        factors = len(distances) if name == "together" else 1
        fence = lower_fence(np.log(ratio.min(axis=1)))
        fence = float(np.exp(min(fence, factors * np.log(MAX_RATIO))))
        fences.append(f"{name} {fence:.3g}")
        for i, j in zip(*np.nonzero(np.triu(ratio < fence, 1)), strict=True):
            flagged[(int(i), int(j))].append(name)
    note = (
        "a pair's distance over the geometric mean of both items' distance to their "
        f"{k}th nearest neighbour, below the far-out fence (Q1 - {FAR_OUT:g} IQR, from the "
        f"upper half, of the log nearest-neighbour ratios; at most {MAX_RATIO:g} per signal): "
        f"{', '.join(fences)}"
    )
    return [(i, j, "+".join(s)) for (i, j), s in sorted(flagged.items())], note


def lower_fence(values: np.ndarray) -> float:
    """Tukey's far-out lower fence, Q1 - 3 IQR, with the quartiles read from the upper half
    of the values (Q1 ~ 2 median - Q3, IQR ~ 2 (Q3 - median)): copies crowd the lower
    tail, and in small data they can be a quarter of the items or more."""
    median, q3 = np.quantile(values, [0.5, 0.75])
    return float(median - (1 + 2 * FAR_OUT) * (q3 - median))


def _distance_signals(modality: str, items: list[Any], embeddings: np.ndarray) -> dict:
    second = thumbnail_distances(items) if modality == "image" else shingle_distances(items)
    name = "thumbnail" if modality == "image" else "word 3-grams"
    return {"embedding": cosine_distances(embeddings), name: second}


def near_duplicates(
    dataset: Dataset,
    embeddings: np.ndarray,
    test: Dataset | None = None,
    test_embeddings: np.ndarray | None = None,
) -> tuple[list[Finding], dict[str, str]]:
    """Near duplicates within `dataset` and, with a `test` set, leakage: exact and near
    copies shared with it. One representative per exact-copy group takes part."""
    from smallfit.data.identity import item_key

    pooled = list(dataset.items) + (list(test.items) if test is not None else [])
    names = list(dataset.names) + (list(test.names) if test is not None else [])
    vectors = embeddings if test is None else np.vstack([embeddings, test_embeddings])
    in_test = np.arange(len(pooled)) >= len(dataset)
    first: dict[str, int] = {}
    copies: dict[int, list[int]] = defaultdict(list)
    for index, item in enumerate(pooled):
        copies[first.setdefault(item_key(item), index)].append(index)
    findings = [
        _leak(names[i], names[j], 1.0, "identical content")
        for group in copies.values()
        for i in group
        if not in_test[i]
        for j in group
        if in_test[j]
    ]
    distinct = sorted(copies)
    signals = _distance_signals(dataset.modality, [pooled[i] for i in distinct], vectors[distinct])
    pairs, note = near_pairs(signals)
    similarity = 1.0 - signals["embedding"]
    second = [s for s in signals if s != "embedding"][0]
    for a, b, flagged_by in pairs:
        i, j = distinct[a], distinct[b]
        cosine = float(similarity[a, b])
        shown = (
            f"embedding cosine {cosine:.3f}, {second} similarity {1 - signals[second][a, b]:.3f}"
            f" (flagged by {flagged_by})"
        )
        if in_test[i] != in_test[j]:
            train_i, test_j = (i, j) if in_test[j] else (j, i)
            findings.append(_leak(names[train_i], names[test_j], cosine, shown))
        elif not in_test[i]:
            findings.append(_near(dataset, i, j, cosine, shown))
    near = sorted([f for f in findings if f.kind == "near_duplicate"], key=lambda f: -f.score)
    leaks = sorted([f for f in findings if f.kind == "leakage"], key=lambda f: -f.score)
    return near + leaks, {"near_duplicates": note}


def _near(dataset: Dataset, i: int, j: int, cosine: float, shown: str) -> Finding:
    labels = (str(dataset.labels[i]), str(dataset.labels[j])) if _labeled(dataset) else None
    if labels and labels[0] != labels[1]:
        return Finding(
            "near_duplicate",
            [dataset.names[i], dataset.names[j]],
            f"{shown}; labeled differently: {labels[0]} / {labels[1]}",
            cosine,
            "Look at both side by side: if they show the same thing, fix one label and keep "
            "one copy.",
        )
    return Finding(
        "near_duplicate",
        [dataset.names[i], dataset.names[j]],
        shown,
        cosine,
        "Look at both side by side: if one is an edited copy of the other (resized, "
        "re-encoded, brightened, re-typed), keep one; copies on both sides of a "
        "cross-validation split inflate the estimate.",
    )


def _leak(train_name: str, test_name: str, score: float, shown: str) -> Finding:
    return Finding(
        "leakage",
        [train_name, test_name],
        f"in both the training and the test set: {shown}",
        score,
        "Remove it from the test set (or from training): a test item the model was trained "
        "on inflates the test score.",
    )


# -- label errors ----------------------------------------------------------------------
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


def out_of_fold_probabilities(dataset: Dataset, encoder, seed: int = 0) -> np.ndarray:
    """A probe's cross-validated probabilities (n, n_classes), averaged over repeats."""
    from smallfit.evaluate import make_splits, out_of_fold
    from smallfit.strategies.probe import Probe

    splits = make_splits(dataset.y, random_state=seed)
    probas = out_of_fold(
        Probe(random_state=seed), dataset, encoder, splits, "Out-of-fold probabilities (probe)"
    )
    return mean_over_repeats(probas)


def mean_over_repeats(probas: np.ndarray) -> np.ndarray:
    """(repeats, n, K) with NaN where unscored -> (n, K), NaN rows for never-scored items."""
    counts = (~np.isnan(probas)).sum(axis=0)
    total = np.nansum(probas, axis=0)
    return np.divide(total, counts, out=np.full(total.shape, np.nan), where=counts > 0)


# -- class balance and outliers ------------------------------------------------------------
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


# -- putting it together -----------------------------------------------------------------
def examine(
    dataset: Dataset,
    test: Dataset | None = None,
    backbone: str | None = None,
    seed: int = 0,
) -> Findings:
    """Every check on a labeled `dataset` (and leakage into `test`, labeled or not)."""
    from smallfit import backbones

    if not _labeled(dataset):
        raise SmallfitError(
            f"{dataset.source} has no labels; the doctor examines labeled data "
            "(a folder of class sub-folders, or a table with a label column)."
        )
    if test is not None and test.modality != dataset.modality:
        raise SmallfitError(
            f"The test set {test.source} holds {test.modality}s but {dataset.source} holds "
            f"{dataset.modality}s; give a test set of the same kind."
        )
    name = backbone or backbones.DEFAULTS[dataset.modality]
    if backbones.modality_of(name) != dataset.modality:
        raise SmallfitError(f"Backbone {name} is not for {dataset.modality}s.")
    encoder = backbones.create(name)
    notes: dict[str, str] = {"backbone": name}
    findings = exact_duplicates(dataset)
    embeddings = encoder.embed(dataset.items, description=f"Embedding with {name}")
    test_embeddings = None
    if test is not None:
        test_embeddings = encoder.embed(test.items, description=f"Embedding {test.source}")
    near, note = near_duplicates(dataset, embeddings, test, test_embeddings)
    findings += near
    notes |= note
    suspicion = None
    try:
        probabilities = out_of_fold_probabilities(dataset, encoder, seed)
    except SmallfitError as error:
        notes["label_issues"] = f"skipped: {error}"
    else:
        found, suspicion = label_issues(dataset, probabilities)
        findings += found
        notes["label_issues"] = (
            "confident learning (cleanlab) on out-of-fold probabilities of a probe on "
            f"{name} embeddings; suspicion = 1 - p(given label)"
        )
    findings += class_imbalance(dataset)
    found, note = outliers(dataset, embeddings)
    findings += found
    notes |= note
    return Findings(findings, notes, dataset.source, len(dataset), suspicion)


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


def fit_summary(dataset: Dataset, probas: np.ndarray | None) -> dict:
    """The cheap checks, for a fit's record: exact duplicates and conflicting labels,
    class imbalance, and label suspects from the chosen candidate's out-of-fold
    probabilities (repeats, n, n_classes) when there are some. No model is fitted."""
    findings = exact_duplicates(dataset) + class_imbalance(dataset)
    if probas is not None:
        findings += label_issues(dataset, mean_over_repeats(probas))[0]
    return summary(Findings(findings, source=dataset.source, n_items=len(dataset)))


# -- side-by-side view ------------------------------------------------------------------
PAIR_KINDS = ("conflicting_labels", "exact_duplicate", "near_duplicate", "leakage")


def write_pairs_html(
    findings: Findings, dataset: Dataset, test: Dataset | None, path: Path
) -> None:
    """A self-contained HTML page with every duplicate and leakage finding's items side by
    side: thumbnails (inline PNG, up to 192 px) for images, the texts for texts."""
    import base64
    import html
    import io

    by_name = {n: i for n, i in zip(dataset.names, dataset.items, strict=True)}
    if test is not None:
        by_name |= {f"test: {n}": i for n, i in zip(test.names, test.items, strict=True)}

    def show(name: str, position: int, kind: str) -> str:
        key = f"test: {name}" if kind == "leakage" and position == 1 else name
        item = by_name.get(key, by_name.get(name))
        if item is None:
            body = ""
        elif dataset.modality == "image":
            picture = load_image(item)
            picture.thumbnail((192, 192))
            buffer = io.BytesIO()
            picture.save(buffer, "PNG")
            data = base64.b64encode(buffer.getvalue()).decode()
            body = f'<img src="data:image/png;base64,{data}" alt="{html.escape(name)}">'
        else:
            body = f"<p>{html.escape(str(item)[:2000])}</p>"
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
