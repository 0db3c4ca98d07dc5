"""What the app asks of fitted models: loading them once, the Understand step's figures
(the estimate, the candidates, the confusion matrix of the examples' out-of-fold
predictions), trying items, and the labelling queue. Every model call runs on one
thread (MODEL_THREAD)."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from smallfit.app.jobs import rows_file
from smallfit.app.workspace import Missing, Project


def queue_items(project: Project, folder: Path, pool, n: int) -> dict[str, Any]:
    """The unlabelled examples of `pool` the model in `folder` most needs labelled (its
    `suggest`), best first, each with the model's guess."""
    from smallfit.active.suggestions import suggest
    from smallfit.data import Dataset

    model = loaded(folder)
    items = project.model_inputs(pool)
    picks = suggest(model, items, n=min(max(n, 1), len(items)))
    where: dict[str, list[int]] = {}  # suggest names an item by its text or its path
    for index, item in enumerate(items):
        where.setdefault(str(item), []).append(index)
    order = [where[str(name)].pop(0) for name in picks["item"]]
    chosen = [items[i] for i in order]
    proba = model.predict_proba(Dataset(items=chosen, modality=model.modality))
    classes = [str(c) for c in model.classes]
    return {
        "model": folder.name,
        "items": [
            {
                "id": pool.id.iloc[i],
                "kind": pool.kind.iloc[i],
                "text": pool.content.iloc[i] if pool.kind.iloc[i] == "text" else None,
                "guess": classes[int(np.argmax(row))],
                "confidence": float(np.max(row)),
                "reason": reason,
            }
            for i, row, reason in zip(order, proba, picks["reason"], strict=True)
        ],
    }


# Every model call runs on this one thread: an encoder keeps its embedding cache in SQLite,
# whose connection belongs to the thread that made it (serve.py batches on one thread too).
MODEL_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smallfit-model")


def on_model_thread(function, *args):
    """`function(*args)` run on the model thread (from a request's worker thread)."""
    return MODEL_THREAD.submit(function, *args).result()


async def in_model_thread(function, *args):
    """The same from the event loop, which goes on answering other requests meanwhile."""
    return await asyncio.wrap_future(MODEL_THREAD.submit(function, *args))


_MODELS: dict[Path, Any] = {}


def loaded(folder: Path):
    """The model in `folder`, loaded once (a model folder never changes once written)."""
    from smallfit.model import load

    if folder not in _MODELS:
        _MODELS[folder] = load(folder)
    return _MODELS[folder]


def predictions(model, items: list, names: list[str]) -> dict[str, Any]:
    from smallfit.data import Dataset

    with model.uncached():
        proba = model.predict_proba(Dataset(items=items, modality=model.modality))
    classes = [str(c) for c in model.classes]
    return {
        "classes": classes,
        "predictions": [
            {
                "item": name,
                "label": classes[int(np.argmax(row))],
                "probabilities": dict(zip(classes, map(float, row), strict=True)),
            }
            for name, row in zip(names, proba, strict=True)
        ],
    }


def model_summary(folder: Path) -> dict[str, Any]:
    info = json.loads((folder / "model.json").read_text())
    honest = info.get("metrics", {}).get("honest") or info.get("metrics", {}).get("accuracy")
    return {
        "stamp": folder.name,
        "strategy": (info.get("strategy") or {}).get("name"),
        "backbone": info.get("backbone"),
        "estimate": honest and {k: honest[k] for k in ("value", "low", "high")},
        "n_items": info.get("info", info).get("data", {}).get("n_items"),
    }


def model_details(project: Project, folder: Path) -> dict[str, Any]:
    """What the Understand step shows: the honest estimate, why this model, the
    leaderboard, the confusion matrix, per-class metrics, the confident mistakes and
    the data doctor's findings."""
    model = loaded(folder)
    metrics, info = model.metrics, model.info
    honest = metrics.get("honest") or metrics["accuracy"]
    return model_summary(folder) | {
        "estimate_method": honest.get("method", "cross-validation"),
        "why": info.get("why"),
        "leaderboard": [
            {key: row.get(key) for key in ("candidate", "accuracy", "skipped")}
            for row in info.get("candidates", [])
        ],
        "classes": metrics.get("classes"),
        # per item, so that each cell's count is the number of examples it opens
        "confusion_matrix": item_confusion(folder, model) or metrics.get("confusion_matrix"),
        "per_class": metrics.get("per_class"),
        "mistakes": info.get("examples", {}).get("mistakes", []),
        "learning_curve": info.get("learning_curve"),
        "label_more": label_more_advice(info.get("learning_curve")),
        "findings": doctor_findings(project, folder, model),
    }


def fit_rows(folder: Path, model) -> dict[str, list] | None:
    """The model's training rows: which example each was ("ids"), its class then
    ("labels") and its out-of-fold predicted class index or None ("predicted"); None
    for a model the app did not fit or that records no out-of-fold predictions."""
    predicted = model.info.get("examples", {}).get("predicted")
    if predicted is None or not rows_file(folder).is_file():
        return None
    return json.loads(rows_file(folder).read_text()) | {"predicted": predicted}


def cell_items(project: Project, folder: Path, actual: str, predicted: str) -> list[dict]:
    """The examples of class `actual` predicted (out of fold) as `predicted`: a cell of
    the confusion matrix; examples deleted since are left out."""
    model = loaded(folder)
    classes = [str(c) for c in model.classes]
    for name in (actual, predicted):
        if name not in classes:
            raise Missing(f"No class {name!r} in this model.")
    rows = fit_rows(folder, model)
    if rows is None:
        raise Missing("No cells: this model does not record its out-of-fold predictions.")
    table = project.items().set_index("id")
    wanted = classes.index(predicted)
    return [
        {
            "id": item_id,
            "kind": table.kind[item_id],
            "text": table.content[item_id] if table.kind[item_id] == "text" else None,
        }
        for item_id, label, guess in zip(
            rows["ids"], rows["labels"], rows["predicted"], strict=True
        )
        if guess == wanted and label == actual and item_id in table.index
    ]


def doctor_findings(project: Project, folder: Path, model) -> list[dict[str, Any]]:
    """The fit's data findings (duplicates, conflicting labels, likely label errors),
    each with the ids of the examples it names (None for an example no longer in the
    project) and their out-of-fold predicted classes, so that the page can exclude them
    or relabel them, offering the class the model saw first."""
    findings = model.info.get("doctor", {}).get("findings", [])
    rows = fit_rows(folder, model)
    if rows is None:
        return findings
    classes = [str(c) for c in model.classes]
    content = project.items().set_index("id").content
    by_name = {}  # the fit names a row of train.csv "row N", a file by its path
    for row, (item_id, guess) in enumerate(zip(rows["ids"], rows["predicted"], strict=True)):
        seen = (item_id, None if guess is None else classes[guess])
        by_name[f"row {row + 2}"] = seen
        if item_id in content.index:
            by_name[content[item_id]] = seen
    named = [[by_name.get(name, (None, None)) for name in f["items"]] for f in findings]
    return [
        f | {"ids": [i for i, _ in seen], "predicted": [p for _, p in seen]}
        for f, seen in zip(findings, named, strict=True)
    ]


def label_more_advice(curve: dict | None) -> str | None:
    """The learning curve's answer to "should I label more?", in a sentence."""
    if not curve:
        return None
    from smallfit.evaluate.learning_curve import advice

    return advice(curve)


def item_confusion(folder: Path, model) -> list[list[int]] | None:
    """The confusion matrix of the items' out-of-fold predictions (probabilities averaged
    over repeats, one prediction per item), or None when the model does not record them."""
    rows = fit_rows(folder, model)
    if rows is None:
        return None
    classes = [str(c) for c in model.classes]
    matrix = np.zeros((len(classes), len(classes)), dtype=int)
    for label, guess in zip(rows["labels"], rows["predicted"], strict=True):
        if guess is not None:
            matrix[classes.index(label), guess] += 1
    return matrix.tolist()


def embedding_map(project: Project, folder: Path) -> dict[str, Any]:
    """The training examples placed in 2-D (the first two principal components of their
    normalised embeddings by the encoder the model's drift reference uses), each with its
    class then and now, and its out-of-fold prediction."""
    from sklearn.decomposition import PCA

    from smallfit import backbones
    from smallfit.numeric import normalise

    model = loaded(folder)
    name = model.reference.encoder.get("name") if model.reference is not None else None
    rows = fit_rows(folder, model)
    if name is None or not backbones.available(name) or rows is None:
        raise Missing("No map for this model: its examples have no embeddings to place.")
    table = project.items().set_index("id")
    kept = [k for k, item_id in enumerate(rows["ids"]) if item_id in table.index]
    if len(kept) < 3:
        raise Missing("No map: fewer than 3 of the model's examples are left.")
    ids = [rows["ids"][k] for k in kept]
    items = project.model_inputs(table.loc[ids].reset_index())
    vectors = normalise(backbones.create(name).embed(items, description="Embedding for the map"))
    xy = PCA(n_components=2, random_state=0).fit_transform(vectors)
    guesses = rows["predicted"]
    classes = [str(c) for c in model.classes]
    return {
        "encoder": name,
        "points": [
            {
                "id": item_id,
                "x": round(float(x), 4),
                "y": round(float(y), 4),
                "label": rows["labels"][k],
                "now": table.label[item_id],
                "predicted": None if guesses[k] is None else classes[guesses[k]],
                "kind": table.kind[item_id],
                "text": table.content[item_id] if table.kind[item_id] == "text" else None,
            }
            for k, item_id, (x, y) in zip(kept, ids, xy, strict=True)
        ],
    }
