"""Distillation: one small, fast student trained on a teacher's soft labels.

The teacher (any model: an ensemble, a fine-tuned network) labels the data, and the
unlabeled pool when given, with its probabilities; the student is a linear head on one
encoder's normalised embeddings (a `probe` with a torch head) trained through the one
training loop with cross-entropy against those probabilities (soft targets: equivalent
to the KL divergence from the teacher; Hinton et al. 2015, at temperature 1 since the
teacher gives probabilities). The student is saved as a normal `probe` model directory.

What it keeps is measured on a held-out part of the labeled data (a stratified quarter):
a student trained without those items is scored against the teacher there (accuracy
of both, agreement), then the saved student is trained on everything. If the teacher
was fitted on the same data it has seen the held-out items, so its figure there is a
training accuracy; its cross-validated accuracy is reported next to it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from smallfit import backbones, modalities
from smallfit.errors import SmallfitError
from smallfit.evaluate import accuracy_interval, evaluate_probas
from smallfit.modalities.pools import read_pool
from smallfit.modalities.reading import to_dataset
from smallfit.model import Model, load
from smallfit.numeric import normalise
from smallfit.strategies.probe import Probe
from smallfit.train.loop import TrainSettings, stratified_holdout, train

HELD_OUT = 0.25  # of each class with at least 3 items, for the check
VALIDATION = 0.2  # of the student's training rows, for early stopping (when >= MIN_VALIDATION)
MIN_VALIDATION = 30
SETTINGS = TrainSettings(epochs=100, batch_size=32, lr=3e-3, weight_decay=0.01, patience=10)


def student_encoder(teacher: Model, into: str) -> str:
    """The encoder name `into` stands for: an encoder's name, or "probe" for the teacher's
    own pretrained encoder (the modality's default when the teacher has none, as an
    ensemble or the `classic` baseline)."""
    if into == "probe":
        own = teacher.backbone
        pretrained = own and own != "pixels" and backbones.modality_of(own) == teacher.modality
        return own if pretrained else modalities.get(teacher.modality).default_backbone
    modality = backbones.modality_of(into)  # an unknown name raises the registry's message
    if modality != teacher.modality:
        suggestion = modalities.get(teacher.modality).default_backbone
        raise SmallfitError(
            f"--into {into} embeds {modality}s but the teacher classifies {teacher.modality}s; "
            f"choose an encoder for {teacher.modality}s (e.g. {suggestion}) or probe."
        )
    return into


def soft_head(features: np.ndarray, targets: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """A linear layer on standardised `features` trained to the soft `targets` (rows sum
    to 1) with cross-entropy, early-stopped on a validation part when there are enough
    rows; returned as a torch-head probe's arrays (weight, bias, mean, std)."""
    mean = features.mean(axis=0).astype(np.float32)
    # one scale for every dimension (centred entries get mean square 1): per-dimension
    # scaling blows up the near-constant dimensions of a few rows into noise the head fits
    spread = float(np.sqrt(((features - mean) ** 2).sum(axis=1).mean())) + 1e-6
    std = np.full_like(mean, spread / np.sqrt(features.shape[1]))
    x = torch.from_numpy((features - mean) / std)
    y = torch.from_numpy(targets.astype(np.float32))
    torch.manual_seed(seed)
    layer = nn.Linear(x.shape[1], y.shape[1])
    settings = TrainSettings(**{**SETTINGS.__dict__, "seed": seed})
    validation, rows = None, np.arange(len(x))
    if len(x) >= MIN_VALIDATION:
        order = np.random.default_rng(seed).permutation(len(x))
        cut = int(VALIDATION * len(x))
        validation, rows = (x[order[:cut]], y[order[:cut]]), np.sort(order[cut:])
    train(layer, [layer], x[rows], y[rows], settings, validation, description="Distilling")
    return {
        "weight": layer.weight.detach().numpy().copy(),
        "bias": layer.bias.detach().numpy().copy(),
        "mean": mean,
        "std": std,
    }


def _student(arrays: dict, encoder, classes: list, seed: int) -> Probe:
    student = Probe(
        head="torch",
        loss="ce",
        class_weight=None,
        epochs=SETTINGS.epochs,
        lr=SETTINGS.lr,
        weight_decay=SETTINGS.weight_decay,
        random_state=seed,
    ).set_state(arrays, {}, encoder)
    student.classes_ = list(classes)
    return student


def seconds_per_item(model: Model, items: list) -> float:
    """Wall time per item of model.predict_proba with no embedding cache (after one warm-up
    item), as a model serving new items spends it."""
    with model.uncached():
        model.predict_proba(items[:1])
        tic = time.perf_counter()
        model.predict_proba(items)
        return (time.perf_counter() - tic) / len(items)


def distill(
    teacher: Model | str | Path,
    data: Any,
    labels: Any = None,
    *,
    into: str = "probe",
    unlabeled: Any = None,
    seed: int = 0,
    text_column: str | None = None,
    label_column: str | None = None,
    skip_bad: bool = False,
) -> Model:
    """A student Model trained on `teacher`'s probabilities for the labeled `data` (and the
    `unlabeled` pool), on the encoder `into` names (see student_encoder); what it keeps of
    the teacher is in model.info["distillation"]."""
    from smallfit.version import library_versions

    source = str(teacher) if not isinstance(teacher, Model) else None
    teacher = teacher if isinstance(teacher, Model) else load(teacher)
    dataset = to_dataset(
        data,
        labels,
        labeled=True,
        text_column=text_column,
        label_column=label_column,
        skip_bad=skip_bad,
    )
    if dataset.modality != teacher.modality:
        raise SmallfitError(
            f"{dataset.source} holds {dataset.modality}s but the teacher classifies "
            f"{teacher.modality}s."
        )
    dataset = dataset.on_classes(teacher.classes, owner="teacher")
    name = student_encoder(teacher, into)
    pool = None
    if unlabeled is not None:
        pool = read_pool(unlabeled, dataset, text_column=text_column, skip_bad=skip_bad)
    fitted, held = stratified_holdout(dataset.y, HELD_OUT, seed)
    if len(held) == 0:
        raise SmallfitError(
            f"{dataset.source} is too small to check the student: a class needs at least 3 "
            "labeled items for some of them to be held out."
        )
    encoder = backbones.create(name)
    soft = teacher.predict_proba(dataset)
    features = normalise(encoder.embed(dataset.items, description=f"Embedding with {name}"))
    extra_features, extra_soft = features[:0], soft[:0]
    if pool is not None:
        extra_soft = teacher.predict_proba(pool)
        extra_features = normalise(encoder.embed(pool.items, description="Embedding the pool"))

    def student_on(rows: np.ndarray) -> Probe:
        arrays = soft_head(
            np.concatenate([features[rows], extra_features]),
            np.concatenate([soft[rows], extra_soft]),
            seed,
        )
        return _student(arrays, encoder, dataset.classes, seed)

    y_held = dataset.y[held]
    check = student_on(fitted)
    student_proba = check.predict_proba([dataset.items[i] for i in held])
    teacher_proba = soft[held]
    student = student_on(np.arange(len(dataset)))
    model = Model(student, name, dataset.modality, dataset.classes, reference=teacher.reference)
    held_items = [dataset.items[i] for i in held]
    teacher_speed = seconds_per_item(teacher, held_items)
    student_speed = seconds_per_item(model, held_items)
    student_accuracy = accuracy_interval(y_held, student_proba, random_state=seed)
    teacher_accuracy = accuracy_interval(y_held, teacher_proba, random_state=seed)
    metrics = evaluate_probas(y_held, student_proba, dataset.classes, random_state=seed)
    metrics["kind"] = "distillation holdout"
    model.info = {
        "metrics": metrics,
        "distillation": {
            "teacher": {
                "path": source,
                "strategy": teacher.strategy.name,
                "backbone": teacher.backbone,
                "cross_validated_accuracy": teacher.metrics.get("accuracy"),
                "trained_on_this_data": teacher.info.get("data", {}).get("fingerprint")
                == dataset.fingerprint(),
            },
            "student": {
                "encoder": name,
                "head": "linear layer on normalised embeddings, cross-entropy to the "
                "teacher's probabilities",
                "settings": {k: getattr(SETTINGS, k) for k in ("epochs", "batch_size", "lr")},
            },
            "soft_labels": {"labeled": len(dataset), "unlabeled": len(pool) if pool else 0},
            "check": {
                "held_out": len(held),
                "student_trained_on": len(fitted) + len(extra_soft),
                "student_accuracy": student_accuracy,
                "teacher_accuracy": teacher_accuracy,
                "agreement": round(
                    float((student_proba.argmax(1) == teacher_proba.argmax(1)).mean()), 6
                ),
                "kept": round(student_accuracy["value"] / max(teacher_accuracy["value"], 1e-9), 6),
            },
            "speed": {
                "teacher_seconds_per_item": round(teacher_speed, 6),
                "student_seconds_per_item": round(student_speed, 6),
                "speedup": round(teacher_speed / max(student_speed, 1e-9), 3),
                "note": "uncached embeddings, one batch of the held-out items",
            },
        },
        "data": dataset.record(),
        "versions": library_versions(),
    }
    return model
