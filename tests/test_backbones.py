"""Packaged encoders load real weights offline, and embeddings are cached by content."""

import numpy as np
import pytest
import torch
from PIL import Image

from smallfit import backbones
from smallfit.data.identity import item_key

IMAGENET_CATS = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def test_efficientnet_lite0_sees_a_cat():
    from skimage import data

    encoder = backbones.create("efficientnet_lite0")
    logits = encoder.logits([Image.fromarray(data.chelsea())])[0]
    top5 = set(np.argsort(-logits)[:5].tolist())
    assert top5 & IMAGENET_CATS, f"top-5 {top5} has no cat class"


def test_minilm_puts_synonyms_close():
    encoder = backbones.create("minilm")
    vectors = encoder.embed(["a happy dog", "a joyful puppy", "quarterly stock market report"])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_embeddings_have_declared_shape_and_order():
    encoder = backbones.create("minilm")
    texts = ["one", "two", "one"]
    vectors = encoder.embed(texts)
    assert vectors.shape == (3, encoder.dim) and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors[0], vectors[2])
    np.testing.assert_allclose(vectors[1], encoder.embed(["two"])[0])


def test_a_long_text_is_embedded_by_all_its_windows_not_its_first():
    from smallfit.backbones.text import MAX_WINDOWS

    encoder = backbones.create("minilm")
    headers = " ".join(f"Received: from relay{i}.example.net id {i}x{i}" for i in range(60))
    body = " ".join(["Our football team won the championship match last night."] * 40)
    email = f"{headers} {body}"
    windows = encoder.windows(email)
    assert len(windows) >= 2 and windows[0].split()[0] == "received"
    with encoder.uncached():
        vector = encoder.embed([email])[0]
        parts = encoder.embed(windows)
    np.testing.assert_allclose(vector, parts.mean(0), atol=1e-5)
    topic = encoder.embed(["a sports team winning a game"])[0]
    cosine = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)  # noqa: E731
    assert cosine(vector, topic) > cosine(parts[0], topic) + 0.1  # the body counts
    assert len(encoder.windows(email * 20)) == MAX_WINDOWS  # a bounded cost
    assert encoder.windows("a short text") == ["a short text"]  # embedded as before


def test_second_embedding_pass_reads_the_disk_cache(monkeypatch, image_folder):
    paths = sorted(image_folder.rglob("*.png"))[:4]
    encoder = backbones.create("efficientnet_lite0")
    first = encoder.embed(paths)
    encoder._memo.clear()  # as in a new process: only the disk cache is left

    def no_forward(batch):
        raise AssertionError("embedding recomputed despite the cache")

    monkeypatch.setattr(encoder, "_forward", no_forward)
    np.testing.assert_array_equal(encoder.embed(paths), first)


def test_item_key_is_content_based(tmp_path, image_folder):
    original = sorted(image_folder.rglob("*.png"))[0]
    copy = tmp_path / "renamed.png"
    copy.write_bytes(original.read_bytes())
    assert item_key(copy) == item_key(original)
    assert item_key("a text") != item_key("another text")


def test_each_encoder_has_its_own_cache_id():
    ids = {backbones.create(name).cache_id for name in ("efficientnet_lite0", "minilm", "pixels")}
    assert len(ids) == 3


def test_unknown_backbone_names_the_known_ones():
    from smallfit.errors import SmallfitError

    with pytest.raises(SmallfitError, match="efficientnet_lite0"):
        backbones.create("resnet9000")


def test_precision_is_part_of_the_cache_identity(monkeypatch):
    from smallfit.backbones.images import embedding_precision

    monkeypatch.setenv("SMALLFIT_PRECISION", "fp32")
    assert embedding_precision() == "fp32"
    monkeypatch.setenv("SMALLFIT_PRECISION", "bf16")
    assert embedding_precision() == "bf16"
    encoder = backbones.create("efficientnet_lite0")
    ids = set()
    for precision in ("fp32", "bf16"):
        monkeypatch.setattr(encoder, "precision", precision)
        ids.add(encoder.cache_id)
    assert len(ids) == 2


def test_bf16_embeddings_agree_with_fp32(monkeypatch, image_folder):
    paths = sorted(image_folder.rglob("*.png"))[:4]
    encoder = backbones.create("efficientnet_lite0")
    batch = encoder._prepare(paths)
    vectors = {}
    for precision in ("fp32", "bf16"):
        monkeypatch.setattr(encoder, "precision", precision)
        with torch.inference_mode():
            vectors[precision] = encoder._forward(batch).numpy()
    a, b = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in vectors.values())
    assert (a * b).sum(axis=1).min() > 0.98


def test_the_stages_encoder_gives_every_stage_unit_length_and_ends_with_the_plain_embedding(
    image_folder,
):
    stages = backbones.create("efficientnet_lite0_stages")
    plain = backbones.create("efficientnet_lite0")
    images = sorted(image_folder.rglob("*.png"))[:4]
    vectors = stages.embed(images)
    assert vectors.shape == (4, stages.dim) and stages.dim > plain.dim
    assert stages.cache_id != plain.cache_id
    # stem, seven block stages and the head convolution, each pooled to unit length
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.full(4, 3.0), abs=0.02)
    last = plain.embed(images)
    last /= np.linalg.norm(last, axis=1, keepdims=True)
    assert np.abs(vectors[:, -plain.dim :] - last).max() < 0.01
    assert backbones.capabilities_of("efficientnet_lite0_stages") == frozenset()


def test_one_pass_of_the_stages_encoder_also_gives_the_plain_embedding(image_folder, monkeypatch):
    stages = backbones.create("efficientnet_lite0_stages")
    plain = backbones.create("efficientnet_lite0")
    assert stages.body is plain.body  # one copy of the weights
    images = sorted(image_folder.rglob("*.png"))[4:8]
    with plain.uncached(), stages.uncached():  # fresh passes, nothing kept afterwards
        stages.embed(images)
        with monkeypatch.context() as patched:
            patched.setattr(plain, "_forward", lambda batch: pytest.fail("a second pass"))
            shared = plain.embed(images)
    with plain.uncached():
        own = plain.embed(images)  # the plain encoder's own pass
    assert np.array_equal(shared, own)
    # predicting through the stages encoder alone (a server): the plain one keeps nothing
    kept = set(plain._memo)
    with stages.uncached():
        stages.embed(images)
    assert set(plain._memo) == kept
