"""The learning curve: subsamples, the power-law fit, the stored format and the advice."""

import numpy as np
import pytest

import smallfit
from smallfit.evaluate.cv import make_splits
from smallfit.evaluate.learning_curve import (
    advice,
    affordable,
    costly,
    fit_power_law,
    nested_subsamples,
    power_law,
)
from smallfit.strategies.ensemble import Ensemble
from smallfit.strategies.finetune import FineTune
from smallfit.strategies.probe import Probe
from tests.cli_runner import run


@pytest.mark.parametrize("a,b,c", [(0.9, 1.5, 0.6), (0.75, 0.4, 0.3), (0.98, 3.0, 1.2)])
def test_power_law_fit_recovers_known_parameters(a, b, c):
    sizes = np.array([20, 40, 80, 160, 320])
    fit = fit_power_law(sizes, a - b * sizes ** (-c))
    assert fit == pytest.approx({"a": a, "b": b, "c": c}, rel=1e-3)
    assert power_law(640, fit) == pytest.approx(a - b * 640 ** (-c), abs=1e-4)


def test_power_law_fit_on_noisy_points_predicts_near_the_truth():
    rng = np.random.default_rng(0)
    sizes = np.array([25, 50, 75, 100])
    truth = 0.9 - 1.2 * sizes ** (-0.5)
    fit = fit_power_law(sizes, truth + rng.normal(0, 0.005, 4), sigma=np.full(4, 0.005))
    assert abs(power_law(200, fit) - (0.9 - 1.2 * 200 ** (-0.5))) < 0.03
    assert 0 <= fit["a"] <= 1 and fit["b"] >= 0


def test_an_automatic_curve_runs_on_all_repeats_one_repeat_or_none_as_its_cost_allows():
    splits = make_splits(np.repeat([0, 1], 50), folds=5, repeats=4)
    assert len(splits.pairs) == 20
    # 20 folds x (0.25 + 0.5 + 0.75) of a 0.5 s fit: 15 s; refitting the 100% point: 25 s
    assert affordable(splits, 0.5, refits_full=False, limit=20.0) is splits
    assert len(affordable(splits, 0.5, refits_full=True, limit=20.0).pairs) == 3
    assert affordable(splits, 5.0, refits_full=True, limit=20.0) is None
    # the coarse parts are other folds, so their 100% point is refitted: 3 x 2.5 x 3 s
    assert affordable(splits, 3.0, refits_full=False, limit=20.0) is None
    assert affordable(splits, None, refits_full=True, limit=20.0) is splits


def test_a_flat_or_falling_curve_predicts_no_gain():
    fit = fit_power_law([10, 20, 30, 40], [0.8, 0.79, 0.8, 0.78])
    assert power_law(160, fit) <= 0.81


def test_subsamples_are_nested_stratified_and_keep_every_class():
    y = np.repeat([0, 1, 2], [8, 4, 1])
    train = np.arange(13)
    parts = nested_subsamples(train, y, (0.25, 0.5, 0.75, 1.0), seed=3)
    assert [len(p) for p in parts] == [2 + 1 + 1, 4 + 2 + 1, 6 + 3 + 1, 13]
    for small, large in zip(parts, parts[1:], strict=False):
        assert set(small) <= set(large)
    assert all(set(y[p]) == {0, 1, 2} for p in parts)
    assert nested_subsamples(train, y, (0.5,), seed=3)[0].tolist() == parts[1].tolist()


def test_costly_means_a_network_body_is_trained():
    assert not costly(Probe()) and costly(FineTune())
    mixed = Ensemble()
    mixed.members_ = [Probe(), FineTune()]
    assert costly(mixed)


def test_fit_stores_the_learning_curve_in_the_documented_format(text_csv):
    model = smallfit.fit(text_csv, strategy="prototype")  # frozen, so on by default
    curve = model.info["learning_curve"]
    assert list(curve) == ["sizes", "accuracy", "low", "high", "fit", "predicted"]
    sizes = curve["sizes"]
    assert all(isinstance(s, int) for s in sizes) and sizes == sorted(set(sizes))
    assert len(sizes) >= 3 and sizes[-1] == 15  # 6 folds of 18 items (6 a class) train on 15
    assert len(curve["accuracy"]) == len(curve["low"]) == len(curve["high"]) == len(sizes)
    for value, low, high in zip(curve["accuracy"], curve["low"], curve["high"], strict=True):
        assert 0 <= low <= value <= high <= 1
    assert curve["accuracy"][-1] == pytest.approx(model.metrics["accuracy"]["value"], abs=1e-6)
    assert set(curve["fit"]) == {"a", "b", "c"}
    assert [p["factor"] for p in curve["predicted"]] == [2, 4]
    assert [p["n"] for p in curve["predicted"]] == [36, 72]
    for point in curve["predicted"]:
        assert set(point) == {"factor", "n", "accuracy", "low", "high"}
        assert 0 <= point["low"] <= point["high"] <= 1
    assert "2x the labels (n=36)" in advice(curve)
    assert (
        "learning_curve"
        not in smallfit.fit(text_csv, strategy="prototype", learning_curve=False).info
    )


def test_fit_prints_should_i_label_more(text_csv, tmp_path):
    code, output = run("fit", text_csv, "--out", tmp_path / "m", "--strategy", "prototype")
    assert code == 0, output
    assert "Should I label more?" in output and "with 4x (n=72)" in output
    code, output = run(
        "fit", text_csv, "--out", tmp_path / "n", "--strategy", "prototype", "--no-learning-curve"
    )
    assert code == 0 and "Should I label more?" not in output


def test_no_learning_curve_by_default_once_the_time_budget_is_spent(text_csv):
    model = smallfit.fit(text_csv, strategy="prototype", time_budget=0.001)
    assert "learning_curve" not in model.info
