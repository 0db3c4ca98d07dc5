"""Per-epoch checkpoints: an interrupted fit resumes to the model an uninterrupted one makes."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import smallfit
from smallfit.strategies import finetune
from smallfit.train import loop
from smallfit.train.checkpoint import checkpointing
from smallfit.train.loop import TrainSettings, train


def _data():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(80, 6, generator=generator)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return x, y, (x[:16], y[:16])


def _model() -> nn.Module:
    torch.manual_seed(3)  # dropout draws from the global generator: the state must resume too
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))


class EpochCounter:
    """Stands in for the loop's per-epoch validation; raises Ctrl-C at epoch `interrupt_at`."""

    def __init__(self, interrupt_at: int | None = None):
        self.calls, self.interrupt_at, self.real = 0, interrupt_at, loop.evaluate

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        return self.real(*args, **kwargs)


def test_an_interrupted_run_resumes_at_its_next_epoch_with_identical_weights(tmp_path, monkeypatch):
    x, y, validation = _data()
    settings = TrainSettings(epochs=8, lr=0.05, patience=100)
    reference = _model()
    expected = train(reference, [reference], x, y, settings, validation)

    monkeypatch.setattr(loop, "evaluate", EpochCounter(interrupt_at=4))
    model = _model()
    with checkpointing(tmp_path), pytest.raises(KeyboardInterrupt):
        train(model, [model], x, y, settings, validation)

    counter = EpochCounter()
    monkeypatch.setattr(loop, "evaluate", counter)
    model = _model()
    with checkpointing(tmp_path) as store:
        history = train(model, [model], x, y, settings, validation)
    assert (store.resumed_epochs, counter.calls) == (3, 5)  # epochs 1-3 saved, 4-8 trained
    assert history == expected
    for mine, theirs in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)

    # a finished run is restored without training; other data is another run
    model = _model()
    with checkpointing(tmp_path) as store:
        assert train(model, [model], x, y, settings, validation) == expected
    assert (store.restored_runs, counter.calls) == (1, 5)
    torch.testing.assert_close(model[0].weight, reference[0].weight, rtol=0, atol=0)
    model = _model()
    with checkpointing(tmp_path) as store:
        train(model, [model], x, 1 - y, settings, validation)
    assert (store.restored_runs, counter.calls) == (0, 13)


def test_checkpoints_hold_no_pickle_only_json_and_safetensors(tmp_path):
    x, y, validation = _data()
    model = _model()
    with checkpointing(tmp_path):
        train(model, [model], x, y, TrainSettings(epochs=2), validation)
    names = sorted(p.suffix for p in tmp_path.iterdir())
    assert names == [".json", ".safetensors"]
    record = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert record["weights"].endswith("-done.safetensors")


@pytest.mark.slow
def test_an_interrupted_finetune_fit_resumes_to_the_same_model(image_folder, tmp_path, monkeypatch):
    # 6 images per class are too few for early stopping's rule (2 per class to validate, 3
    # to train): hold one per class out as before, so that every epoch runs the validation
    # the counter below counts
    monkeypatch.setattr(finetune, "early_stopping_split", loop.stratified_holdout)
    options = dict(
        strategy="finetune", folds=2, strategy_params={"finetune": {"epochs": 3, "top_groups": 1}}
    )
    reference = smallfit.fit(image_folder, **options)

    # fold 1 (two stages of 3 epochs) finishes; fold 2 is interrupted in its first stage
    monkeypatch.setattr(loop, "evaluate", EpochCounter(interrupt_at=8))
    with pytest.raises(KeyboardInterrupt):
        smallfit.fit(image_folder, checkpoints=tmp_path, **options)
    monkeypatch.setattr(loop, "evaluate", EpochCounter())
    model = smallfit.fit(image_folder, checkpoints=tmp_path, **options)

    assert model.info["resumed"] == {
        "finished_runs_restored": 2,
        "epochs_restored_in_interrupted_runs": 1,
    }
    assert model.metrics["accuracy"] == reference.metrics["accuracy"]
    for key, value in reference.strategy.upper_.state_dict().items():
        torch.testing.assert_close(model.strategy.upper_.state_dict()[key], value, rtol=0, atol=0)
