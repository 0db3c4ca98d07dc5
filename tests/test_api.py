"""The Python API: fit/load, the scikit-learn estimator, and determinism."""

import json
import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score

import smallfit
from smallfit import api
from smallfit.errors import SmallfitError
from smallfit.strategies import finetune
from smallfit.train import loop
from tests.conftest import TEXTS
from tests.test_checkpoint import EpochCounter


def texts_and_labels():
    texts = [t for texts in TEXTS.values() for t in texts]
    labels = [label for label, texts in TEXTS.items() for _ in texts]
    return texts, labels


def test_fit_returns_a_model_that_predicts_labels():
    texts, labels = texts_and_labels()
    model = smallfit.fit(texts, labels)
    assert set(model.predict(["The goalkeeper dived to the left."])) <= set(labels)
    assert model.predict_proba(texts).shape == (18, 3)
    assert model.metrics["accuracy"]["value"] >= 0.8


def test_same_seed_gives_the_same_model_and_metrics(tmp_path, image_folder):
    first = smallfit.fit(image_folder, seed=3).save(tmp_path / "a")
    second = smallfit.fit(image_folder, seed=3).save(tmp_path / "b")
    assert (first / "weights.safetensors").read_bytes() == (
        second / "weights.safetensors"
    ).read_bytes()
    a, b = (json.loads((d / "model.json").read_text()) for d in (first, second))
    for record in (a, b):
        record.pop("fit_seconds")
        for row in record["candidates"]:
            row.pop("cv_seconds")
    assert a == b


def test_classifier_is_a_real_estimator():
    texts, labels = texts_and_labels()
    estimator = smallfit.Classifier(strategy="prototype")
    assert clone(estimator).get_params()["strategy"] == "prototype"
    scores = cross_val_score(estimator, texts, labels, cv=3)
    assert scores.mean() >= 0.8
    search = GridSearchCV(smallfit.Classifier(), {"strategy": ["prototype", "classic"]}, cv=3)
    search.fit(np.array(texts, dtype=object), labels)
    assert search.best_params_["strategy"] in {"prototype", "classic"}
    assert list(search.classes_) == ["cooking", "finance", "sport"]


def test_classifier_on_image_paths(image_folder):
    paths = sorted(str(p) for p in image_folder.rglob("*.png"))
    labels = [p.split("/")[-2] for p in paths]
    estimator = smallfit.Classifier(strategy="probe").fit(paths, labels)
    assert (estimator.predict(paths) == np.array(labels)).mean() >= 0.9


def test_integer_labels_keep_their_type(tmp_path):
    texts, labels = texts_and_labels()
    numbers = [{"sport": 1, "cooking": 2, "finance": 3}[label] for label in labels]
    model = smallfit.fit(texts, numbers, strategy="prototype")
    model.save(tmp_path / "m")
    assert smallfit.load(tmp_path / "m").predict(texts[:1])[0] == 1


def test_predicting_images_with_a_text_model_is_refused(image_folder):
    texts, labels = texts_and_labels()
    model = smallfit.fit(texts, labels, strategy="prototype")
    with pytest.raises(smallfit.errors.SmallfitError, match="classifies texts"):
        model.predict(sorted(image_folder.rglob("*.png")))


def test_tta_makes_an_image_and_its_mirror_predict_alike(image_folder):
    from PIL import Image, ImageOps

    model = smallfit.fit(image_folder, strategy="probe")
    paths = sorted(image_folder.rglob("*.png"))[:4]
    mirrors = [ImageOps.mirror(Image.open(p).convert("RGB")) for p in paths]
    assert np.abs(model.predict_proba(paths) - model.predict_proba(mirrors)).max() > 1e-6
    np.testing.assert_allclose(
        model.predict_proba(paths, tta=True), model.predict_proba(mirrors, tta=True), atol=1e-5
    )


def test_fit_with_out_saves_the_model_and_replaces_it_only_when_told(tmp_path):
    texts, labels = texts_and_labels()
    out = tmp_path / "model"
    model = smallfit.fit(texts, labels, strategy="prototype", out=out)
    assert smallfit.load(out).classes == model.classes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no checkpoints left
    with pytest.raises(SmallfitError, match="model already exists; pass --overwrite"):
        smallfit.fit(texts, labels, strategy="classic", out=out)
    smallfit.fit(texts, labels, strategy="classic", out=out, overwrite=True)
    assert json.loads((out / "model.json").read_text())["strategy"]["name"] == "classic"


def test_fit_refuses_an_out_that_is_a_file_before_fitting(tmp_path, monkeypatch):
    texts, labels = texts_and_labels()
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    monkeypatch.setattr(api, "fit_dataset", lambda *a, **k: pytest.fail("fitted"))
    with pytest.raises(SmallfitError, match="notes.txt is a file, not a model folder"):
        smallfit.fit(texts, labels, strategy="prototype", out=notes, overwrite=True)
    assert notes.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_fit_resume_needs_checkpoints_and_refuses_to_discard_them(image_folder, tmp_path):
    out = tmp_path / "model"
    message = f"Nothing to resume: {out}.checkpoints holds no checkpoints."
    with pytest.raises(SmallfitError, match=re.escape(message)):
        smallfit.fit(image_folder, out=out, resume=True)

    (tmp_path / "model.checkpoints").mkdir()
    (tmp_path / "model.checkpoints" / "run.json").write_text("{}")
    with pytest.raises(SmallfitError, match="add --resume to continue it"):
        smallfit.fit(image_folder, out=out)
    assert (tmp_path / "model.checkpoints" / "run.json").exists()  # nothing deleted


def test_an_interrupted_fit_with_out_resumes_and_saves(tmp_path, monkeypatch):
    # as in test_checkpoint: one item per class held out, so that every epoch validates
    monkeypatch.setattr(finetune, "early_stopping_split", loop.stratified_holdout)
    top = {"epochs": 2, "unfreeze": "top", "top_groups": 1}  # one stage per training run
    options = dict(
        strategy="finetune", folds=2, strategy_params={"finetune": top}, out=tmp_path / "model"
    )
    # fold 1 finishes; fold 2 is interrupted in its second epoch
    monkeypatch.setattr(loop, "evaluate", EpochCounter(interrupt_at=4))
    with pytest.raises(KeyboardInterrupt):
        smallfit.fit(*texts_and_labels(), **options)
    assert [p.name for p in tmp_path.iterdir()] == ["model.checkpoints"]

    monkeypatch.setattr(loop, "evaluate", EpochCounter())
    model = smallfit.fit(*texts_and_labels(), resume=True, **options)
    assert model.info["resumed"] == {
        "finished_runs_restored": 1,
        "epochs_restored_in_interrupted_runs": 1,
    }
    assert smallfit.load(tmp_path / "model").info["resumed"] == model.info["resumed"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # checkpoints removed


def test_a_search_with_out_keeps_its_trials_beside_it_until_saved(tmp_path, monkeypatch):
    texts, labels = texts_and_labels()
    journal = tmp_path / "model.search.journal"
    journal.write_text("not a journal\n")  # left by an interrupted fit: started afresh
    searched = []

    def recording(dataset, **kwargs):
        model = real(dataset, **kwargs)
        searched.append((kwargs["storage"], journal.read_text() != "not a journal\n"))
        return model

    real = api.fit_dataset
    monkeypatch.setattr(api, "fit_dataset", recording)
    smallfit.fit(texts, labels, preset="fast", time_budget=5, out=tmp_path / "model")
    assert searched == [(str(journal.resolve()), True)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no journal, no lock file


def test_strategy_params_reach_the_strategy_and_unused_ones_are_refused(text_csv):
    model = smallfit.fit(
        text_csv, strategy="probe", strategy_params={"probe": {"class_weight": None}}, folds=2
    )
    assert model.strategy.class_weight is None  # its default is "balanced"
    with pytest.raises(SmallfitError, match=r"strategy_params\['finetune'\] would not be used"):
        smallfit.fit(text_csv, strategy="probe", strategy_params={"finetune": {"epochs": 1}})
    with pytest.raises(SmallfitError, match="Unknown strategy 'finetuning'"):
        smallfit.fit(text_csv, strategy_params={"finetuning": {"epochs": 1}})
