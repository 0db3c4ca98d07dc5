"""The Python API: fit/load, the scikit-learn estimator, and determinism."""

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score

import smallfit
from tests.conftest import TEXTS


def texts_and_labels():
    texts = [t for texts in TEXTS.values() for t in texts]
    labels = [label for label, texts in TEXTS.items() for _ in texts]
    return texts, labels


def test_fit_returns_a_model_that_predicts_labels():
    texts, labels = texts_and_labels()
    model = smallfit.fit(texts, labels, preset="fast")
    assert set(model.predict(["The goalkeeper dived to the left."])) <= set(labels)
    assert model.predict_proba(texts).shape == (18, 3)
    assert model.metrics["accuracy"]["value"] >= 0.8


def test_same_seed_gives_the_same_model_and_metrics(tmp_path, image_folder):
    # a budget the search does not reach (it ends when every configuration is scored)
    options = {"seed": 3, "preset": "fast", "time_budget": 900}
    first = smallfit.fit(image_folder, **options).save(tmp_path / "a")
    second = smallfit.fit(image_folder, **options).save(tmp_path / "b")
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
