"""The training loop and the finetune strategy: rates, early stopping, saved weights."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from smallfit import backbones
from smallfit.augment import shifted
from smallfit.modalities.reading import read_source
from smallfit.model import Model, load
from smallfit.strategies.finetune import FineTune, cat_padded
from smallfit.train.loop import (
    TrainSettings,
    early_stopping_split,
    parameter_groups,
    stratified_holdout,
    train,
)
from smallfit.train.norms import refresh_batch_norm


def test_discriminative_rates_decay_from_the_top_and_spare_biases_from_decay():
    groups = [nn.Linear(3, 3), nn.Linear(3, 3), nn.Linear(3, 2)]
    settings = TrainSettings(lr=0.1, layer_decay=0.5, weight_decay=0.01)
    result = parameter_groups(groups, settings)
    rates = sorted({g["lr"] for g in result}, reverse=True)
    assert rates == pytest.approx([0.1, 0.05, 0.025])
    for group in result:
        assert group["weight_decay"] == (0.0 if group["params"][0].ndim == 1 else 0.01)


def test_training_learns_and_early_stopping_restores_the_best_epoch():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(120, 5, generator=generator)
    y = (x[:, 0] > 0).long()
    noisy_val = (x[:20], 1 - y[:20])  # validation that gets worse as training improves
    model = nn.Linear(5, 2)
    history = train(
        model, [model], x, y, TrainSettings(epochs=30, lr=0.05, patience=3), validation=noisy_val
    )
    assert len(history) < 30  # stopped early
    best = min(history, key=lambda r: r["val_loss"])
    with torch.no_grad():
        val_loss = nn.functional.cross_entropy(model(noisy_val[0]), noisy_val[1]).item()
    assert val_loss == pytest.approx(best["val_loss"], abs=1e-5)

    model = nn.Linear(5, 2)
    train(model, [model], x, y, TrainSettings(epochs=20, lr=0.05))
    with torch.no_grad():
        assert (model(x).argmax(1) == y).float().mean() > 0.9


def test_same_seed_trains_identical_weights():
    x, y = torch.randn(40, 4), torch.arange(40) % 2
    weights = []
    for _ in range(2):
        torch.manual_seed(123)  # the model's initialisation, as a strategy would seed it
        model = nn.Linear(4, 2)
        train(model, [model], x, y, TrainSettings(epochs=3, seed=7))
        weights.append(model.weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=0)


def test_stratified_holdout_keeps_every_class_in_training():
    y = np.array([0] * 10 + [1] * 3 + [2] * 2)
    fit_part, val_part = stratified_holdout(y, 0.2, seed=0)
    assert set(y[fit_part]) == {0, 1, 2}
    assert sorted(np.bincount(y[val_part], minlength=3)) == [0, 1, 2]
    assert not set(fit_part) & set(val_part)


@pytest.fixture(scope="module")
def finetuned(image_folder):
    dataset = read_source(image_folder, labeled=True)
    encoder = backbones.create("efficientnet_lite0")
    before = {k: v.clone() for k, v in encoder.body.state_dict().items()}
    strategy = FineTune(epochs=10, top_groups=1).fit(dataset, encoder)
    return dataset, encoder, before, strategy


def test_finetune_learns_without_touching_the_shared_encoder(finetuned):
    dataset, encoder, before, strategy = finetuned
    proba = strategy.predict_proba(dataset.items)
    assert (proba.argmax(axis=1) == dataset.y).mean() >= 0.8
    for key, value in encoder.body.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    changed = strategy.upper_[0].state_dict()
    original = encoder.layer_groups()[-1].state_dict()
    assert any(not torch.equal(changed[k], original[k]) for k in original)


def test_finetuned_model_predicts_identically_in_a_new_process(finetuned, tmp_path):
    dataset, _, _, strategy = finetuned
    directory = Model(strategy, "efficientnet_lite0", "image", dataset.classes).save(tmp_path / "m")
    expected = strategy.predict_proba(dataset.items)
    np.testing.assert_allclose(load(directory).predict_proba(dataset), expected, atol=1e-6)
    script = (
        "import json, sys, smallfit; m = smallfit.load(sys.argv[1]); "
        "print(json.dumps(m.predict_proba(sys.argv[2:]).tolist()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(directory), *map(str, dataset.items)],
        capture_output=True,
        text=True,
        check=True,
    )
    np.testing.assert_allclose(np.array(json.loads(result.stdout)), expected, atol=1e-5)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "constant"])
@pytest.mark.parametrize("steps", [1, 2, 3, 5, 10, 40])
def test_schedules_run_for_any_number_of_steps(schedule, steps):
    from smallfit.train.loop import make_optimizer, make_schedule

    model = nn.Linear(2, 2)
    settings = TrainSettings(schedule=schedule, lr=0.1)
    optimizer = make_optimizer(parameter_groups([model], settings), settings)
    scheduler = make_schedule(optimizer, settings, steps)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert max(rates) <= 0.1 + 1e-9 and min(rates) > 0
    if schedule != "constant" and steps >= 10:
        assert rates[-1] < 0.05  # annealed by the end


def test_lr_finder_suggests_a_workable_rate_and_restores_weights():
    from smallfit.train.loop import find_lr

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=generator)
    y = (x[:, 0] + x[:, 1] > 0).long()
    torch.manual_seed(0)
    model = nn.Linear(5, 2)
    before = model.weight.detach().clone()
    suggestion, curve = find_lr(model, [model], x, y, TrainSettings(batch_size=32))
    torch.testing.assert_close(model.weight, before, rtol=0, atol=0)
    assert 1e-4 <= suggestion <= 1.0
    rates = [rate for rate, _ in curve]
    assert rates == sorted(rates) and len(curve) >= 20
    train(model, [model], x, y, TrainSettings(epochs=10, lr=suggestion))
    with torch.no_grad():
        assert (model(x).argmax(1) == y).float().mean() > 0.9


def test_finetune_can_choose_its_rate_with_the_range_test(image_folder):
    dataset = read_source(image_folder, labeled=True)
    strategy = FineTune(lr="auto", epochs=2, top_groups=1, augment="none")
    strategy.fit(dataset, backbones.create("efficientnet_lite0"))
    rates = [rate for rate, _ in strategy.lr_curve_]
    assert rates[0] <= strategy.lr_ * 10 <= rates[-1]


def test_text_layer_groups_reproduce_the_sentence_embedding_in_padded_batches():
    encoder = backbones.create("minilm")
    texts = ["a happy dog", "the central bank raised interest rates by a quarter point today"]
    packed = cat_padded([encoder.body_input([t]) for t in texts])  # two lengths, padded
    assert packed.shape[0] == 2 and packed[0, :, 1].sum() < packed[1, :, 1].sum()
    with torch.inference_mode():
        for group in encoder.layer_groups():
            packed = group(packed)
        pooled = encoder.pooling()(packed)
    cosine = torch.nn.functional.cosine_similarity(pooled, torch.from_numpy(encoder.embed(texts)))
    assert cosine.min().item() > 0.9999


@pytest.mark.parametrize("mix", ["mixup", "cutmix"])
def test_mixing_blends_inputs_and_targets_in_the_same_proportion(mix):
    from smallfit.train.loop import mixed

    x = torch.stack([torch.full((1, 8, 8), float(i)) for i in range(6)])
    settings = TrainSettings(mix=mix, mix_alpha=1.0)
    inputs, partner, share = mixed(x, settings, torch.Generator().manual_seed(3))
    assert 0.0 <= share <= 1.0 and sorted(partner.tolist()) == list(range(6))
    # each mixed map's mean is the share-weighted mean of its two sources
    expected = share * x.mean(dim=(1, 2, 3)) + (1 - share) * x[partner].mean(dim=(1, 2, 3))
    torch.testing.assert_close(inputs.mean(dim=(1, 2, 3)), expected)
    again = mixed(x, settings, torch.Generator().manual_seed(3))
    assert torch.equal(again[0], inputs) and again[2] == share  # seeded


def test_mixing_refuses_text_activations():
    from smallfit.train.loop import mixed

    with pytest.raises(ValueError, match="image feature maps"):
        mixed(torch.zeros(4, 10, 5), TrainSettings(mix="mixup"), torch.Generator())


def test_unfreeze_all_trains_the_lowest_layer_group_too(image_folder):
    dataset = read_source(image_folder, labeled=True)
    encoder = backbones.create("efficientnet_lite0")
    strategy = FineTune(unfreeze="all", epochs=1, augment="none").fit(dataset, encoder)
    assert strategy.split_ == 0 and strategy.top_count == len(encoder.layer_groups())
    stem_before = encoder.layer_groups()[0].state_dict()
    stem_after = strategy.upper_[0].state_dict()
    assert any(not torch.equal(stem_before[k], stem_after[k]) for k in stem_before)


def test_gradual_unfreezing_runs_a_still_frozen_group_once_per_stage(image_folder, monkeypatch):
    dataset = read_source(image_folder, labeled=True)
    encoder = backbones.create("efficientnet_lite0")
    rows = []  # items passed through the lower of the two fine-tuned groups
    build = FineTune._build

    def counting_build(self, *args):
        split, upper = build(self, *args)
        upper[0].register_forward_hook(lambda module, inputs, output: rows.append(len(inputs[0])))
        return split, upper

    monkeypatch.setattr(FineTune, "_build", counting_build)
    epochs = 4
    strategy = FineTune(top_groups=2, epochs=epochs, augment="none").fit(dataset, encoder)
    assert len(strategy.history_) > 2 * epochs - 2  # all three stages trained
    # stages 0 and 1 read that group's output once each; stage 2 trains it every epoch
    assert sum(rows) <= (2 + epochs) * len(dataset)


def test_batches_group_similar_lengths_yet_cover_every_item_once_in_a_seeded_order():
    from smallfit.train.loop import GROUPED_BATCHES, batch_order

    sizes = np.random.default_rng(0).integers(5, 300, size=400)

    def padded_tokens(batches):  # what a batch costs: its length times its longest member
        return sum(len(b) * sizes[b.numpy()].max() for b in batches)

    plain = batch_order(400, 16, torch.Generator().manual_seed(1))
    grouped = batch_order(400, 16, torch.Generator().manual_seed(1), sizes)
    assert len(grouped) == len(plain) == 25
    assert sorted(torch.cat(grouped).tolist()) == list(range(400))
    assert padded_tokens(grouped) < 0.8 * padded_tokens(plain)
    again = batch_order(400, 16, torch.Generator().manual_seed(1), sizes)
    assert all(torch.equal(a, b) for a, b in zip(grouped, again, strict=True))
    # membership still changes between epochs: groups are drawn at random
    later = batch_order(400, 16, torch.Generator().manual_seed(2), sizes)
    assert {tuple(sorted(b.tolist())) for b in later} != {
        tuple(sorted(b.tolist())) for b in grouped
    }
    assert GROUPED_BATCHES > 1


def test_text_activations_computed_in_length_order_return_in_the_items_order():
    from smallfit.strategies.finetune import lower_activations

    encoder = backbones.create("minilm")
    texts = ["a much longer text about the central bank and its rates", "short", "mid length one"]
    together = lower_activations(encoder, 2, texts, 2, "test")
    for row, text in zip(together, texts, strict=True):
        alone = lower_activations(encoder, 2, [text], 1, "test")[0]
        used = int(alone[:, -1].sum())
        assert int(row[:, -1].sum()) == used  # the same text's mask, not a neighbour's
        torch.testing.assert_close(row[:used], alone[:used], atol=1e-4, rtol=1e-4)


def test_early_stopping_validates_on_two_items_per_class_or_not_at_all():
    y = np.repeat([0, 1, 2], 10)
    fit_part, validation = early_stopping_split(y, 0.2, seed=0)
    assert np.bincount(y[validation]).tolist() == [2, 2, 2] and len(fit_part) == 24
    assert not set(fit_part) & set(validation)
    y = np.repeat([0, 1, 2], [10, 10, 4])  # a class of 4 cannot give 2 and keep 3
    fit_part, validation = early_stopping_split(y, 0.2, seed=0)
    assert len(validation) == 0 and fit_part.tolist() == list(range(24))


def test_random_shifts_move_each_image_by_at_most_the_given_pixels():
    x = torch.zeros(32, 1, 9, 9)
    x[:, :, 4, 4] = 1
    moved = shifted(x, 2, torch.Generator().manual_seed(0))
    where = moved[:, 0].flatten(1).argmax(1)
    rows, cols = where // 9, where % 9
    assert moved.shape == x.shape and moved.sum() == 32  # moved, never cut off
    assert ((rows - 4).abs() <= 2).all() and ((cols - 4).abs() <= 2).all()
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 5  # per image
    assert torch.equal(shifted(x, 0, torch.Generator()), x)


def test_refreshed_batch_norm_holds_the_training_inputs_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(40, 3) * 5 + 2
    refresh_batch_norm(model, x, batch_size=8)
    with torch.no_grad():
        hidden = model[0](x)
    norm = model[1]
    assert torch.allclose(norm.running_mean, hidden.mean(0), atol=1e-4)
    assert torch.allclose(norm.running_var, hidden.var(0), rtol=0.2)
    assert norm.momentum == 0.1 and not model.training
    plain = nn.Sequential(nn.Linear(3, 2))
    before = [p.clone() for p in plain.parameters()]
    refresh_batch_norm(plain, x, batch_size=8)  # nothing to refresh: nothing changes
    assert all(torch.equal(a, b) for a, b in zip(before, plain.parameters(), strict=True))


def test_training_with_refreshed_norms_leaves_statistics_of_the_final_weights():
    # one step an epoch: the moving average has moved a tenth of the way from its start
    x = torch.randn(16, 3) + 50.0
    y = torch.tensor([0, 1] * 8)
    means = {}
    for refresh in (False, True):
        torch.manual_seed(0)
        model = nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 2))
        settings = TrainSettings(epochs=1, batch_size=32, refresh_norms=refresh)
        train(model, [model], x, y, settings)
        means[refresh] = model[0].running_mean
    assert torch.allclose(means[True], x.mean(0), atol=1e-4)
    assert (means[False] < 0.2 * x.mean(0)).all()  # stale: 0.1 of the way from 0
