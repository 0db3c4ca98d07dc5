"""The HTTP server: predictions equal the model's, every bad request gets a 4xx with a
message, concurrent requests get the answers sequential ones do, and a fuzzer finds no 5xx."""

import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from PIL import Image
from schemathesis.checks import positive_data_acceptance

import smallfit
from smallfit import backbones, cli, serve
from smallfit.backbones.cache import EmbeddingCache
from smallfit.batcher import Batcher
from smallfit.data.identity import item_key
from smallfit.errors import SmallfitError
from smallfit.modalities import image as image_modality
from tests.conftest import TEXTS, make_image

MAX_ITEMS = 4
MAX_BODY = 300_000


@pytest.fixture(scope="module")
def image_model(image_folder, tmp_path_factory):
    directory = tmp_path_factory.mktemp("serve") / "image-model"
    return smallfit.fit(image_folder, strategy="probe").save(directory)


@pytest.fixture(scope="module")
def image_client(image_model):
    app = serve.create_app(image_model, max_items=MAX_ITEMS, max_body_bytes=MAX_BODY)
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def text_model():
    texts = [t for texts in TEXTS.values() for t in texts]
    labels = [label for label, texts in TEXTS.items() for _ in texts]
    return smallfit.fit(texts, labels, strategy="probe")


@pytest.fixture(scope="module")
def text_client(text_model):
    app = serve.create_app(text_model, max_items=MAX_ITEMS, max_body_bytes=MAX_BODY)
    with TestClient(app) as client:
        yield client


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def upload(*named: tuple[str, bytes]) -> list:
    return [("files", (name, data, "application/octet-stream")) for name, data in named]


def assert_matches(response, proba: np.ndarray, names: list[str], classes: list) -> None:
    assert response.status_code == 200, response.text
    rows = response.json()["predictions"]
    assert [r["item"] for r in rows] == names
    got = np.array([[r["probabilities"][str(c)] for c in classes] for r in rows])
    np.testing.assert_allclose(got, proba, atol=1e-6)
    assert [r["label"] for r in rows] == [str(classes[i]) for i in proba.argmax(axis=1)]
    np.testing.assert_allclose([r["confidence"] for r in rows], proba.max(axis=1), atol=1e-6)


# -- predictions ----------------------------------------------------------------------


def test_image_predictions_equal_the_models(image_client, image_model, image_folder):
    paths = sorted(image_folder.rglob("*.png"))[::5]
    model = smallfit.load(image_model)
    response = image_client.post(
        "/predict", files=upload(*[(p.name, p.read_bytes()) for p in paths])
    )
    assert_matches(response, model.predict_proba(paths), [p.name for p in paths], model.classes)


def test_uploads_are_decoded_as_files_are(image_client, image_model, tmp_path):
    """EXIF rotation, grey, transparency and 16-bit go through the same decoding as files."""
    base = make_image((200, 30, 30), seed=7, size=40).crop((0, 0, 40, 24))
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to display
    base.save(rotated, exif=exif)
    grey, rgba, deep = tmp_path / "grey.png", tmp_path / "alpha.png", tmp_path / "deep.png"
    base.convert("L").save(grey)
    transparent = base.convert("RGBA")
    transparent.putalpha(Image.linear_gradient("L").resize(base.size))
    transparent.save(rgba)
    Image.fromarray(np.asarray(base.convert("L"), dtype=np.uint16) * 257).save(deep)
    paths = [rotated, grey, rgba, deep]
    model = smallfit.load(image_model)
    response = image_client.post(
        "/predict", files=upload(*[(p.name, p.read_bytes()) for p in paths])
    )
    assert_matches(response, model.predict_proba(paths), [p.name for p in paths], model.classes)


def test_text_predictions_equal_the_models(text_client, text_model):
    texts = ["The referee stopped the match.", "Add the garlic to the pan.", "Bond yields rose."]
    response = text_client.post("/predict", json={"texts": texts})
    names = [f"texts[{i}]" for i in range(3)]
    assert_matches(response, text_model.predict_proba(texts), names, text_model.classes)
    labels = [r["label"] for r in response.json()["predictions"]]
    assert labels == ["sport", "cooking", "finance"]


def test_a_model_without_encoder_is_served(tmp_path):
    texts = [t for texts in TEXTS.values() for t in texts]
    labels = [label for label, texts in TEXTS.items() for _ in texts]
    model = smallfit.fit(texts, labels, strategy="classic")
    with TestClient(serve.create_app(model)) as client:
        response = client.post("/predict", json={"texts": texts[:2]})
    assert_matches(
        response, model.predict_proba(texts[:2]), ["texts[0]", "texts[1]"], model.classes
    )


def test_concurrent_requests_get_the_sequential_answers(text_client, image_client, image_folder):
    texts = [t for texts in TEXTS.values() for t in texts]
    requests = [texts[i : i + 1 + i % 3] for i in range(16)]
    sequential = [text_client.post("/predict", json={"texts": r}).json() for r in requests]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(
            pool.map(lambda r: text_client.post("/predict", json={"texts": r}).json(), requests)
        )
    for one, other in zip(sequential, concurrent, strict=True):
        for a, b in zip(one["predictions"], other["predictions"], strict=True):
            assert a["label"] == b["label"] and a["item"] == b["item"]
            np.testing.assert_allclose(
                list(a["probabilities"].values()), list(b["probabilities"].values()), atol=1e-6
            )

    paths = sorted(image_folder.rglob("*.png"))[:8]
    files = [upload((p.name, p.read_bytes())) for p in paths]
    alone = [image_client.post("/predict", files=f).json() for f in files]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda f: image_client.post("/predict", files=f).json(), files))
    for one, other in zip(alone, together, strict=True):
        a, b = one["predictions"][0], other["predictions"][0]
        assert a["label"] == b["label"] and a["item"] == b["item"]
        np.testing.assert_allclose(
            list(a["probabilities"].values()), list(b["probabilities"].values()), atol=1e-6
        )


def test_serving_keeps_no_embedding_of_a_request(image_client):
    """A server must not grow with every request: nothing goes to the memo or the disk."""
    image = make_image((10, 200, 10), seed=999)
    encoder = backbones.create("efficientnet_lite0")
    remembered = len(encoder._memo)
    response = image_client.post("/predict", files=upload(("new.png", png_bytes(image))))
    assert response.status_code == 200
    assert len(encoder._memo) == remembered
    assert EmbeddingCache(encoder.cache_id, encoder.dim).get([item_key(image)]) == {}
    assert encoder.use_cache  # restored for everything else in the process


# -- bad requests -----------------------------------------------------------------------


def refused(response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for word in words:
        assert word in detail, detail
    return detail


def test_wrong_content_type_is_415_naming_the_right_one(image_client, text_client):
    refused(image_client.post("/predict", json={"texts": ["a"]}), 415, "multipart/form-data")
    refused(text_client.post("/predict", files=upload(("a.png", b"x"))), 415, "application/json")
    refused(
        text_client.post("/predict", content=b'{"texts": ["a"]}'), 415, "without a content type"
    )


def test_too_large_body_is_413(image_client, text_client):
    big = upload(("big.png", b"\0" * (MAX_BODY + 1)))
    refused(image_client.post("/predict", files=big), 413, f"{MAX_BODY:,}")

    def chunks():  # no declared length: the streamed bytes are counted
        for _ in range(MAX_BODY // 1000 + 2):
            yield b" " * 1000

    response = text_client.post(
        "/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    refused(response, 413, "Too Large")


def test_too_many_or_no_items_is_422(image_client, text_client, image_folder):
    path = sorted(image_folder.rglob("*.png"))[0]
    files = upload(*[(f"{i}.png", path.read_bytes()) for i in range(MAX_ITEMS + 1)])
    refused(image_client.post("/predict", files=files), 422, f"at most {MAX_ITEMS}")
    refused(text_client.post("/predict", json={"texts": ["a"] * (MAX_ITEMS + 1)}), 422, "at most")
    refused(text_client.post("/predict", json={"texts": []}), 422, "at least 1")
    response = image_client.post("/predict", files=[("other", ("a.png", b"x", "image/png"))])
    refused(response, 422, "files", "required")


def test_unreadable_images_are_422_naming_the_file(image_client, image_folder):
    refused(
        image_client.post("/predict", files=upload(("notes.png", b"not an image"))),
        422,
        "notes.png",
    )
    refused(image_client.post("/predict", files=upload(("empty.jpg", b""))), 422, "empty.jpg")
    whole = png_bytes(make_image((1, 2, 3), seed=1, size=64))
    cut = upload(("cut.png", whole[: len(whole) // 2]))
    refused(image_client.post("/predict", files=cut), 422, "cut.png", "truncated or corrupt")


def test_an_image_with_too_many_pixels_is_413(image_client, monkeypatch):
    monkeypatch.setattr(image_modality, "MAX_IMAGE_PIXELS", 1000)
    data = png_bytes(make_image((1, 2, 3), seed=1, size=48))
    refused(
        image_client.post("/predict", files=upload(("huge.png", data))), 413, "huge.png", "48x48"
    )


def test_malformed_texts_are_422_with_what_is_wrong(text_client):
    response = text_client.post("/predict", json={"texts": ["fine", " \n "]})
    refused(response, 422, "texts.1: is empty or white space")
    refused(text_client.post("/predict", json={"texts": "one text"}), 422, "texts")
    refused(text_client.post("/predict", json={"text": ["a"]}), 422, "texts", "required")
    refused(text_client.post("/predict", json={"texts": [3]}), 422, "texts.0")
    response = text_client.post(
        "/predict", content=b'{"texts": [', headers={"content-type": "application/json"}
    )
    refused(response, 422, "JSON")


# -- model, health, documentation -------------------------------------------------------


def test_model_endpoint_describes_the_model(image_client, image_model):
    record = json.loads((image_model / "model.json").read_text())
    info = image_client.get("/model").json()
    assert info["classes"] == ["blue", "green", "red"] == record["classes"]
    assert info["modality"] == "image" and info["input"] == "multipart/form-data"
    assert info["backbone"] == "efficientnet_lite0" and info["strategy"]["name"] == "probe"
    accuracy = info["metrics"]["accuracy"]
    assert accuracy == record["metrics"]["accuracy"]
    assert 0 <= accuracy["low"] <= accuracy["value"] <= accuracy["high"] <= 1
    assert info["fitted_with"]["smallfit"] == smallfit.__version__
    assert info["served_with"]["torch"] == record["versions"]["torch"]
    assert info["limits"]["max_items"] == MAX_ITEMS


def test_health_and_openapi(image_client, text_client):
    assert image_client.get("/health").json() == {"status": "ok"}
    schema = text_client.get("/openapi.json").json()
    body = schema["components"]["schemas"]["TextBatch"]["properties"]["texts"]
    assert body["maxItems"] == MAX_ITEMS and body["minItems"] == 1
    assert image_client.get("/docs").status_code == 200


def test_a_bad_model_directory_is_refused_at_start(tmp_path):
    with pytest.raises(SmallfitError, match="not a smallfit model directory"):
        serve.create_app(tmp_path)


def test_cli_serve_binds_loopback_and_warns_for_other_hosts(image_model, monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    started = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append(kw))
    runner = CliRunner()
    result = runner.invoke(cli.app, ["serve", str(image_model), "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert started[-1]["host"] == "127.0.0.1" and started[-1]["port"] == 8123
    with pytest.warns(UserWarning, match="0.0.0.0 lets other machines reach"):
        runner.invoke(cli.app, ["serve", str(image_model), "--host", "0.0.0.0"])
    assert started[-1]["host"] == "0.0.0.0"
    with pytest.raises(SmallfitError, match="no such folder"):
        runner.invoke(cli.app, ["serve", "missing-model"], catch_exceptions=False)


def test_is_loopback():
    assert serve.is_loopback("127.0.0.1") and serve.is_loopback("::1")
    assert serve.is_loopback("localhost") and serve.is_loopback("127.8.0.2")
    assert not serve.is_loopback("0.0.0.0") and not serve.is_loopback("192.168.1.4")


# -- the batcher ------------------------------------------------------------------------


def test_batcher_merges_waiting_calls_and_returns_each_its_rows():
    release, batches = threading.Event(), []

    def square(items):
        release.wait(5)
        batches.append(len(items))
        return np.array(items)[:, None] ** 2

    batcher = Batcher(square, max_batch=100)
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(batcher, [k, k + 1]) for k in range(0, 12, 2)]
        time.sleep(0.5)  # all six calls queue while the first batch waits
        release.set()
        results = [f.result() for f in futures]
    for k, rows in zip(range(0, 12, 2), results, strict=True):
        np.testing.assert_array_equal(rows[:, 0], [k * k, (k + 1) ** 2])
    assert sum(batches) == 12 and len(batches) < 6


def test_batcher_hands_an_error_to_its_callers_and_goes_on():
    def fussy(items):
        if "bad" in items:
            raise ValueError("bad item")
        return np.ones((len(items), 1))

    batcher = Batcher(fussy, max_batch=8)
    with pytest.raises(ValueError, match="bad item"):
        batcher(["bad"])
    assert batcher(["good", "fine"]).shape == (2, 1)


# -- fuzzing the OpenAPI schema -------------------------------------------------------------


@pytest.fixture(scope="module")
def image_schema(image_client):
    return schemathesis.openapi.from_asgi("/openapi.json", image_client.app)


@pytest.fixture(scope="module")
def text_schema(text_client):
    return schemathesis.openapi.from_asgi("/openapi.json", text_client.app)


FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


def fuzz_every_operation(schema, **check_options) -> int:
    """Call every operation of the schema with generated requests (hypothesis drives
    schemathesis' strategies directly: its pytest plugin breaks with new pytest releases)
    and run schemathesis' checks on each response; returns the paths called."""
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy())
        def call(case):
            case.call_and_validate(**check_options)

        call()
    return {operation.path for operation in operations}


@pytest.mark.slow
def test_fuzzing_the_image_api_finds_no_server_error(image_schema):
    # The schema can say "binary", not "a decodable image", so random bytes that fit it
    # are rightly refused (422): that one check does not apply here.
    called = fuzz_every_operation(image_schema, excluded_checks=[positive_data_acceptance])
    assert called == {"/predict", "/model", "/health"}


@pytest.mark.slow
def test_fuzzing_the_text_api_finds_no_server_error(text_schema):
    assert fuzz_every_operation(text_schema) == {"/predict", "/model", "/health"}
