"""Domain adaptation: CORAL for the frozen-embedding strategies, DANN for the trained ones,
`fit --target-unlabeled` and what the model records about it."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.numpy import load_file
from torch import nn

from smallfit import strategies
from smallfit.adapt import coral, dann
from smallfit.data import Dataset
from smallfit.fitting.compare import fit_dataset
from smallfit.modalities.pools import read_pool
from smallfit.modalities.reading import read_source
from smallfit.model import load
from smallfit.train.loop import TrainSettings, train
from tests.cli_runner import run


class TableEncoder:
    """A stand-in encoder: each item is a key into a table of embeddings."""

    cache_id = "table"

    def __init__(self, table: dict):
        self.table = table

    def embed(self, items, description=None):
        return np.stack([self.table[item] for item in items]).astype(np.float32)


def synthetic_shift(n: int = 400, seed: int = 0):
    """Two classes apart along the first axis; the target domain stretches that axis and
    moves it (x1 -> 2 x1 + 2.5), so both target classes lie on one side of the source's
    boundary at 0."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)

    def draw(scale, shift):
        x = rng.normal(0, 1, (n, 6)) * 0.4
        x[:, 0] += np.where(y == 0, 1.0, -1.0) * scale + shift
        x[:, 5] += 4.0  # an offset, so that unit-length scaling keeps the picture
        return x

    source, target = draw(1.0, 0.0), draw(2.0, 2.5)
    table = {f"s{i}": v for i, v in enumerate(source)} | {f"t{i}": v for i, v in enumerate(target)}
    labels = np.array(["a", "b"], dtype=object)[y]
    train = Dataset(items=[f"s{i}" for i in range(n)], modality="text", labels=labels)
    pool = Dataset(items=[f"t{i}" for i in range(0, n, 2)], modality="text")
    test = [f"t{i}" for i in range(1, n, 2)]
    return TableEncoder(table), train, pool, test, labels[1::2]


def test_coral_gives_training_embeddings_the_target_mean_and_covariance():
    rng = np.random.default_rng(0)
    source = rng.normal(0, 1, (3000, 5)) @ np.diag([3.0, 1.0, 0.5, 0.2, 1.0])
    mixing = rng.normal(0, 1, (5, 5))
    target = rng.normal(0, 1, (3000, 5)) @ mixing + 2.0
    aligned = coral.align(source, coral.target_statistics(target))

    def gap(x):
        return np.linalg.norm(np.cov(x.T) - np.cov(target.T)) / np.linalg.norm(np.cov(target.T))

    assert gap(source) > 0.5
    assert gap(aligned) < 0.05
    np.testing.assert_allclose(aligned.mean(axis=0), target.mean(axis=0), atol=1e-3)


@pytest.mark.parametrize("name", ["probe", "prototype"])
def test_coral_moves_predictions_for_target_items_towards_their_classes(name):
    encoder, train, pool, test, truth = synthetic_shift()
    accuracy = {}
    for adapted in (False, True):
        model = strategies.create(name)
        model.fit(train, encoder, **({"target_unlabeled": pool} if adapted else {}))
        predicted = np.array(model.classes_, dtype=object)[model.predict_proba(test).argmax(1)]
        accuracy[adapted] = (predicted == truth).mean()
    assert accuracy[False] < 0.6  # about one class only
    assert accuracy[True] > 0.95


def test_dann_hook_confuses_features_and_trains_its_domain_classifier():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, generator=generator)
    y = (x[:, 0] > 0).long()
    target = torch.randn(400, 3, generator=generator) + torch.tensor([0.0, 0.0, 3.0])
    torch.manual_seed(0)
    network = nn.Sequential(nn.Linear(3, 8), nn.Identity(), nn.Dropout(0.0), nn.Linear(8, 2))
    settings = TrainSettings(epochs=5, batch_size=32, lr=0.01)
    hook = dann.dann_loss(network, target, len(x), settings)
    before = [p.detach().clone() for p in hook.module.parameters()]
    train(network, [network], x, y, settings, unlabeled=hook)
    assert float((network(x).argmax(1) == y).float().mean()) > 0.9
    after = list(hook.module.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert int(hook.module.calls) == settings.epochs * 7  # once per batch: 7 per epoch

    # One plain gradient step of the hook's loss: the domain classifier gets better at
    # telling the domains apart, and (through the reversal) the features get worse for it.
    indices = torch.arange(64)
    for part, sign in ((hook.module, -1), (network[0], +1)):
        loss = hook(network, x[:64], indices)
        network.zero_grad()
        hook.module.zero_grad()
        loss.backward()
        with torch.no_grad():
            for parameter in part.parameters():
                parameter -= 0.5 * parameter.grad
            changed = hook(network, x[:64], indices)
        assert sign * (changed - loss) > 0


def test_reversal_ramp_and_gradient_sign():
    assert dann.ramp(0.0) == 0.0
    assert 0.46 < dann.ramp(0.1) < 0.47
    assert dann.ramp(1.0) > 0.9999
    x = torch.ones(3, requires_grad=True)
    dann.ReverseGradient.apply(x, 0.25).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), -0.25))


TEXT_POOL = [
    "goal! what a match tonight, the keeper was unreal",
    "my sourdough finally rose, baked it at 250 for 40 min",
    "stocks tanked again, my pension fund is bleeding",
    "that penalty shootout had me on the edge of my seat",
    "tried a new risotto recipe with mushrooms and thyme",
    "rates up again?! mortgage payments are going through the roof",
]


def test_finetune_with_dann_is_deterministic_and_saves_no_domain_classifier(text_csv, tmp_path):
    dataset = read_source(text_csv, labeled=True)
    pool = read_pool(TEXT_POOL, dataset, what="The target pool")
    params = {"finetune": {"epochs": 2, "top_groups": 1, "batch_size": 8}}

    def fitted(target):
        return fit_dataset(
            dataset,
            strategy="finetune",
            strategy_params=params,
            estimate=False,
            seed=3,
            fit_params={"target_unlabeled": target},
        )

    plain, adapted, again = fitted(None), fitted(pool), fitted(pool)
    assert adapted.info["adaptation"]["method"] == "dann"
    assert adapted.info["adaptation"]["pool_size"] == len(TEXT_POOL)
    assert "adaptation" not in plain.info
    plain_state, adapted_state = plain.strategy.get_state()[0], adapted.strategy.get_state()[0]
    assert set(plain_state) == set(adapted_state)  # the domain classifier is not saved
    assert any(not np.array_equal(plain_state[k], adapted_state[k]) for k in plain_state)
    for key, value in adapted_state.items():
        np.testing.assert_array_equal(value, again.strategy.get_state()[0][key])
    for name, model in (("model", adapted), ("plain", plain)):
        model.save(tmp_path / name)
    saved = [set(load_file(tmp_path / name / "weights.safetensors")) for name in ("model", "plain")]
    assert saved[0] == saved[1]
    items = read_source(text_csv, labeled=True).items[:5] + TEXT_POOL[:3]
    np.testing.assert_allclose(
        load(tmp_path / "model").predict_proba(items), adapted.predict_proba(items), atol=1e-6
    )


def test_the_target_pool_reaches_every_fold_and_the_refit(text_csv, monkeypatch):
    dataset = read_source(text_csv, labeled=True)
    pool = read_pool(TEXT_POOL, dataset, what="The target pool")
    calls = []
    real = coral.align
    monkeypatch.setattr(coral, "align", lambda f, t: calls.append(len(f)) or real(f, t))
    first = fit_dataset(
        dataset, strategy="probe", folds=3, seed=1, fit_params={"target_unlabeled": pool}
    )
    folds = first.info["settings"]["folds"] * first.info["settings"]["repeats"]
    assert len(calls) == folds + 1  # each fold's training part, then all 18 for the refit
    assert calls[-1] == len(dataset) and max(calls[:-1]) < len(dataset)
    second = fit_dataset(
        dataset, strategy="probe", folds=3, seed=1, fit_params={"target_unlabeled": pool}
    )
    assert first.metrics["accuracy"] == second.metrics["accuracy"]
    np.testing.assert_array_equal(first.predict_proba(TEXT_POOL), second.predict_proba(TEXT_POOL))
    assert first.info["candidates"][0]["adaptation"] == "coral"


def test_a_probe_with_copies_aligns_them_with_their_sources(image_folder, tmp_path, monkeypatch):
    from PIL import ImageOps

    from smallfit import backbones
    from smallfit.data import load_image

    dataset = read_source(image_folder, labeled=True)
    (tmp_path / "pool").mkdir()
    for i, path in enumerate(dataset.items[::3]):  # another domain: the colours inverted
        ImageOps.invert(load_image(path)).save(tmp_path / "pool" / f"{i}.png")
    pool = read_pool(tmp_path / "pool", dataset, what="The target pool")
    calls = []
    real = coral.align
    monkeypatch.setattr(coral, "align", lambda f, t: calls.append(len(f)) or real(f, t))
    probe = strategies.create("probe", copies=1, random_state=0)
    probe.fit(dataset, backbones.create("efficientnet_lite0"), target_unlabeled=pool)
    assert calls == [2 * len(dataset)]  # each image and its copy, aligned together
    assert probe.predict_proba(pool.items[:2]).shape == (2, 3)


def test_cli_fit_with_a_target_pool_records_it(text_csv, tmp_path):
    pool = tmp_path / "pool.csv"
    pd.DataFrame({"text": TEXT_POOL}).to_csv(pool, index=False)
    code, output = run("fit", text_csv, "--out", tmp_path / "m", "--target-unlabeled", pool)
    assert code == 0, output
    assert "measured on the labeled (source) domain" in output
    info = json.loads((tmp_path / "m" / "model.json").read_text())
    adaptation = {row["strategy"]: row["adaptation"] for row in info["candidates"]}
    assert adaptation == {
        "probe": "coral",
        "prototype": "coral",
        "zeroshot": "none (cannot adapt)",
        "classic": "none (cannot adapt)",
        "hybrid": "none (cannot adapt)",
    }
    assert info["adaptation"]["pool_size"] == len(TEXT_POOL)
    assert info["adaptation"]["pool_source"].endswith("pool.csv")


def test_cli_refuses_bad_target_pools_with_the_pool_messages(text_csv, image_folder, tmp_path):
    copies = tmp_path / "copies.csv"
    pd.read_csv(text_csv)[["text"]].to_csv(copies, index=False)
    empty = tmp_path / "empty.csv"
    empty.write_text("text\n")
    for pool, message in (
        (image_folder, "The target pool .* holds images but the labeled data holds texts"),
        (copies, "The target pool .*: all 18 of its items are already in the labeled data"),
        (empty, "empty"),
    ):
        code, output = run("fit", text_csv, "--out", tmp_path / "m", "--target-unlabeled", pool)
        assert code == 2
        assert re.search(message, output), output
