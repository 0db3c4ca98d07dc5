"""Active learning: which unlabeled items to label next, and adding the answers.

Query strategies are small functions registered by name; each looks at a `Candidates`
(the pool's L2-normalised embeddings by the model's reference encoder, the stored
embeddings of the items already labeled, and, for those that need a model, its
probabilities on the pool or a committee's) and returns the chosen pool rows in order,
each with a score and a reason a person can read.

- `least-confidence`, `margin`, `entropy`: the model's own uncertainty.
- `kcenter`: k-center greedy (Sener & Savarese 2018) from the labeled embeddings, so
  each pick is the pool item farthest from everything labeled or chosen.
- `committee`: query by committee (Seung et al. 1992); the members are the model's
  strategy refit on each cross-validation fold of the stored reference sample, and the
  disagreement is their Jensen-Shannon divergence (mutual information, in bits).
- `hybrid` (the default with a model): k-means with k = n clusters the pool, so a batch
  is n different regions, not n near-copies; in each cluster the item with the largest
  (1 - margin) x typicality is taken (information density, Settles & Craven 2008). With
  few labels the model is uncertain nearly everywhere, so typicality decides and picks
  are representative (what works at tiny budgets, Hacohen et al. 2022); as labels grow,
  uncertainty concentrates near the class boundaries and decides instead.
- `typiclust` (the default cold start; Hacohen et al. 2022, "low budget"): k-means into
  |labeled| + n clusters, then the most typical item (densest neighbourhood) of the
  largest clusters holding the fewest labeled items: representative and diverse.
- `random`: a uniform sample, the baseline every strategy must beat.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import pairwise_distances_argmin_min

from smallfit import backbones
from smallfit.data import Dataset
from smallfit.data.tables import LABEL_NAMES, TEXT_NAMES, choose_column, is_table_path, read_table
from smallfit.errors import SmallfitError, list_some
from smallfit.modalities.pools import read_pool
from smallfit.modalities.reading import read_source, to_dataset
from smallfit.model import Model, load
from smallfit.numeric import normalise
from smallfit.reference import DTYPE, Reference, reference_encoder, require_reference

COLUMNS = ["item", "rank", "score", "strategy", "reason", "label"]
# TypiClust's constants (Hacohen et al. 2022, their code): neighbours that define
# typicality, the cap on clusters, and the size below which a cluster is left for last
# (tiny clusters are outliers, not regions worth a label).
TYPICAL_NEIGHBOURS = 20
MAX_CLUSTERS = 500
MIN_CLUSTER_SIZE = 5
# A pool item is a training item when its embedding, rounded to float16 as the stored
# ones are, lies within this relative distance of a stored embedding: float16 rounding
# moves a vector by at most 2^-11 (about 5e-4) of its length, distinct items lie far
# further apart.
SAME_ITEM_TOLERANCE = 1e-3


@dataclass
class Candidates:
    """What a query strategy may look at (all embeddings L2-normalised, float32)."""

    pool: np.ndarray  # (n_pool, dim)
    labeled: np.ndarray  # (n_labeled, dim); empty at a cold start
    classes: list
    proba: np.ndarray | None = None  # (n_pool, n_classes), the model's
    committee: np.ndarray | None = None  # (members, n_pool, n_classes)
    seed: int = 0


@dataclass
class Picks:
    """Pool rows in the order chosen, each with its score and the reason in words."""

    rows: np.ndarray
    scores: np.ndarray
    reasons: list[str]


@dataclass(frozen=True)
class Query:
    name: str
    select: Callable[[Candidates, int], Picks]
    needs: str | None  # "proba", "committee", or None: embeddings only (works cold)
    score: str  # what the score column means


QUERIES: dict[str, Query] = {}


def query(name: str, needs: str | None, score: str):
    """Register a query strategy `select(candidates, n) -> Picks` under `name`."""

    def register(select: Callable[[Candidates, int], Picks]):
        QUERIES[name] = Query(name, select, needs, score)
        return select

    return register


def _top_two(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the two most probable classes and the margin between them."""
    order = np.argsort(-proba, axis=1, kind="stable")
    first, second = order[:, 0], order[:, 1] if proba.shape[1] > 1 else order[:, 0]
    rows = np.arange(len(proba))
    return first, second, proba[rows, first] - proba[rows, second]


def _entropy_bits(proba: np.ndarray) -> np.ndarray:
    safe = np.clip(proba, 1e-12, 1.0)
    return -(proba * np.log2(safe)).sum(axis=-1)


def _ranked(values: np.ndarray, n: int, describe: Callable[[int], str]) -> Picks:
    """The n rows with the largest `values` (ties: earlier row first)."""
    rows = np.argsort(-values, kind="stable")[:n]
    return Picks(rows, values[rows], [describe(int(i)) for i in rows])


@query("least-confidence", "proba", "1 - the top class probability (largest first)")
def least_confidence(c: Candidates, n: int) -> Picks:
    top = c.proba.max(axis=1)
    best = c.proba.argmax(axis=1)
    return _ranked(1 - top, n, lambda i: f"top class {c.classes[best[i]]} at only {top[i]:.2f}")


@query("margin", "proba", "top minus second class probability (smallest first)")
def margin(c: Candidates, n: int) -> Picks:
    first, second, gap = _top_two(c.proba)
    picks = _ranked(
        -gap,
        n,
        lambda i: f"margin {gap[i]:.2f} between {c.classes[first[i]]} and {c.classes[second[i]]}",
    )
    picks.scores = -picks.scores
    return picks


@query("entropy", "proba", "entropy of the predicted probabilities in bits (largest first)")
def entropy(c: Candidates, n: int) -> Picks:
    bits = _entropy_bits(c.proba)
    first, second, _ = _top_two(c.proba)
    most = np.log2(c.proba.shape[1])
    return _ranked(
        bits,
        n,
        lambda i: (
            f"entropy {bits[i]:.2f} of at most {most:.2f} bits; "
            f"{c.classes[first[i]]} {c.proba[i, first[i]]:.2f}, "
            f"{c.classes[second[i]]} {c.proba[i, second[i]]:.2f}"
        ),
    )


@query("kcenter", None, "distance to the nearest labeled or already chosen item (largest first)")
def k_center(c: Candidates, n: int) -> Picks:
    """Greedy k-center: each pick is the pool item farthest from all labeled and picked
    items (a 2-approximation of the best cover, Sener & Savarese 2018)."""
    rows, scores, reasons = [], [], []
    if len(c.labeled):
        nearest = _nearest(c.pool, c.labeled)
    else:  # a cold start begins at the most central item
        centre = c.pool.mean(axis=0)
        first = int(np.linalg.norm(c.pool - centre, axis=1).argmin())
        rows.append(first)
        scores.append(float(np.linalg.norm(c.pool[first] - centre)))
        reasons.append("the most central pool item (where the cover starts)")
        nearest = _distances(c.pool, c.pool[[first]]).ravel()
        nearest[first] = -np.inf
    while len(rows) < n:
        pick = int(nearest.argmax())
        rows.append(pick)
        scores.append(float(nearest[pick]))
        reasons.append(
            f"distance {nearest[pick]:.2f} to the nearest labeled or chosen item, the farthest left"
        )
        nearest = np.minimum(nearest, _distances(c.pool, c.pool[[pick]]).ravel())
        nearest[rows] = -np.inf  # never again, even when duplicates leave all distances 0
    return Picks(np.array(rows), np.array(scores), reasons)


@query("committee", "committee", "disagreement of the fold models in bits (largest first)")
def committee(c: Candidates, n: int) -> Picks:
    consensus = c.committee.mean(axis=0)
    disagreement = _entropy_bits(consensus) - _entropy_bits(c.committee).mean(axis=0)
    votes = c.committee.argmax(axis=2)  # (members, n_pool)

    def describe(i: int) -> str:
        counts = np.bincount(votes[:, i], minlength=len(c.classes))
        said = ", ".join(
            f"{counts[k]} say {c.classes[k]}"
            for k in np.argsort(-counts, kind="stable")
            if counts[k]
        )
        return f"the {len(votes)} fold models disagree ({said}; {disagreement[i]:.2f} bits)"

    return _ranked(disagreement, n, describe)


@query("hybrid", "proba", "(1 - margin) x typicality within its cluster (largest first)")
def hybrid(c: Candidates, n: int) -> Picks:
    clusters = _kmeans(c.pool, n, c.seed)
    typical = _typicality(c.pool, clusters)
    for k in np.unique(clusters):  # relative to the cluster's most typical item: (0, 1]
        typical[clusters == k] /= typical[clusters == k].max()
    first, second, gap = _top_two(c.proba)
    value = (1 - gap) * typical
    best = [
        int(np.flatnonzero(clusters == k)[value[clusters == k].argmax()])
        for k in np.unique(clusters)
    ]
    rest = [int(i) for i in np.argsort(-value, kind="stable") if i not in set(best)]
    chosen = sorted(best, key=lambda i: -value[i]) + rest  # k-means may leave clusters empty
    rows = np.array(chosen[:n])
    sizes = np.bincount(clusters)
    return Picks(
        rows,
        value[rows],
        [
            f"margin {gap[i]:.2f} between {c.classes[first[i]]} and {c.classes[second[i]]}; "
            f"typicality {typical[i]:.2f} in its cluster of {sizes[clusters[i]]}"
            for i in rows
        ],
    )


@query("typiclust", None, "typicality: 1 / mean distance to its nearest neighbours (largest first)")
def typiclust(c: Candidates, n: int) -> Picks:
    """TypiClust (Hacohen, Dekel & Weinshall 2022): cluster labeled and pool items into
    |labeled| + n clusters; take, n times, the most typical unpicked pool item of the
    cluster with the fewest labeled (or picked) items, the largest among equals."""
    features = np.vstack([c.labeled, c.pool])
    offset = len(c.labeled)
    clusters = _kmeans(features, min(offset + n, MAX_CLUSTERS), c.seed)
    typical = _typicality(features, clusters)[offset:]
    pool_clusters = clusters[offset:]
    count = np.bincount(clusters, minlength=clusters.max() + 1)
    covered = np.bincount(clusters[:offset], minlength=len(count))
    open_ = np.ones(len(c.pool), dtype=bool)
    rows, scores, reasons = [], [], []
    for _ in range(n):
        usable = np.bincount(pool_clusters[open_], minlength=len(count)) > 0
        if (usable & (count >= MIN_CLUSTER_SIZE)).any():
            usable &= count >= MIN_CLUSTER_SIZE
        # fewest labeled items first, then the largest cluster
        cluster = min(np.flatnonzero(usable), key=lambda k: (covered[k], -count[k], k))
        members = np.flatnonzero(open_ & (pool_clusters == cluster))
        pick = int(members[typical[members].argmax()])
        reasons.append(
            f"the most typical open item of a cluster of {count[cluster]} "
            f"({covered[cluster]} labeled or chosen before)"
        )
        rows.append(pick)
        scores.append(float(typical[pick]))
        covered[cluster] += 1
        open_[pick] = False
    return Picks(np.array(rows), np.array(scores), reasons)


@query("random", None, "a uniform random number (the order drawn)")
def random_sample(c: Candidates, n: int) -> Picks:
    draws = np.random.default_rng(c.seed).random(len(c.pool))
    rows = np.argsort(draws, kind="stable")[:n]
    return Picks(rows, draws[rows], ["uniform random sample (the baseline)"] * len(rows))


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between unit rows, from one matrix product: |a - b|^2 = 2 - 2 a.b
    (several times faster than sklearn's general, float64 pairwise_distances)."""
    return np.sqrt(np.clip(2 - 2 * (a @ b.T), 0, None))


def _nearest(a: np.ndarray, b: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Distance from each row of `a` to its nearest row of `b` (unit rows), in bounded memory."""
    return np.concatenate(
        [_distances(a[i : i + chunk], b).min(axis=1) for i in range(0, len(a), chunk)]
    )


def _kmeans(features: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cluster labels (k-means++, one start); MiniBatchKMeans above 50 clusters, as
    TypiClust does, for speed."""
    k = min(k, len(features))
    kind = KMeans if k <= 50 else MiniBatchKMeans
    with warnings.catch_warnings():  # duplicates can leave fewer distinct clusters than k
        warnings.simplefilter("ignore")
        return kind(n_clusters=k, random_state=seed, n_init=1).fit_predict(features)


def _typicality(features: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """1 / mean distance to the nearest neighbours within each item's cluster (TypiClust:
    min(20, half the cluster) of them); 1 for an item alone in its cluster."""
    typical = np.ones(len(features))
    for k in np.unique(clusters):
        members = np.flatnonzero(clusters == k)
        neighbours = min(TYPICAL_NEIGHBOURS, len(members) // 2)
        if neighbours == 0:
            continue
        distances = _distances(features[members], features[members])
        nearest = np.partition(distances, neighbours, axis=1)[:, : neighbours + 1]
        # the row's smallest entry is the item itself (0), so the sum is over its neighbours
        typical[members] = 1 / (nearest.sum(axis=1) / neighbours + 1e-5)
    return typical


def fold_committee(
    fit_predict: Callable[[np.ndarray], np.ndarray], y: np.ndarray, seed: int = 0
) -> np.ndarray:
    """(folds, n_pool, n_classes): `fit_predict(train_rows)` — fit on those labeled rows,
    predict the pool — on each part of one stratified k-fold split of the labels `y`."""
    from smallfit.evaluate import make_splits

    splits = make_splits(y, repeats=1, random_state=seed)
    return np.stack([fit_predict(train) for train, _ in splits.pairs])


def model_committee(model: Model, reference: Reference, pool: np.ndarray, seed: int) -> np.ndarray:
    """The model's strategy refit on each cross-validation fold of its stored reference
    embeddings, predicting the pool embeddings `pool` (same encoder, float32)."""
    from smallfit.incremental import StoredEmbeddings

    if not type(model.strategy).embedding_only:
        raise SmallfitError(
            f"--strategy committee refits the model on its stored embeddings, which a "
            f"{model.strategy.name} model cannot do (only probe and prototype models can). "
            "Use margin, entropy, least-confidence, hybrid or kcenter."
        )
    if reference.encoder["name"] != model.backbone:
        raise SmallfitError(
            f"The model's reference sample was embedded by {reference.encoder['name']}, not by "
            f"its backbone {model.backbone}, so no committee can be refit on it."
        )
    table = np.vstack([reference.embeddings.astype(np.float32), pool])
    stored = StoredEmbeddings(table, model.backbone)
    rows = Dataset(
        items=list(range(len(reference))),
        modality=model.modality,
        labels=np.array(model.classes, dtype=object)[reference.labels],
        classes=model.classes,
    )
    pool_rows = list(range(len(reference), len(table)))

    def fit_predict(train: np.ndarray) -> np.ndarray:
        return clone(model.strategy).fit(rows.subset(train), stored).predict_proba(pool_rows)

    return fold_committee(fit_predict, reference.labels, seed)


def drop_training_items(
    pool: Dataset, embeddings: np.ndarray, reference: Reference
) -> tuple[Dataset, np.ndarray]:
    """Leave out pool items whose embedding is a stored training embedding (the model has
    no training items, only those embeddings), warning how many; refuse if none is left."""
    rounded = embeddings.astype(DTYPE).astype(np.float32)
    stored = reference.embeddings.astype(np.float32)
    nearest, distance = pairwise_distances_argmin_min(rounded, stored)
    same = distance <= SAME_ITEM_TOLERANCE * np.linalg.norm(stored[nearest], axis=1)
    if not same.any():
        return pool, embeddings
    name = f"The pool ({pool.source})"
    if same.all():
        raise SmallfitError(
            f"{name}: all {len(pool)} of its items are in the model's training data."
        )
    warnings.warn(
        f"{name}: {int(same.sum())} of its {len(pool)} items are in the model's training data "
        "(their embeddings equal stored ones) and are left out.",
        stacklevel=3,
    )
    keep = np.flatnonzero(~same)
    return pool.subset(keep), embeddings[keep]


def suggest(
    model: Model | str | Path | None,
    pool: Any,
    n: int = 20,
    *,
    strategy: str | None = None,
    seed: int = 0,
    backbone: str | None = None,
    text_column: str | None = None,
    skip_bad: bool = False,
) -> pd.DataFrame:
    """The `n` pool items most worth labeling next, best first, as a DataFrame with
    columns item, rank, score, strategy, reason and an empty label column to fill in.

    `model` None is a cold start (no labels yet): only strategies that need no model
    (typiclust, the default; kcenter; random), on `backbone`'s embeddings. With a model
    (default strategy hybrid), pool items that are in its training data are left out.
    """
    if model is None and strategy is None:
        strategy = "typiclust"
    strategy = strategy or "hybrid"
    if strategy not in QUERIES:
        raise SmallfitError(f"Unknown strategy {strategy!r}. Known: {', '.join(QUERIES)}.")
    chosen = QUERIES[strategy]
    if not isinstance(n, int | np.integer) or n < 1:
        raise SmallfitError(f"-n must be a positive number of items, not {n}.")
    if model is None:
        if chosen.needs:
            cold = ", ".join(name for name, q in QUERIES.items() if not q.needs)
            raise SmallfitError(
                f"--strategy {strategy} needs a model's predictions; a cold start (no model) "
                f"can use {cold}."
            )
        dataset = to_dataset(pool, labeled=False, text_column=text_column, skip_bad=skip_bad)
        if len(dataset) == 0:
            raise SmallfitError(f"The pool ({dataset.source}) is empty.")
        encoder = backbones.create(backbone or backbones.DEFAULTS[dataset.modality])
        if encoder.modality != dataset.modality:
            raise SmallfitError(
                f"Backbone {encoder.name} is for {encoder.modality}s but the pool "
                f"({dataset.source}) holds {dataset.modality}s."
            )
        _check_size(n, dataset, dropped=False)
        embeddings = encoder.embed(dataset.items, description=f"Embedding {dataset.source}")
        labeled, classes, proba, members = np.zeros((0, embeddings.shape[1])), [], None, None
    else:
        model = model if isinstance(model, Model) else load(model)
        reference = require_reference(model, "suggesting what to label")
        empty = Dataset(items=[], modality=model.modality)
        dataset = read_pool(
            pool, empty, text_column=text_column, what="The pool", skip_bad=skip_bad
        )
        encoder = reference_encoder(reference)
        embeddings = encoder.embed(dataset.items, description=f"Embedding {dataset.source}")
        dataset, embeddings = drop_training_items(dataset, embeddings, reference)
        labeled, classes = normalise(reference.embeddings.astype(np.float32)), model.classes
        _check_size(n, dataset, dropped=True)
        proba = model.predict_proba(dataset) if chosen.needs == "proba" else None
        members = (
            model_committee(model, reference, embeddings, seed)
            if chosen.needs == "committee"
            else None
        )
    picks = chosen.select(
        Candidates(normalise(embeddings), labeled, classes, proba, members, seed), n
    )
    shown = dataset.items if dataset.modality == "text" else dataset.names
    return pd.DataFrame(
        {
            "item": [shown[i] for i in picks.rows],
            "rank": np.arange(1, len(picks.rows) + 1),
            "score": np.round(picks.scores.astype(float), 6),
            "strategy": strategy,
            "reason": picks.reasons,
            "label": "",
        },
        columns=COLUMNS,
    )


def _check_size(n: int, pool: Dataset, dropped: bool) -> None:
    if n > len(pool):
        left = " left after dropping the model's training items" if dropped else ""
        raise SmallfitError(
            f"-n {n} asks for more items than the pool ({pool.source}) holds: {len(pool)}{left}. "
            f"Ask for at most {len(pool)}."
        )


def add_labels(
    answers: str | Path,
    data: str | Path,
    into: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
) -> dict[str, Any]:
    """Write NEW training data `into`: a copy of `data` plus the rows of `answers` (a CSV
    written by suggest, its label column filled in). Image folders are copied, each newly
    labeled image into into/<label>/; tables get the new rows appended. `data` and the
    labeled files are never changed. Rows left unlabeled are skipped; a label that is not
    a class of `data` becomes a new class (with a warning). Returns a summary."""
    answers, data, into = Path(answers), Path(data), Path(into)
    if into.exists():
        raise SmallfitError(f"{into} already exists; --into must name new training data.")
    if into.resolve().is_relative_to(data.resolve()):
        raise SmallfitError(f"--into {into} lies inside {data}; write the new data elsewhere.")
    train = read_source(data, labeled=True, text_column=text_column, label_column=label_column)
    if train.modality == "text" and not is_table_path(into):
        raise SmallfitError(
            f"--into {into} must be a table file (.csv, .tsv, .jsonl, .parquet) like {data}."
        )
    labeled = _read_answers(answers)
    known = {str(c): c for c in train.classes}
    new_classes = sorted({v for v in labeled.label if v not in known})
    if new_classes:
        warnings.warn(
            f"{answers}: label(s) {', '.join(new_classes)} are not classes of {data}; they "
            "become new classes.",
            stacklevel=2,
        )
    from smallfit.data.identity import item_key

    seen = {item_key(item) for item in train.items}
    if train.modality == "image":
        items = _answer_images(labeled, answers)
    else:
        items = list(labeled["item"])
    fresh = [i for i, item in enumerate(items) if item_key(item) not in seen]
    if len(fresh) < len(items):
        warnings.warn(
            f"{answers}: {len(items) - len(fresh)} labeled item(s) are already in {data} and are "
            "not added again.",
            stacklevel=2,
        )
    labels = [known.get(v, v) for v in labeled.label]
    if train.modality == "image":
        shutil.copytree(data, into)
        for i in fresh:
            folder = into / str(labels[i])
            folder.mkdir(exist_ok=True)
            shutil.copy2(items[i], _free_name(folder / items[i].name))
    else:
        _append_rows(
            data,
            into,
            [items[i] for i in fresh],
            [labels[i] for i in fresh],
            text_column,
            label_column,
        )
    return {
        "into": str(into),
        "added": len(fresh),
        "new_classes": new_classes,
        "training_items": len(train) + len(fresh),
    }


def _read_answers(path: Path) -> pd.DataFrame:
    """The labeled rows of a suggestion CSV (item and label as text); unlabeled ones are
    skipped with a warning."""
    if not path.is_file():
        raise SmallfitError(f"{path} does not exist.")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as err:  # noqa: BLE001 - pandas raises many types
        raise SmallfitError(f"Cannot read {path}: {err}") from None
    missing = [c for c in ("item", "label") if c not in frame.columns]
    if missing:
        raise SmallfitError(
            f"{path} has no {' or '.join(missing)} column; give the CSV that `smallfit suggest` "
            "wrote, with its label column filled in."
        )
    frame["label"] = frame["label"].str.strip()
    empty = frame["label"] == ""
    if empty.all():
        raise SmallfitError(f"{path}: no row has a label yet; fill in its label column.")
    if empty.any():
        warnings.warn(
            f"{path}: {int(empty.sum())} of its {len(frame)} rows have no label and are skipped.",
            stacklevel=3,
        )
    return frame[~empty].reset_index(drop=True)


def _answer_images(frame: pd.DataFrame, answers: Path) -> list[Path]:
    paths = [Path(item) for item in frame["item"]]
    bad = [f"{p} (row {i + 2})" for i, p in zip(frame.index, paths, strict=True) if not p.is_file()]
    if bad:
        raise SmallfitError(
            f"{answers}: {len(bad)} item(s) are not image files (paths are read from the "
            f"current folder):\n{list_some(bad)}"
        )
    return paths


def _free_name(path: Path) -> Path:
    """`path`, or name_1.ext, name_2.ext ... if it is taken."""
    candidate, number = path, 0
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}_{number}{path.suffix}")
    return candidate


def _append_rows(
    data: Path,
    into: Path,
    texts: list[str],
    labels: list,
    text_column: str | None,
    label_column: str | None,
) -> None:
    frame = read_table(data)
    label_col = choose_column(frame, label_column, LABEL_NAMES, "label", str(data))
    text_col = choose_column(frame, text_column, TEXT_NAMES, "text", str(data), {label_col})
    rows = pd.DataFrame({text_col: texts, label_col: labels})
    combined = pd.concat([frame, rows], ignore_index=True)
    suffix = into.suffix.lower()
    if suffix == ".csv":
        combined.to_csv(into, index=False)
    elif suffix == ".tsv":
        combined.to_csv(into, sep="\t", index=False)
    elif suffix in (".jsonl", ".ndjson"):
        combined.to_json(into, orient="records", lines=True, force_ascii=False)
    else:
        combined.to_parquet(into, index=False)
