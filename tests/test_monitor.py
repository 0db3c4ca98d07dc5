"""Drift checks and incremental updates, on the reference sample a fit stores."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from safetensors.numpy import load_file, save_file

import smallfit
from smallfit.errors import SmallfitError
from smallfit.monitor import mmd_test
from smallfit.reference import MAX_ROWS, stratified_rows
from tests.conftest import COLOURS, TEXTS, make_image
from tests.test_cli import run

OTHER_TOPIC = [
    "The telescope revealed a faint galaxy beyond the nebula.",
    "Astronomers tracked the comet as it passed the orbit of Mars.",
    "The probe sent back images of the icy moons of Saturn.",
    "A supernova was observed in a nearby spiral galaxy.",
    "The rover drilled into the red rock of the crater floor.",
    "Solar flares disturbed satellites in low orbit.",
]
HELD_OUT = {
    "sport": ["The referee showed a red card to the midfielder."],
    "cooking": ["Chop the garlic and fry it gently in oil."],
    "finance": ["Bond yields climbed after the inflation data."],
}


def texts_of(*topics):
    texts = [t for topic in topics for t in TEXTS[topic]]
    return texts, [topic for topic in topics for _ in TEXTS[topic]]


def write_table(path, texts, labels=None):
    frame = pd.DataFrame({"text": texts} | ({"label": labels} if labels else {}))
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def text_model_dir(tmp_path_factory):
    """A probe on sport and cooking texts, saved."""
    model = smallfit.fit(*texts_of("sport", "cooking"), strategy="probe")
    return model.save(tmp_path_factory.mktemp("monitor") / "text-model")


@pytest.fixture(scope="module")
def image_model(image_folder):
    return smallfit.fit(image_folder, strategy="probe")


def test_reference_round_trips_through_the_model_directory(text_model_dir):
    record = json.loads((text_model_dir / "model.json").read_text())["reference"]
    assert record["rows"] == record["drawn_from"] == 12
    assert record["encoder"]["name"] == "minilm" and record["dtype"] == "float16"
    assert record["predictions"] == "out-of-fold"
    tensors = load_file(str(text_model_dir / "weights.safetensors"))
    assert tensors["reference.embeddings"].shape == (12, 384)
    loaded = smallfit.load(text_model_dir).reference
    assert np.array_equal(loaded.embeddings, tensors["reference.embeddings"])
    assert sorted(loaded.labels.tolist()) == [0] * 6 + [1] * 6
    assert (loaded.predicted >= 0).all() and np.nanmin(loaded.confidence) > 0.3
    resaved = smallfit.load(text_model_dir).save(text_model_dir.parent / "resaved")
    assert json.loads((resaved / "model.json").read_text())["reference"] == record


def test_a_model_without_a_reference_loads_and_explains_what_is_missing(text_model_dir, tmp_path):
    old = smallfit.load(text_model_dir).save(tmp_path / "old")  # as saved before references
    record = json.loads((old / "model.json").read_text())
    del record["reference"]
    (old / "model.json").write_text(json.dumps(record))
    tensors = load_file(str(old / "weights.safetensors"))
    save_file(
        {k: v for k, v in tensors.items() if k.startswith("strategy.")},
        str(old / "weights.safetensors"),
    )
    model = smallfit.load(old)
    assert model.reference is None
    assert model.predict([HELD_OUT["sport"][0]])[0] == "sport"
    new = write_table(tmp_path / "new.csv", *texts_of("finance"))
    for command in (["drift", old, new], ["update", old, new, "--out", tmp_path / "x"]):
        code, output = run(*command)
        assert code == 2 and "no stored reference sample" in output


def test_a_damaged_reference_is_a_clear_error(text_model_dir, tmp_path):
    damaged = smallfit.load(text_model_dir).save(tmp_path / "damaged")
    tensors = load_file(str(damaged / "weights.safetensors"))
    del tensors["reference.labels"]
    save_file(tensors, str(damaged / "weights.safetensors"))
    with pytest.raises(SmallfitError, match="reference sample lacks labels"):
        smallfit.load(damaged)


def test_drift_exit_codes_and_report(text_model_dir, tmp_path):
    other = write_table(tmp_path / "other.csv", OTHER_TOPIC)
    report_path = tmp_path / "drift.json"
    code, output = run("drift", text_model_dir, other, "--output", report_path)
    assert code == 1, output
    assert "Drift" in output
    report = json.loads(report_path.read_text())
    assert report["drift"] is True and report["p_value"] < 0.01 == report["alpha"]
    assert report["n_new"] == 6 and report["n_reference"] == 12
    assert report["embedding"]["encoder"] == "minilm"
    assert report["embedding"]["domain_classifier_auc"] > 0.9
    assert sum(report["predicted_classes"]["new"].values()) == pytest.approx(1.0, abs=1e-3)
    assert 0 <= report["confidence"]["new_mean"] <= 1

    same = write_table(tmp_path / "same.csv", *texts_of("sport", "cooking"))
    code, output = run("drift", text_model_dir, same)
    assert code == 0 and "No drift" in output, output

    code, output = run("drift", text_model_dir, other, "--output", report_path)
    assert code == 2 and "already exists" in output
    code, output = run("drift", text_model_dir, other, "--alpha", "1.5")
    assert code == 2 and "alpha must be between 0 and 1" in output


def test_drift_on_images_flags_darkened_ones_but_not_new_ones_alike(image_model, tmp_path):
    fresh = [
        make_image(colour, seed=1000 + 10 * index + k)
        for index, colour in enumerate(COLOURS.values())
        for k in range(6)
    ]
    darkened = [Image.fromarray((np.asarray(image) * 0.3).astype(np.uint8)) for image in fresh]
    alike = smallfit.drift(image_model, fresh)
    assert not alike["drift"] and alike["p_value"] > 0.05
    shifted = smallfit.drift(image_model, darkened)
    assert shifted["drift"] and shifted["p_value"] < 0.01
    assert shifted["embedding"]["mmd2"] > 3 * alike["embedding"]["mmd2"]
    with pytest.raises(SmallfitError, match="classifies images but"):
        smallfit.drift(image_model, OTHER_TOPIC)


def test_mmd_permutation_test_separates_shifted_samples_only():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(60, 8)), rng.normal(size=(50, 8))
    same = mmd_test(a, b, permutations=200)
    shifted = mmd_test(a, b + 0.8, permutations=200)
    assert same["p_value"] > 0.05 and shifted["p_value"] == pytest.approx(1 / 201)
    assert shifted["mmd2"] > 5 * same["mmd2"] > 0
    assert mmd_test(a, b, permutations=200) == same  # seeded


def test_reference_sample_is_bounded_stratified_and_seeded():
    y = np.repeat([0, 1, 2], [3000, 990, 10])
    rows = stratified_rows(y, seed=1)
    assert MAX_ROWS - 3 <= len(rows) <= MAX_ROWS and len(set(rows)) == len(rows)
    assert np.bincount(y[rows]).tolist() == [1500, 495, 5]
    assert np.array_equal(rows, stratified_rows(y, seed=1))
    assert np.array_equal(stratified_rows(y[:50]), np.arange(50))


def test_update_learns_a_new_class_and_keeps_the_old_ones(text_model_dir, tmp_path):
    before = {p.name: p.read_bytes() for p in text_model_dir.iterdir()}
    new = write_table(tmp_path / "new.csv", *texts_of("finance"))
    out = tmp_path / "updated"
    code, output = run("update", text_model_dir, new, "--out", out)
    assert code == 0, output
    assert {p.name: p.read_bytes() for p in text_model_dir.iterdir()} == before
    updated = smallfit.load(out)
    assert updated.classes == ["cooking", "sport", "finance"]
    texts = [t for topic in ("sport", "cooking", "finance") for t in HELD_OUT[topic]]
    assert updated.predict(texts).tolist() == ["sport", "cooking", "finance"]
    record = json.loads((out / "model.json").read_text())
    accuracy = record["update"]["accuracy"]
    assert record["update"]["new_classes"] == ["finance"] and record["update"]["exemplars"] == 12
    assert accuracy["new_data"]["before"]["value"] == 0.0  # the old model knew no finance
    assert accuracy["new_data"]["after"]["value"] >= 0.8
    assert accuracy["old_data"]["after"]["value"] >= accuracy["old_data"]["before"]["value"] - 0.1
    assert record["metrics"]["kind"] == "cross-validation" and record["metrics"]["n_items"] == 18
    assert updated.reference.record()["rows"] == 18
    assert "old (stored sample)" in output

    again = smallfit.update(text_model_dir, new).save(tmp_path / "again")
    weights = "weights.safetensors"
    assert (again / weights).read_bytes() == (out / weights).read_bytes()  # seeded
    # the updated data's fingerprint follows its lineage: same old model and new data, same
    # fingerprint; other new data, another
    fingerprint = record["data"]["fingerprint"]
    assert json.loads((again / "model.json").read_text())["data"]["fingerprint"] == fingerprint
    texts, labels = texts_of("finance")
    other = write_table(tmp_path / "other.csv", texts[1:], labels[1:])
    assert smallfit.update(text_model_dir, other).info["data"]["fingerprint"] != fingerprint


def test_update_refuses_to_overwrite_its_model_and_explains_unsupported_strategies(
    text_model_dir, tmp_path
):
    new = write_table(tmp_path / "new.csv", *texts_of("finance"))
    code, output = run("update", text_model_dir, new, "--out", text_model_dir, "--overwrite")
    assert code == 2 and "would replace" in output
    code, output = run("update", text_model_dir, new, "--out", text_model_dir.parent)
    assert code == 2 and "would replace" in output
    classic = smallfit.fit(*texts_of("sport", "cooking"), strategy="classic")
    with pytest.raises(SmallfitError, match=r"only models that learn from frozen embeddings"):
        smallfit.update(classic, *texts_of("finance"))


def test_a_fit_without_cross_validation_still_checks_drift_in_embedding_space():
    model = smallfit.Classifier(strategy="prototype").fit(*texts_of("sport", "cooking")).model_
    assert not model.reference.has_predictions
    report = smallfit.drift(model, OTHER_TOPIC)
    assert report["drift"] and "not available" in report["predicted_classes"]
