"""Shared plumbing for unlabeled data: the pool reader, fit-parameter routing, the loop hook."""

import numpy as np
import pytest
import torch
from torch import nn

from smallfit.errors import SmallfitError
from smallfit.evaluate import make_splits, out_of_fold
from smallfit.modalities.pools import read_pool
from smallfit.modalities.reading import read_source
from smallfit.strategies.base import Strategy, accepted_fit_params
from smallfit.train.loop import TrainSettings, UnlabeledLoss, combined, train


def test_pool_drops_items_of_the_labeled_data_and_says_how_many(image_folder, tmp_path):
    labeled = read_source(image_folder, labeled=True)
    pool_dir = tmp_path / "pool"
    pool_dir.mkdir()
    for path in labeled.items[:2]:  # two copies of training images under new names
        (pool_dir / f"copy_{path.name}").write_bytes(path.read_bytes())
    (pool_dir / "new.png").write_bytes(labeled.items[0].read_bytes()[:-1] + b"\0")
    with pytest.warns(UserWarning, match="2 of its 3 items are already in the labeled data"):
        pool = read_pool(pool_dir, labeled)
    assert [p.name for p in pool.items] == ["new.png"]
    assert pool.labels is None


def test_pool_refuses_an_empty_pool_another_modality_and_a_pool_of_only_copies(
    image_folder, text_csv, tmp_path
):
    images = read_source(image_folder, labeled=True)
    texts = read_source(text_csv, labeled=True)
    with pytest.raises(SmallfitError, match="holds texts but the labeled data holds images"):
        read_pool(text_csv, images)
    with pytest.raises(SmallfitError, match="holds images but the labeled data holds texts"):
        read_pool(image_folder, texts)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SmallfitError, match="No images or sounds found"):
        read_pool(empty, images)
    with pytest.raises(SmallfitError, match="all 18 of its items are already in the labeled"):
        read_pool(list(texts.items), texts)


class PoolAware(Strategy):
    """Records the pool it was given (a stand-in for a semi-supervised strategy)."""

    name = "pool-aware-test"

    def __init__(self, random_state: int = 0):
        self.random_state = random_state

    def fit(self, dataset, encoder, unlabeled=None):
        self._remember(dataset, encoder)
        self.pool_size_ = len(unlabeled) if unlabeled is not None else 0
        self.prior_ = np.bincount(dataset.y, minlength=len(dataset.classes)) / len(dataset)
        return self

    def predict_proba(self, items):
        return np.tile(self.prior_, (len(items), 1)) + self.pool_size_ * 0.0


def test_fit_parameters_reach_only_strategies_that_take_them(text_csv):
    dataset = read_source(text_csv, labeled=True)
    params = {"unlabeled": ["a", "b", "c"], "target_unlabeled": ["x"], "other": None}
    assert accepted_fit_params(PoolAware(), params) == {"unlabeled": ["a", "b", "c"]}
    splits = make_splits(dataset.y, folds=3, repeats=1)
    probas = out_of_fold(PoolAware(), dataset, None, splits, fit_params=params)
    assert np.isfinite(probas).all()


class ShiftTowards(UnlabeledLoss):
    """Pulls the model's output for unlabeled points towards class 1, through an extra
    trainable scale (so the hook's own weights must train and be restored)."""

    def __init__(self, data):
        self.data = data
        self.module = nn.Linear(1, 1, bias=False)
        nn.init.ones_(self.module.weight)  # not a random sign: the pull must point to class 1
        self.size, self.batch_size = len(data), 8

    def tensors(self):
        return [self.data]

    def __call__(self, model, inputs, indices):
        logits = model(self.data[indices]) * self.module.weight
        return nn.functional.cross_entropy(logits, torch.ones(len(indices), dtype=torch.long))


def test_unlabeled_hook_adds_its_loss_and_trains_its_own_weights():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(60, 3, generator=generator)
    y = (x[:, 0] > 0).long()
    pool = torch.randn(200, 3, generator=generator) - torch.tensor([3.0, 0, 0])
    predicted_one = []
    for with_hook in (False, True):
        torch.manual_seed(0)  # before the hook's own weights are drawn too
        model = nn.Linear(3, 2)
        hook = ShiftTowards(pool) if with_hook else None
        before = hook and hook.module.weight.detach().clone()
        train(model, [model], x, y, TrainSettings(epochs=15, lr=0.05), unlabeled=hook)
        with torch.no_grad():
            predicted_one.append(float((model(pool).argmax(1) == 1).float().mean()))
        if hook:
            assert not torch.equal(before, hook.module.weight)
    # without the hook the pool (far on the class-0 side) is class 0; with it, mostly 1
    assert predicted_one[0] < 0.1 < 0.6 < predicted_one[1]
    assert combined([None, None]) is None
    single = ShiftTowards(pool)
    assert combined([None, single]) is single
    both = combined([single, ShiftTowards(pool[:50])])
    assert len(list(both.module.parameters())) == 2
