"""A new kind of item is one registered class: a toy modality of fixed-length numeric
vectors, declared in this file alone (no edit in src/), goes through fit, predict, save,
load, evaluate, report and serve like images and texts do."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from pydantic import Field

import smallfit
from smallfit import backbones, modalities
from smallfit.api import evaluate_model
from smallfit.backbones.base import Encoder
from smallfit.data import Dataset
from smallfit.errors import SmallfitError
from smallfit.modalities.base import Modality, RawFeatures
from smallfit.modalities.reading import from_python
from smallfit.report import write_report
from smallfit.serve import create_app

DIM = 8
AXES = {"north": 0, "east": 1, "south": 2}  # each class points along its own axis


class VectorEncoder(Encoder):
    """The vectors themselves, as embeddings."""

    name = "toy-vectors"
    modality = "vector"
    dim = DIM
    batch_size = 64
    use_cache = False

    def identity(self) -> str:
        return "toy-vectors|1"

    def _prepare(self, items: list[Any]) -> torch.Tensor:
        return torch.from_numpy(np.stack(items).astype(np.float32))

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        return batch

    def embedding_module(self) -> torch.nn.Module:
        return torch.nn.Identity()


class OwnValues(RawFeatures):
    """A vector's own features: its values, standardised by the head."""

    scale = True

    def transform(self, items: list[Any]) -> np.ndarray:
        return np.stack(items)


class VectorModality(Modality):
    name = "vector"
    plural = "vectors"
    default_backbone = "toy-vectors"
    candidates = (("probe", {}), ("prototype", {}))
    full_candidates = ()
    json_field = "vectors"
    json_description = f"vectors of {DIM} numbers"

    def claims(self, item: Any) -> bool:
        return isinstance(item, np.ndarray) and item.shape == (DIM,)

    def raw_features(self) -> OwnValues:
        return OwnValues()

    def shown(self, item: Any, name: str) -> str:
        return " ".join(f"{v:.1f}" for v in item)

    def snippet(self, item: Any) -> dict[str, str]:
        return {"values": self.shown(item, "")}

    def example_html(self, entry: dict, esc) -> str:
        return f"<code class=vector>{esc(entry.get('values', entry['item']))}</code>"

    def json_item_type(self) -> Any:
        return Annotated[list[float], Field(min_length=DIM, max_length=DIM)]

    def json_example(self) -> list[Any]:
        return [[0.0] * DIM]

    def decode_json(self, values: list[Any]) -> list[Any]:
        return [np.asarray(v, dtype=np.float32) for v in values]

    def warm_up_items(self) -> list[Any]:
        return [np.zeros(DIM, dtype=np.float32)]


@pytest.fixture(scope="module", autouse=True)
def registered():
    backbones.register(VectorEncoder.name, "vector", "the vectors themselves (toy)", VectorEncoder)
    modalities.register(VectorModality)


def vectors(per_class: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    rng = np.random.default_rng(seed)
    items, labels = [], []
    for label, axis in AXES.items():
        for _ in range(per_class):
            items.append((3.0 * np.eye(DIM)[axis] + rng.normal(0, 0.7, DIM)).astype(np.float32))
            labels.append(label)
    return items, labels


def test_python_vectors_are_recognised_as_the_new_modality():
    items, labels = vectors(2, seed=0)
    dataset = from_python(items, labels)
    assert dataset.modality == "vector" and dataset.classes == ["east", "north", "south"]
    with pytest.raises(SmallfitError, match="mix"):
        from_python([items[0], "a text"])
    with pytest.raises(SmallfitError, match=r"item 1, of type int; give .*or vectors"):
        from_python([items[0], 3])  # the message lists every registered modality


def test_a_toy_modality_fits_predicts_saves_evaluates_reports_and_serves(tmp_path):
    items, labels = vectors(12, seed=0)
    model = smallfit.fit(items, labels, folds=3, learning_curve=False)
    ensemble = model.strategy.name == "ensemble"  # the average of the two, say
    used = {m["backbone"] for m in model.strategy.members} if ensemble else {model.backbone}
    assert model.modality == "vector" and used == {"toy-vectors"}
    rows = {row["strategy"] for row in model.info["candidates"]}
    assert rows == {"probe", "prototype"}  # the modality's own default comparison
    assert model.metrics["honest"]["value"] >= 0.9

    test_items, test_labels = vectors(10, seed=1)
    assert (model.predict(test_items) == np.array(test_labels)).mean() >= 0.9

    model.save(tmp_path / "model")
    loaded = smallfit.load(tmp_path / "model")
    np.testing.assert_allclose(
        loaded.predict_proba(test_items), model.predict_proba(test_items), atol=1e-6
    )
    with pytest.raises(SmallfitError, match="works on images only"):
        loaded.predict_proba(test_items, tta=True)

    test = Dataset(items=test_items, modality="vector", labels=np.array(test_labels))
    metrics = evaluate_model(loaded, test)
    assert metrics["accuracy"]["value"] >= 0.9

    page = write_report(loaded, tmp_path / "report.html").read_text()
    assert "<b>36 vectors</b>" in page  # the modality names its items
    assert "<code class=vector>" in page  # and draws the examples

    client = TestClient(create_app(loaded))
    answer = client.post("/predict", json={"vectors": [v.tolist() for v in test_items[:3]]})
    assert answer.status_code == 200, answer.text
    assert [p["label"] for p in answer.json()["predictions"]] == list(
        loaded.predict(test_items[:3])
    )
    short = client.post("/predict", json={"vectors": [[1.0, 2.0]]})
    assert short.status_code == 422 and "vectors.0" in short.json()["detail"]
    assert client.get("/model").json()["modality"] == "vector"


def test_the_strategies_a_toy_modality_gets_follow_its_encoder_and_its_own_features(tmp_path):
    from smallfit import strategies

    usable = set(strategies.names("vector"))
    # its encoder offers embed only: no layer groups to train, no class descriptions
    assert {"probe", "prototype", "classic", "hybrid"} <= usable
    assert not {"finetune", "adapter", "lora", "contrastive", "zeroshot", "scratch"} & usable
    items, labels = vectors(12, seed=0)
    model = smallfit.fit(items, labels, strategy="classic", folds=3, learning_curve=False)
    model.save(tmp_path / "classic")
    test_items, test_labels = vectors(10, seed=1)
    assert (smallfit.load(tmp_path / "classic").predict(test_items) == test_labels).mean() >= 0.9
    with pytest.raises(SmallfitError, match="The finetune strategy works on image and text"):
        smallfit.fit(items, labels, strategy="finetune")
