"""Semi-supervised learning: self-training inside folds, thresholds, balance, FixMatch, CLI."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from smallfit import backbones
from smallfit.data import Dataset
from smallfit.evaluate import make_splits, out_of_fold
from smallfit.fitting.compare import fit_dataset
from smallfit.incremental import StoredEmbeddings
from smallfit.modalities.pools import read_pool
from smallfit.modalities.reading import read_source
from smallfit.model import load
from smallfit.strategies import create
from smallfit.strategies.self_training import SelfTraining, balanced_selection, confidence_threshold
from smallfit.train.consistency import FixMatchLoss
from tests.cli_runner import run
from tests.conftest import COLOURS, make_image


def blobs(n_labeled: int, n_pool: int, n_test: int, seed: int = 0):
    """Three Gaussian clusters in 16-D as a table of embeddings with row-number items: a
    probe from two labels per class misses part of the boundaries; the pool shows them."""
    rng = np.random.default_rng(seed)
    n = n_labeled + n_pool + n_test
    label = np.arange(n) % 3
    centres = np.zeros((3, 16))
    centres[np.arange(3), np.arange(3)] = 4.0
    table = (centres[label] + rng.normal(0, 1.0, (n, 16))).astype(np.float32)
    encoder = StoredEmbeddings(table, "blobs")
    names = np.array(["a", "b", "c"], dtype=object)
    labeled = Dataset(list(range(n_labeled)), "image", names[label[:n_labeled]])
    pool = Dataset(list(range(n_labeled, n_labeled + n_pool)), "image")
    test = list(range(n_labeled + n_pool, n))
    return labeled, pool, test, label, encoder


def test_threshold_is_the_lowest_confidence_reaching_the_precision():
    confidence = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([1, 1, 0, 1, 1, 0], dtype=bool)
    # running precision from the top: 1, 1, .67, .75, .8, .67
    assert confidence_threshold(confidence, correct, 0.8) == 0.6
    assert confidence_threshold(confidence, correct, 0.9) == 0.9
    assert confidence_threshold(confidence, correct, 1.01) == float("inf")
    # a tie is kept or dropped whole: 0.7 twice, one right, one wrong
    tied = np.array([0.9, 0.7, 0.7])
    assert confidence_threshold(tied, np.array([1, 1, 0], dtype=bool), 0.7) == 0.9


def test_selection_is_class_balanced_and_most_confident_first():
    proba = np.full((14, 3), 0.0)
    proba[:10, 0] = np.linspace(0.99, 0.90, 10)  # ten confident for class 0
    proba[10:12, 1] = [0.95, 0.92]  # two for class 1
    proba[:12, 2] = 1 - proba[:12].sum(axis=1)
    proba[12:] = [0.3, 0.3, 0.4]  # none confident (for class 2)
    chosen, pseudo = balanced_selection(proba, 0.9, balance=2.0)
    assert chosen.tolist() == [0, 1, 2, 3, 10, 11]  # cap 2 x 2: class 0's top four
    assert pseudo.tolist() == [0, 0, 0, 0, 1, 1]
    assert len(balanced_selection(proba, 1.0, 2.0)[0]) == 0


def test_self_training_learns_the_clusters_the_pool_shows():
    labeled, pool, test, label, encoder = blobs(6, 600, 300)
    alone = create("probe").fit(labeled, encoder)
    self_trained = SelfTraining(base="probe").fit(labeled, encoder, unlabeled=pool)
    accuracy = [
        float((m.predict_proba(test).argmax(1) == label[test]).mean())
        for m in (alone, self_trained)
    ]
    # the pool's clusters at least halve the errors of the probe's two labels per class
    assert accuracy[1] > 0.95 and 1 - accuracy[1] < (1 - accuracy[0]) / 2, accuracy
    chosen, pseudo = self_trained.pseudo_labeled_
    right = pseudo == label[np.array(pool.items)[chosen]]
    assert len(chosen) > 300 and right.mean() > 0.95
    assert 0.5 < self_trained.threshold_ <= 1.0
    # the same seed gives the same model
    again = SelfTraining(base="probe").fit(labeled, encoder, unlabeled=pool)
    np.testing.assert_array_equal(again.predict_proba(test), self_trained.predict_proba(test))


def test_without_a_pool_or_a_trustworthy_threshold_it_is_the_base_alone():
    labeled, pool, test, _, encoder = blobs(6, 100, 20)
    alone = create("probe").fit(labeled, encoder).predict_proba(test)
    for model in (
        SelfTraining().fit(labeled, encoder),
        SelfTraining(precision=1.01).fit(labeled, encoder, unlabeled=pool),
    ):
        assert model.pseudo_counts_ == []
        np.testing.assert_allclose(model.predict_proba(test), alone)


def test_pseudo_labels_come_from_the_folds_training_part_only():
    """Labels with no signal at all, and a pool that IS the labeled items: if a fold's
    pseudo-labels saw its held-out labels, refitting on them would score ~100%."""
    rng = np.random.default_rng(0)
    table = rng.normal(size=(60, 16)).astype(np.float32)
    encoder = StoredEmbeddings(table, "noise")
    labels = np.array(["a", "b", "c"], dtype=object)[rng.permutation(np.arange(60) % 3)]
    labeled = Dataset(list(range(60)), "image", labels)
    pool = Dataset(list(range(60)), "image")
    # precision 0: every pool item is pseudo-labeled (up to the balance cap)
    strategy = SelfTraining(base="probe", precision=0.0, balance=10.0)
    splits = make_splits(labeled.y, folds=5, repeats=2)
    probas = out_of_fold(strategy, labeled, encoder, splits, fit_params={"unlabeled": pool})
    accuracy = float((probas.argmax(2) == labeled.y).mean())
    assert accuracy < 0.55, accuracy  # chance is 1/3; leaked labels would give ~1
    fold = strategy.fit(labeled.subset(splits.pairs[0][0]), encoder, unlabeled=pool)
    assert fold.pseudo_counts_ and fold.pseudo_counts_[0] >= 40


def test_spreading_needs_embeddings_and_base_labeler_works_without(text_csv):
    from smallfit.errors import SmallfitError

    dataset = read_source(text_csv, labeled=True)
    pool = Dataset(["The defender was sent off.", "Fry the garlic gently."], "text")
    with pytest.raises(SmallfitError, match="labeler='spreading' needs an encoder"):
        SelfTraining(base="classic").fit(dataset, None, unlabeled=pool)
    model = SelfTraining(base="classic", labeler="base", precision=0.5).fit(
        dataset, None, unlabeled=pool
    )
    assert model.predict_proba(["Rates rose again."]).shape == (1, 3)


@pytest.fixture(scope="module")
def text_pool(tmp_path_factory):
    path = tmp_path_factory.mktemp("pool") / "pool.csv"
    texts = [
        "The referee showed a red card in the derby.",
        "A late goal sent the home fans wild.",
        "The sprinter broke the national record.",
        "Roast the chicken with garlic and thyme.",
        "Knead the dough and let it rise overnight.",
        "Add a pinch of salt to the boiling pasta water.",
        "Bond yields climbed as traders sold treasuries.",
        "The bank reported record quarterly profits.",
        "Currency markets reacted to the rate decision.",
    ]
    pd.DataFrame({"text": texts}).to_csv(path, index=False)
    return path


def test_cli_fit_with_a_pool_compares_side_by_side_and_saves(text_csv, text_pool, tmp_path):
    out = tmp_path / "model"
    code, output = run("fit", text_csv, "--unlabeled", text_pool, "--out", out)
    assert code == 0, output
    record = json.loads((out / "model.json").read_text())
    labels = [row["candidate"] for row in record["candidates"]]
    assert labels[:2] == ["probe", "probe+self-training"]
    assert "prototype+self-training" in labels
    summary = record["unlabeled"]
    assert summary["pool"] == str(text_pool) and summary["n_pool"] == 9
    assert set(summary) == {"pool", "n_pool", "labeled_only", "semi"}
    assert summary["semi"]["candidate"].endswith("+self-training")
    assert set(summary["semi"]["accuracy"]) >= {"value", "low", "high"}
    assert "Unlabeled pool of 9 items" in output
    model = load(out)
    assert model.predict(["The striker scored a goal."])[0] == "sport"


def test_cli_refuses_bad_pools_with_one_clear_message(text_csv, image_folder, tmp_path):
    empty = tmp_path / "empty.csv"
    pd.DataFrame({"text": []}).to_csv(empty, index=False)
    for pool, message in (
        (image_folder, "holds images but the labeled data holds texts"),
        (text_csv, "all 18 of its items are already in the labeled data"),
        (tmp_path / "missing.csv", "missing.csv"),
    ):
        code, output = run("fit", text_csv, "--unlabeled", pool, "--out", tmp_path / "m")
        assert code == 2 and message in output, output
    code, output = run("fit", text_csv, "--unlabeled", empty, "--out", tmp_path / "m")
    assert code == 2 and ("empty" in output or "no rows" in output.lower()), output


def test_overlapping_pool_items_are_dropped_with_a_warning(text_csv, text_pool, tmp_path):
    mixed = tmp_path / "mixed.csv"
    labeled = pd.read_csv(text_csv)
    pool = pd.concat([pd.read_csv(text_pool), labeled[["text"]].head(4)])
    pool.to_csv(mixed, index=False)
    with pytest.warns(UserWarning, match="4 of its 13 items are already in the labeled data"):
        dropped = read_pool(mixed, read_source(text_csv, labeled=True))
    assert len(dropped) == 9


def test_self_trained_model_saves_and_loads_as_its_base(text_csv, text_pool, tmp_path):
    dataset = read_source(text_csv, labeled=True)
    pool = read_pool(text_pool, dataset)
    model = fit_dataset(dataset, strategy="self-training", fit_params={"unlabeled": pool}, folds=3)
    assert model.strategy.name == "self-training"
    model.save(tmp_path / "m")
    loaded = load(tmp_path / "m")
    texts = ["Prices of shares dropped.", "Whisk the cream."]
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)
    assert (
        json.loads((tmp_path / "m" / "model.json").read_text())["strategy"]["params"]["base"]
        == "probe"
    )


def test_fixmatch_loss_learns_only_confident_weak_views():
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[5.0, 0.0], [-5.0, 0.0]]))
        model.bias.zero_()
    weak = torch.tensor([[1.0, 0.0], [0.01, 0.0]])  # confident class 0; unsure
    strong = torch.tensor([[-1.0, 0.0], [-1.0, 0.0]])  # strong views look like class 1
    hook = FixMatchLoss(weak, strong, threshold=0.95)
    loss = hook(model, None, torch.tensor([0, 1]))
    assert hook.confident_share == 0.5
    expected = 0.5 * torch.nn.functional.cross_entropy(model(strong[:1]), torch.tensor([0]))
    assert torch.isclose(loss, expected)
    assert float(hook(model, None, torch.tensor([1, 1]))) == 0.0  # nothing confident


@pytest.mark.slow
def test_finetune_with_fixmatch_trains_on_a_pool_and_is_repeatable(image_folder, tmp_path):
    dataset = read_source(image_folder, labeled=True)
    pool_dir = tmp_path / "pool"
    pool_dir.mkdir()
    for index, colour in enumerate(COLOURS.values()):
        for k in range(3):
            make_image(colour, seed=900 + 10 * index + k).save(pool_dir / f"p{index}{k}.png")
    pool = read_pool(pool_dir, dataset)
    encoder = backbones.create("efficientnet_lite0")
    params = dict(epochs=2, copies=1, top_groups=1, consistency="fixmatch", random_state=3)
    probas = []
    for unlabeled in (pool, pool, None):
        model = create("finetune", **params).fit(dataset, encoder, unlabeled=unlabeled)
        probas.append(model.predict_proba(dataset.items[:4]))
    np.testing.assert_allclose(probas[0], probas[1], atol=1e-6)  # same seed, same model
    assert np.abs(probas[0] - probas[2]).max() > 1e-4  # the pool changed the training
    hook = model._consistency(pool, list(dataset.items))
    assert hook.size == 9 and hook.weak.shape == hook.strong.shape
    assert not torch.equal(hook.weak, hook.strong)
