"""A fitted model: predict, save to and load from a directory that is safe to open.

Directory layout: `model.json` (everything a person or another tool needs to read),
`weights.safetensors` (learned arrays under `strategy.`, the reference sample of the
training data under `reference.`; never pickle), `metrics.json` and `report.html` (the
report a person reads, smallfit.report).
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from smallfit import backbones, modalities, strategies
from smallfit.data import Dataset
from smallfit.errors import SmallfitError, refuse_existing
from smallfit.modalities.pools import background_class
from smallfit.modalities.reading import from_python
from smallfit.reference import Reference

FORMAT = "smallfit-model"
FORMAT_VERSION = 1
REQUIRED = ("format", "format_version", "modality", "classes", "backbone", "strategy")


TTA_CHUNK = 256


class Model:
    """A fitted strategy with its encoder, classes and the record of how it was made.

    `reference` is the stored sample of the training data (smallfit.reference), or None
    for models saved before it existed.
    """

    def __init__(
        self,
        strategy,
        backbone: str | None,
        modality: str,
        classes: list,
        info: dict[str, Any] | None = None,
        reference: Reference | None = None,
    ):
        self.strategy = strategy
        self.backbone = backbone
        self.modality = modality
        self.classes = list(classes)
        self.info = info or {}
        self.reference = reference

    def __repr__(self) -> str:
        return (
            f"Model(strategy={self.strategy.name!r}, backbone={self.backbone!r}, "
            f"classes={self.classes!r})"
        )

    @property
    def metrics(self) -> dict:
        return self.info.get("metrics", {})

    def _dataset(self, X) -> Dataset:
        dataset = X if isinstance(X, Dataset) else from_python(X)
        if dataset.modality != self.modality:
            raise SmallfitError(
                f"This model classifies {self.modality}s but {dataset.source} holds "
                f"{dataset.modality}s."
            )
        return self.conform(dataset)

    def conform(self, dataset: Dataset) -> Dataset:
        """`dataset` read as the training input was (a table's column types), or an error
        naming what does not fit (a missing column)."""
        return modalities.get(self.modality).conform(dataset, self.info.get("input"))

    def predict_proba(self, X, tta: bool = False) -> np.ndarray:
        """(n, n_classes) probabilities in `classes` order for a Dataset or Python items.

        `tta`: average with the predictions for the modality's test-time views (an
        image's mirror image).
        """
        dataset = self._dataset(X)
        if len(dataset) == 0:
            return np.zeros((0, len(self.classes)))
        if not tta:
            return self._windowed_proba(dataset.items)
        kind = modalities.get(dataset.modality)
        if not kind.test_time_views([]):  # one (empty) list per view, even of no items
            having = [m.plural for m in modalities.all_registered() if m.test_time_views([])]
            raise SmallfitError(
                f"Test-time augmentation (--tta) works on {', '.join(having)} only."
            )
        parts = []
        for start in range(0, len(dataset), TTA_CHUNK):  # bounded memory for decoded views
            items = dataset.items[start : start + TTA_CHUNK]
            views = [items, *kind.test_time_views(items)]
            parts.append(np.mean([self._windowed_proba(v) for v in views], axis=0))
        return np.concatenate(parts)

    def _windowed_proba(self, items: list) -> np.ndarray:
        """The strategy's probabilities for `items`; an item the modality cuts into
        windows (Modality.windows) gets its windows' predictions, pooled."""
        parts = modalities.get(self.modality).windows(items, self.info.get("input"))
        if parts is None:
            return self.strategy.predict_proba(items)
        proba = self.strategy.predict_proba([window for part in parts for window in part])
        ends = np.cumsum([len(part) for part in parts])
        return np.stack([pooled_windows(rows, self.classes) for rows in np.split(proba, ends[:-1])])

    def predict(self, X, tta: bool = False) -> np.ndarray:
        proba = self.predict_proba(X, tta=tta)
        return np.array(self.classes, dtype=object)[proba.argmax(axis=1)]

    def encoders(self) -> list:
        """The distinct encoders the strategy reads: an ensemble's members may read several."""
        return self.strategy.encoders()

    def reads(self) -> str:
        """The encoders the model reads, by name, as a person is told it ("no encoder")."""
        return ", ".join(encoder.name for encoder in self.encoders()) or "no encoder"

    @contextmanager
    def uncached(self) -> Iterator[None]:
        """Predict without keeping embeddings, for every encoder (see Encoder.uncached):
        a server must not grow with each request, and a timing must not read a cache."""
        with ExitStack() as stack:
            for encoder in self.encoders():
                stack.enter_context(encoder.uncached())
            yield

    # -- persistence ----------------------------------------------------------------
    def save(self, directory: str | Path, overwrite: bool = False) -> Path:
        """Write the model directory; refuses to replace an existing one unless told to."""
        directory = Path(directory)
        check_destination(directory, overwrite)
        arrays, config = self.strategy.get_state()
        record = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "modality": self.modality,
            "classes": self.classes,
            "backbone": self.backbone and backbones.describe(backbones.create(self.backbone)),
            "strategy": {
                "name": self.strategy.name,
                "params": self.strategy.get_params(),
                "config": config,
            },
            **self.info,
        }
        tensors = {f"strategy.{k}": v for k, v in arrays.items()}
        if self.reference is not None:
            record["reference"] = self.reference.record()
            tensors |= {f"reference.{k}": v for k, v in self.reference.arrays().items()}
        staging = directory.with_name(directory.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        save_file(
            {k: np.ascontiguousarray(v) for k, v in tensors.items()},
            str(staging / "weights.safetensors"),
        )
        (staging / "model.json").write_text(json.dumps(record, indent=2, default=_json_default))
        (staging / "metrics.json").write_text(
            json.dumps(self.metrics, indent=2, default=_json_default)
        )
        from smallfit.report import write_report

        write_report(self, staging / "report.html")
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)  # appears whole or not at all
        return directory


def check_destination(directory: Path, overwrite: bool) -> None:
    """Refuse, before any work, a model destination that exists (unless `overwrite`) or
    that is not a model's to replace: a file, or a non-empty folder without model.json."""
    refuse_existing(directory, overwrite)
    if directory.exists() and not directory.is_dir():
        raise SmallfitError(
            f"{directory} is a file, not a model folder; refusing to replace it. Choose "
            "another --out."
        )
    if directory.is_dir() and not (directory / "model.json").exists() and any(directory.iterdir()):
        raise SmallfitError(
            f"{directory} is a non-empty folder that is not a smallfit model; "
            "refusing to overwrite it. Choose another --out."
        )


def pooled_windows(proba: np.ndarray, classes: list) -> np.ndarray:
    """One item's prediction from its windows' (windows, classes): the mean over the
    windows that hold something, i.e. that the model does not call background (all of
    them if none does, or if no class is background). A plain mean would bury a word
    said once in a long recording under the windows around it; a steady sound (rain)
    fills every window and gets the plain mean."""
    background = background_class(classes)
    if background is not None:
        holding = proba.argmax(axis=1) != list(classes).index(background)
        if holding.any():
            return proba[holding].mean(axis=0)
    return proba.mean(axis=0)


def load(directory: str | Path) -> Model:
    """Load a model directory, checking that it is one; no code from it is ever run."""
    directory = Path(directory)
    where = f"{directory} is not a smallfit model directory"
    if not directory.is_dir():
        raise SmallfitError(f"{where}: no such folder.")
    record_path, weights_path = directory / "model.json", directory / "weights.safetensors"
    for path in (record_path, weights_path):
        if not path.is_file():
            raise SmallfitError(f"{where}: {path.name} is missing.")
    try:
        record = json.loads(record_path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise SmallfitError(f"{where}: model.json is damaged ({err}).") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise SmallfitError(f"{where}: model.json is not a smallfit model record.")
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise SmallfitError(f"{where}: model.json lacks {', '.join(missing)}.")
    if record["format_version"] > FORMAT_VERSION:
        raise SmallfitError(
            f"{directory} was written by a newer smallfit (format {record['format_version']}); "
            "upgrade smallfit to load it."
        )
    try:
        tensors = load_file(str(weights_path))
    except Exception as err:  # noqa: BLE001 - safetensors raises several types
        raise SmallfitError(f"{where}: weights.safetensors is damaged ({err}).") from None
    arrays = _with_prefix(tensors, "strategy.")
    reference = None
    if "reference" in record:
        try:
            reference = Reference.from_saved(
                _with_prefix(tensors, "reference."), record["reference"]
            )
        except ValueError as err:
            raise SmallfitError(f"{where}: {err}.") from None
    spec = record["strategy"]
    encoder = None
    if record["backbone"]:
        encoder = backbones.create(record["backbone"]["name"])
        if getattr(encoder, "weights_id", None) != record["backbone"].get("weights"):
            warnings.warn(
                f"The installed {encoder.name} weights differ from those this model was trained "
                "with; predictions may differ.",
                stacklevel=2,
            )
    try:
        strategy = strategies.create(spec["name"], **spec["params"])
        strategy.set_state(arrays, spec["config"], encoder)
    except (KeyError, TypeError, ValueError) as err:
        raise SmallfitError(f"{where}: its strategy state is incomplete ({err}).") from None
    strategy.classes_ = list(record["classes"])
    info = {k: v for k, v in record.items() if k not in (*REQUIRED, "reference")}
    return Model(
        strategy,
        record["backbone"] and record["backbone"]["name"],
        record["modality"],
        record["classes"],
        info,
        reference,
    )


def _with_prefix(tensors: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Cannot write {type(value).__name__} to JSON")
