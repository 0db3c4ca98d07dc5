"""`contrastive`: bounded, balanced, seeded pairs; tuning that separates the classes;
models that reload (and export) with the same probabilities; identical refits."""

import json

import numpy as np
import pytest
import torch

from smallfit import backbones, strategies
from smallfit.errors import SmallfitError
from smallfit.fitting.candidates import candidates_for
from smallfit.modalities.reading import read_source
from smallfit.model import Model, load
from smallfit.strategies.contrastive import CachedPairs, make_pairs
from smallfit.train.checkpoint import Checkpoints
from smallfit.train.loop import TrainSettings
from smallfit.train.losses import classification_loss
from tests.cli_runner import run

FAST = {"pairs_per_example": 6, "epochs": 2}


def separation(embeddings: np.ndarray, y: np.ndarray) -> float:
    """Mean cosine similarity of same-class pairs minus that of different-class pairs."""
    z = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    similarity = z @ z.T
    same = (y[:, None] == y[None, :]) & ~np.eye(len(y), dtype=bool)
    different = y[:, None] != y[None, :]
    return float(similarity[same].mean() - similarity[different].mean())


def test_pairs_are_bounded_balanced_and_seeded():
    y = np.repeat([0, 1, 2], [7, 5, 3])
    pairs = make_pairs(y, 4, seed=0)
    assert pairs.shape == (4 * 15, 2)
    same = y[pairs[:, 0]] == y[pairs[:, 1]]
    assert same.sum() == 30 and (~same).sum() == 30
    assert (pairs[:, 0] != pairs[:, 1]).all()
    anchors = np.bincount(pairs[~same, 0], minlength=15)
    assert anchors.max() - anchors.min() <= 1  # every item anchors equally often
    np.testing.assert_array_equal(pairs, make_pairs(y, 4, seed=0))
    assert not np.array_equal(pairs, make_pairs(y, 4, seed=1))
    assert len(make_pairs(np.repeat([0, 1], 500), 3, seed=0)) == 3000  # linear, not n^2


def test_classes_of_one_give_no_positive_pairs_and_zero_pairs_is_refused():
    y = np.array([0, 1, 2, 2])
    pairs = make_pairs(y, 3, seed=0)
    same = y[pairs[:, 0]] == y[pairs[:, 1]]
    assert len(pairs) == 12 and same.sum() == 6 and set(pairs[same].ravel()) == {2, 3}
    singletons = np.array([0, 1, 2])
    pairs = make_pairs(singletons, 2, seed=0)
    assert len(pairs) == 6 and (singletons[pairs[:, 0]] != singletons[pairs[:, 1]]).all()
    with pytest.raises(SmallfitError, match="pairs_per_example must be at least 1"):
        make_pairs(y, 0, seed=0)


def test_pair_losses_reward_embeddings_that_group_by_class():
    labels = torch.tensor([[0, 0], [0, 1], [1, 1], [1, 0]])
    a, a2, b, b2 = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
    grouped = torch.stack([torch.stack(p) for p in [(a, a2), (a, b), (b, b2), (b, a)]])
    mixed = torch.stack([torch.stack(p) for p in [(a, b), (a, a2), (b, a), (b, b2)]])
    for loss in ("pair_cosine", "supcon"):
        good = classification_loss(grouped, labels, loss).item()
        assert good < classification_loss(mixed, labels, loss).item(), loss
    # SetFit's loss: (cos - same)^2 averaged, near zero for a perfect grouping
    assert classification_loss(grouped, labels, "pair_cosine").item() < 0.01
    # and near one when every same-class pair is orthogonal and every other one aligned
    assert classification_loss(mixed, labels, "pair_cosine").item() == pytest.approx(1, abs=0.02)


def test_the_cached_activations_identify_a_training_run(tmp_path):
    upper = torch.nn.Linear(3, 2)
    settings = TrainSettings()
    store = Checkpoints(tmp_path)
    keys = [
        store.run_key(CachedPairs(upper, torch.full((4, 3), value)), [], settings)
        for value in (0.0, 1.0)
    ]
    assert keys[0] != keys[1]
    assert "table" not in CachedPairs(upper, torch.zeros(4, 3)).state_dict()


@pytest.fixture(scope="module")
def text_fit(text_csv):
    dataset = read_source(text_csv, labeled=True)
    encoder = backbones.create("minilm")
    strategy = strategies.create("contrastive", **FAST).fit(dataset, encoder)
    return dataset, encoder, strategy


@pytest.mark.slow
def test_text_tuning_separates_the_classes_and_the_head_learns(text_fit):
    dataset, encoder, strategy = text_fit
    before = separation(encoder.embed(dataset.items), dataset.y)
    after = separation(strategy._embed(strategy._lower(dataset.items, "x")), dataset.y)
    assert after > before + 0.1, (before, after)
    losses = [epoch["train_loss"] for epoch in strategy.history_]
    assert losses[-1] < losses[0]
    assert strategy.history_[0]["val_loss"] is not None  # early stopping watched held-out pairs
    proba = strategy.predict_proba(dataset.items)
    assert (proba.argmax(axis=1) == dataset.y).mean() >= 0.9


@pytest.mark.slow
def test_text_model_round_trips_saving_only_the_tuned_groups(text_fit, tmp_path):
    dataset, encoder, strategy = text_fit
    arrays, config = strategy.get_state()
    body = sum(v.size for k, v in arrays.items() if k.startswith("body."))
    total = sum(p.numel() for p in encoder.body.parameters())
    assert 0.05 * total < body < 0.4 * total  # two of MiniLM's six layers, not its embeddings
    Model(strategy, "minilm", "text", dataset.classes).save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "model.json").read_text())
    assert saved["strategy"]["params"]["pairs_per_example"] == 6
    reloaded = load(tmp_path / "m")
    np.testing.assert_allclose(
        reloaded.predict_proba(dataset), strategy.predict_proba(dataset.items), atol=1e-6
    )


@pytest.mark.slow
def test_same_seed_gives_the_same_model_and_another_seed_another(text_csv, text_fit):
    dataset, encoder, strategy = text_fit
    again = strategies.create("contrastive", **FAST).fit(dataset, encoder)
    np.testing.assert_array_equal(
        again.predict_proba(dataset.items), strategy.predict_proba(dataset.items)
    )
    assert again.history_ == strategy.history_
    other = strategies.create("contrastive", random_state=1, **FAST).fit(dataset, encoder)
    assert other.history_ != strategy.history_


@pytest.mark.slow
def test_images_tune_with_supervised_contrastive_loss_and_round_trip(image_folder, tmp_path):
    dataset = read_source(image_folder, labeled=True)
    encoder = backbones.create("efficientnet_lite0")
    before = {k: v.clone() for k, v in encoder.body.state_dict().items()}
    strategy = strategies.create("contrastive", **FAST).fit(dataset, encoder)
    for key, value in encoder.body.state_dict().items():  # the shared encoder is untouched
        assert torch.equal(value, before[key]), key
    start = separation(encoder.embed(dataset.items), dataset.y)
    tuned = separation(strategy._embed(strategy._lower(dataset.items, "x")), dataset.y)
    assert tuned > start, (start, tuned)
    proba = strategy.predict_proba(dataset.items)
    assert (proba.argmax(axis=1) == dataset.y).mean() >= 0.9
    Model(strategy, "efficientnet_lite0", "image", dataset.classes).save(tmp_path / "m")
    np.testing.assert_allclose(load(tmp_path / "m").predict_proba(dataset), proba, atol=1e-5)


@pytest.mark.slow
def test_text_model_exports_to_onnx_with_the_same_probabilities(text_fit, tmp_path):
    from smallfit.export import export_onnx, session
    from tests.test_export import TEXTS, TOLERANCE, text_inputs

    dataset, _, strategy = text_fit
    model = Model(strategy, "minilm", "text", dataset.classes)
    export_onnx(model, tmp_path / "onnx")
    got = session(tmp_path / "onnx" / "model.onnx").run(None, text_inputs(tmp_path / "onnx", TEXTS))
    assert np.abs(got[0] - strategy.predict_proba(TEXTS)).max() <= TOLERANCE


def test_contrastive_joins_the_full_comparison_for_text_only():
    text = candidates_for("text", None, None, full=True)
    images = candidates_for("image", None, None, full=True)
    assert [c.strategy for c in text][-2:] == ["finetune", "contrastive"]
    assert "contrastive" not in [c.strategy for c in images]
    assert "contrastive" not in [c.strategy for c in candidates_for("text", None, None)]


def test_pairs_per_example_needs_the_contrastive_strategy(text_csv, tmp_path):
    code, output = run("fit", text_csv, "--out", tmp_path / "m", "--pairs-per-example", "5")
    assert code == 2 and "--pairs-per-example applies to contrastive" in output
    code, output = run(
        "fit", text_csv, "--out", tmp_path / "m", "--strategy", "contrastive",
        "--pairs-per-example", "0",
    )  # fmt: skip
    assert code != 0 and not (tmp_path / "m").exists()


@pytest.mark.slow
def test_cli_fits_contrastive_with_the_pairs_asked_for(text_csv, tmp_path):
    code, output = run(
        "fit", text_csv, "--out", tmp_path / "m", "--strategy", "contrastive",
        "--pairs-per-example", "3",
    )  # fmt: skip
    assert code == 0, output
    saved = json.loads((tmp_path / "m" / "model.json").read_text())
    assert saved["strategy"]["name"] == "contrastive"
    assert saved["strategy"]["params"]["pairs_per_example"] == 3
    assert saved["metrics"]["accuracy"]["value"] >= 0.8
