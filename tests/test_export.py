"""ONNX export: ONNX Runtime gives smallfit's probabilities, from the documented inputs."""

import json

import numpy as np
import pytest
from PIL import Image

from smallfit import backbones, strategies
from smallfit.data import load_image
from smallfit.errors import SmallfitError
from smallfit.export import export_onnx, session
from smallfit.modalities.reading import read_source
from smallfit.model import Model
from tests.cli_runner import run

TOLERANCE = 1e-4  # largest absolute difference in probability allowed in fp32


@pytest.fixture(scope="module")
def fp32_images():
    """The image encoder computing in fp32 (smallfit uses bf16 on CPUs that have it), with
    a fresh embedding memo, so that PyTorch and the fp32 graph are compared like for like."""
    encoder = backbones.create("efficientnet_lite0")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(encoder, "precision", "fp32")
        patch.setattr(encoder, "_memo", {})
        patch.setattr(encoder, "_disk", None)
        yield encoder


def fitted(name: str, source, encoder, **params) -> Model:
    dataset = read_source(source, labeled=True)
    strategy = strategies.create(name, **params).fit(dataset, encoder)
    return Model(strategy, encoder and encoder.name, dataset.modality, dataset.classes)


def text_inputs(folder, texts: list[str]) -> dict:
    """Tokenise as model.onnx.json says, with the tokenizer saved next to the graph."""
    from transformers import AutoTokenizer

    described = json.loads((folder / "model.onnx.json").read_text())["input"]
    tokenizer = AutoTokenizer.from_pretrained(folder / described["tokenizer"])
    length = described["max_length"]
    tokens = tokenizer(texts, padding=True, truncation=True, max_length=length, return_tensors="np")
    return {name: tokens[name].astype(np.int64) for name in ("input_ids", "attention_mask")}


def documented_pixels(path, described: dict) -> np.ndarray:
    """The image preprocessing of model.onnx.json, with PIL and numpy only."""
    image = load_image(path)
    short = described["resize_shorter_side"]
    width, height = image.size
    scale = short / min(width, height)
    size = (short, int(height * scale)) if width <= height else (int(width * scale), short)
    image = image.resize(size, Image.BICUBIC)
    crop = described["crop_size"]
    top, left = round((image.height - crop) / 2), round((image.width - crop) / 2)
    pixels = np.asarray(image, dtype=np.float32)[top : top + crop, left : left + crop]
    pixels = (pixels * described["scale"] - described["mean"]) / described["std"]
    return pixels.transpose(2, 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def image_export(image_folder, fp32_images, tmp_path_factory):
    model = fitted("probe", image_folder, fp32_images)
    out = tmp_path_factory.mktemp("export") / "images"
    export_onnx(model, out)
    return model, out, read_source(image_folder, labeled=True).items


@pytest.mark.slow
def test_image_probe_graph_gives_the_models_probabilities(image_export, fp32_images):
    model, out, items = image_export
    pixels = fp32_images.body_input(items).numpy()
    graph = session(out / "model.onnx")
    got = graph.run(None, {"pixel_values": pixels})[0]
    expected = model.predict_proba(items)
    assert got.shape == (18, 3)
    assert np.abs(got - expected).max() <= TOLERANCE
    single = graph.run(None, {"pixel_values": pixels[:1]})[0]  # any batch size
    assert np.abs(single - expected[:1]).max() <= TOLERANCE


@pytest.mark.slow
def test_documented_image_preprocessing_reproduces_the_predictions(image_export):
    model, out, items = image_export
    described = json.loads((out / "model.onnx.json").read_text())
    assert described["classes"] == ["blue", "green", "red"]
    assert described["inputs"] == ["pixel_values"]
    assert described["input"]["crop_size"] == 224
    assert described["input"]["resize_shorter_side"] == 256
    assert described["check"]["max_abs_difference_to_pytorch"] <= TOLERANCE
    pixels = np.stack([documented_pixels(path, described["input"]) for path in items])
    got = session(out / described["files"]["fp32"]).run(None, {"pixel_values": pixels})[0]
    expected = model.predict_proba(items)
    # PIL's antialiased bicubic resize and torchvision's (smallfit's) differ by at most one
    # grey level in a few pixels (checked on scikit-image's photos); here 2e-5 in probability
    assert np.abs(got - expected).max() <= 1e-3
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()


@pytest.fixture(scope="module")
def text_export(text_csv, tmp_path_factory):
    """A text probe, saved and exported by the command line with an int8 copy."""
    root = tmp_path_factory.mktemp("export-text")
    model = fitted("probe", text_csv, backbones.create("minilm"))
    model.save(root / "model")
    code, output = run("export", root / "model", "--format", "onnx", "--int8")
    assert code == 0, output
    return model, root / "model" / "onnx", output


TEXTS = [
    "The striker scored in the final minute.",
    "Whisk the eggs.",
    "Bond yields rose after the central bank raised its rates by half a point.",
    "A quiet afternoon.",
]


@pytest.mark.slow
def test_text_probe_graph_from_the_saved_tokenizer_gives_the_models_probabilities(text_export):
    model, out, output = text_export
    assert sorted(p.name for p in out.iterdir()) == [
        "model.int8.onnx",
        "model.onnx",
        "model.onnx.json",
        "tokenizer",
    ]
    assert "fp32:" in output and "int8:" in output and "model.onnx.json" in output
    got = session(out / "model.onnx").run(None, text_inputs(out, TEXTS))[0]
    assert np.abs(got - model.predict_proba(TEXTS)).max() <= TOLERANCE


@pytest.mark.slow
def test_int8_copy_predicts_mostly_the_same_classes(text_export, text_csv):
    model, out, _ = text_export
    texts = read_source(text_csv, labeled=True).items + TEXTS
    inputs = text_inputs(out, texts)
    fp32 = session(out / "model.onnx").run(None, inputs)[0]
    int8 = session(out / "model.int8.onnx").run(None, inputs)[0]
    assert (out / "model.int8.onnx").stat().st_size < 0.5 * (out / "model.onnx").stat().st_size
    assert (int8.argmax(axis=1) == fp32.argmax(axis=1)).mean() >= 0.8
    assert np.allclose(int8.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_export_refuses_to_replace_files_without_overwrite(text_export):
    model, out, _ = text_export
    code, output = run("export", out.parent, "--format", "onnx")
    assert code == 2 and "already exists; pass --overwrite" in output


@pytest.mark.slow
def test_fine_tuned_text_model_exports_with_the_same_probabilities(text_csv, tmp_path):
    model = fitted("finetune", text_csv, backbones.create("minilm"), epochs=2, top_groups=1)
    out = tmp_path / "onnx"
    export_onnx(model, out)
    got = session(out / "model.onnx").run(None, text_inputs(out, TEXTS))[0]
    assert np.abs(got - model.predict_proba(TEXTS)).max() <= TOLERANCE


def test_strategies_without_a_network_are_refused_with_the_alternatives(text_csv, tmp_path):
    model = fitted("classic", text_csv, None)
    with pytest.raises(SmallfitError) as error:
        export_onnx(model, tmp_path / "onnx")
    message = str(error.value)
    assert "classic strategy cannot be exported" in message
    assert all(name in message for name in ("probe", "prototype", "finetune", "adapter"))
    assert not (tmp_path / "onnx").exists() and not (tmp_path / "onnx.partial").exists()


@pytest.mark.slow
def test_image_models_get_no_int8_copy_and_say_why(image_export, tmp_path):
    model, _, _ = image_export
    with pytest.raises(SmallfitError, match="--int8 is for text models"):
        export_onnx(model, tmp_path / "onnx", int8=True)
    assert not (tmp_path / "onnx").exists()


@pytest.mark.parametrize("case", ["binary", "binary, middle class absent", "torch, cosine"])
def test_heads_as_modules_predict_what_the_heads_predict(case):
    import torch

    from smallfit.strategies.heads import LogisticHead, TorchHead

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 8)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=40) > 0).astype(np.int64)
    if case == "binary":
        head = LogisticHead("balanced", 0).fit(X, y, 2)
    elif case == "binary, middle class absent":
        head = LogisticHead("balanced", 0).fit(X, 2 * y, 3)
    else:
        head = TorchHead("cosine", None, 20, 0.01, 0.01, 0).fit(X, y, 2)
    with torch.inference_mode():
        got = head.as_module()(torch.from_numpy(X)).numpy()
    expected = head.predict_proba(X)
    assert np.abs(got - expected).max() <= 1e-5
    if case == "binary, middle class absent":
        assert (got[:, 1] == 0).all() and 0 < got[:, 2].mean() < 1
