"""The budgeted search: presets, reuse of repeated configurations, the budget, honest
estimates (BBC-CV, outer holdout), MLflow logging (workers: test_workers.py)."""

import json
import time

import numpy as np
import optuna
import pytest

import smallfit
from smallfit.budget import Budget
from smallfit.errors import SmallfitError
from smallfit.evaluate import make_splits, out_of_fold
from smallfit.evaluate.selection import bbc_cv, outer_split
from smallfit.fitting import combine as combining
from smallfit.fitting import search
from smallfit.fitting import space as spaces
from smallfit.fitting.candidates import Candidate, build
from smallfit.fitting.compare import fit_dataset
from smallfit.modalities.reading import from_python
from tests.cli_runner import run
from tests.conftest import TEXTS


def text_data():
    texts = [t for texts in TEXTS.values() for t in texts]
    labels = [label for label, texts in TEXTS.items() for _ in texts]
    return from_python(texts, labels)


def test_default_budget_rule_and_presets():
    assert spaces.default_budget(18) == 138
    assert spaces.default_budget(300) == 420
    assert spaces.default_budget(5000) == 600
    with pytest.raises(SmallfitError, match="Unknown preset 'quick'; choose from fast"):
        spaces.check_preset("quick")
    space = spaces.make_space("image", "balanced", None, {"finetune": {"mix": "mixup"}})
    assert list(space.params) == ["probe", "prototype", "classic", "finetune"]
    assert "mix" not in space.params["finetune"]  # the user fixed it
    assert space.encoders["classic"] == ["pixels"]
    assert "lora" in spaces.make_space("text", "best", None).params
    assert "lora" not in spaces.make_space("image", "best", None).params
    # a table has no pretrained encoder: any preset searches its own learners
    table = spaces.make_space("table", "fast", None)
    assert list(table.params) == ["classic", "forest", "boosting", "knn", "mlp"]
    assert set(map(tuple, table.encoders.values())) == {(None,)}


def test_a_searched_encoder_is_the_candidates_backbone_not_a_strategy_parameter():
    space = spaces.Space("image", {"probe": ["lite_a", "lite_b"]}, {"probe": {}}, {})
    chosen = spaces.candidate_of(space, {"strategy": "probe", "probe.encoder": "lite_b"})
    assert (chosen.params, chosen.backbone, chosen.label) == ({}, "lite_b", "probe@lite_b")


def test_fast_search_runs_defaults_first_reuses_repeats_and_stops_when_done():
    model = fit_dataset(text_data(), preset="fast", time_budget=300, folds=2)
    rows = model.info["candidates"]
    assert [r["candidate"] for r in rows[:4]] == ["probe", "prototype", "zeroshot", "classic"]
    summary = model.info["search"]
    assert summary["space_size"] == 6  # probe and classic x 2 class weightings, + 2
    assert summary["distinct_configurations"] == len(rows) == 6  # each scored once
    assert summary["trials"] >= len(rows)
    assert model.info["fit_seconds"] < 300  # stopped when every configuration was seen
    assert {"candidate", "strategy", "params", "backbone", "accuracy", "cv_seconds"} <= set(rows[0])
    best = max(r["accuracy"]["value"] for r in rows if r["accuracy"])
    assert model.metrics["accuracy"]["value"] == best
    honest = model.metrics["honest"]
    assert honest["method"].startswith("BBC-CV over")
    assert honest["low"] <= honest["value"] <= honest["high"] and honest["value"] <= best


def test_the_best_preset_also_tries_an_ensemble_of_the_trials(monkeypatch, tmp_path):
    monkeypatch.setitem(spaces.PRESETS, "best", spaces.PRESETS["fast"])  # the same, quickly
    # force the resampled check to keep a probe + classic blend of two trials
    weights = {"probe": 0.5, "classic": 0.5}
    monkeypatch.setattr(combining, "select", lambda probas, y, items: weights)
    real = combining.resampled  # its weights come from the patched select
    monkeypatch.setattr(
        combining,
        "resampled",
        lambda probas, y, seed, groups=None: (
            real(probas, y, seed, groups=groups)
            | {
                "ensemble": np.array([0.9, 1.0]),
                "best_single": np.array([0.5]),
                "average": np.array([0.5]),
            }
        ),
    )
    dataset = text_data()
    model = fit_dataset(dataset, preset="best", time_budget=300, folds=2)
    assert model.info["ensemble"]["kept"] and model.strategy.name == "ensemble"
    assert [m["strategy"] for m in model.strategy.members] == ["probe", "classic"]
    honest = model.metrics["honest"]  # no outer holdout: the resampled whole choice
    assert honest["method"].startswith("the whole choice among") and honest["value"] == 0.95
    loaded = smallfit.load(model.save(tmp_path / "best"))
    np.testing.assert_array_equal(
        loaded.predict_proba(dataset.items), model.predict_proba(dataset.items)
    )
    plain = fit_dataset(dataset, preset="fast", time_budget=300, folds=2)
    assert "ensemble" not in plain.info  # other presets try one only when asked
    assert "ensemble" not in fit_dataset(dataset, preset="best", ensemble=False).info


def test_same_seed_gives_the_same_search():
    dataset = text_data()
    first = fit_dataset(dataset, preset="fast", seed=4, folds=2)
    second = fit_dataset(dataset, preset="fast", seed=4, folds=2)
    assert (second.predict(dataset.items) == dataset.labels).mean() >= 0.9
    for record in (first.info, second.info):
        for row in record["candidates"]:
            row.pop("cv_seconds")
    assert first.info["candidates"] == second.info["candidates"]
    assert first.metrics == second.metrics
    assert first.info["search"]["study"] is None  # in memory: nothing to join


def test_bbc_cv_corrects_the_optimism_of_the_best_of_many():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    noise = [rng.dirichlet([1, 1], size=300)[None] for _ in range(40)]  # chance-level
    best = max(float((p[0].argmax(1) == y).mean()) for p in noise)
    estimate = bbc_cv(y, noise)
    assert best > 0.54  # the winner's curse: the best of 40 coins looks skilled
    assert abs(estimate["value"] - 0.5) < 0.04 and estimate["low"] < 0.5 < estimate["high"]
    perfect = np.eye(2)[y][None]
    assert bbc_cv(y, [*noise, perfect])["value"] == 1.0  # a real winner keeps its score


def test_outer_split_only_with_enough_items_and_stratified():
    assert outer_split(np.repeat([0, 1], 150), 0) is None
    y = np.repeat([0, 1, 2], [200, 150, 100])
    inner, holdout = outer_split(y, 0)
    assert len(holdout) == 90 and not set(inner) & set(holdout)
    assert np.bincount(y[holdout]).tolist() == [40, 30, 20]


def test_out_of_fold_reports_each_fold():
    dataset = text_data()
    splits = make_splits(dataset.y, folds=3, repeats=1)
    seen = []
    strategy, encoder = build(Candidate("prototype", {}, "minilm"), 0)
    out_of_fold(strategy, dataset, encoder, splits, on_fold=lambda n, p: seen.append(n))
    assert seen == [0, 1, 2]


def test_a_trial_projected_past_the_budget_is_skipped_and_the_search_stops():
    created = search.start(
        text_data(),
        backbone=None,
        preset="balanced",
        budget=Budget.of(120),
        storage=None,
        seed=0,
        folds=2,
    )
    measured = optuna.trial.create_trial(  # as if finetune had cost 100 s per item and fold
        state=optuna.trial.TrialState.PRUNED,
        user_attrs={"strategy": "finetune", "seconds_per_item": 100.0},
    )
    created.study.add_trial(measured)
    assert created.projected("finetune") == pytest.approx(100.0 * 9 * 2)
    created.run()
    rows = created.collect(created.dataset).leaderboard
    finetune = [r for r in rows if r["strategy"] == "finetune"]
    assert [r["candidate"] for r in rows[:4]] == ["probe", "prototype", "zeroshot", "classic"]
    assert finetune and all(r["skipped"].startswith("time budget: projected") for r in finetune)
    assert len(created.study.trials) < 60  # stopped once only unaffordable configurations were left


@pytest.mark.slow
def test_the_budget_holds_and_skips_what_does_not_fit(image_folder):
    tic = time.monotonic()
    model = smallfit.fit(image_folder, preset="balanced", time_budget=12)
    elapsed = time.monotonic() - tic
    rows = model.info["candidates"]
    assert rows[0]["accuracy"]["value"] > 0.5  # the first trial always completes
    finetune = [r for r in rows if r["strategy"] == "finetune"]  # none if probe took it all
    assert all(r["accuracy"] is None and "time budget" in r["skipped"] for r in finetune)
    assert model.info["search"]["distinct_configurations"] < model.info["search"]["space_size"]
    assert elapsed < 12 + 60  # an epoch, a batch and the refit may overrun; not a search


@pytest.mark.slow
def test_an_outer_holdout_gives_the_honest_estimate_with_enough_items():
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for label, sentences in TEXTS.items():
        for _ in range(140):
            texts.append(" ".join(rng.choice(sentences, 3, replace=False)) + f" {len(texts)}")
            labels.append(label)
    balanced = {"probe": {"class_weight": "balanced"}, "classic": {"class_weight": "balanced"}}
    model = fit_dataset(
        from_python(texts, labels), preset="fast", folds=2, strategy_params=balanced
    )
    honest = model.metrics["honest"]
    assert honest["method"].startswith("outer holdout of 84 items")
    assert model.metrics["n_items"] == 336 and model.info["data"]["n_items"] == 420
    assert honest["value"] > 0.8 and honest["low"] <= honest["value"] <= honest["high"]
    assert (model.reference.predicted >= 0).all()  # holdout rows have predictions too


@pytest.mark.slow
def test_mlflow_logs_params_metrics_and_the_model(text_csv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, output = run(
        "fit",
        text_csv,
        "--out",
        tmp_path / "m",
        "--strategy",
        "prototype",
        "--mlflow",
        "--seed",
        "1",
    )
    assert code == 0, output
    assert "Logged to MLflow as run" in output
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (logged,) = mlflow.search_runs(experiment_names=["smallfit"], output_format="list")
    record = json.loads((tmp_path / "m" / "model.json").read_text())
    assert logged.data.params["settings.seed"] == "1"
    assert logged.data.metrics["cv_accuracy"] == pytest.approx(
        record["metrics"]["accuracy"]["value"]
    )
    artifacts = list((tmp_path / "mlruns").rglob("artifacts/model/model.json"))
    assert len(artifacts) == 1
