"""The data doctor: planted duplicates, leakage, label errors, imbalance and outliers are
found; the CSV says so; the data is never changed; bad input gets a clear error."""

from __future__ import annotations

import csv
import json
import shutil
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from smallfit.data import Dataset
from smallfit.doctor import class_imbalance, examine, label_suspicion, summary
from smallfit.errors import SmallfitError
from smallfit.modalities.reading import read_source
from tests.cli_runner import run
from tests.conftest import TEXTS


def _shifted(image: Image.Image) -> Image.Image:
    pixels = np.asarray(image)
    moved = np.zeros_like(pixels)
    moved[:, 1:] = pixels[:, :-1]
    return Image.fromarray(moved)


def _checkerboard(size: int = 28) -> Image.Image:
    tiles = (np.indices((size, size)) // 6).sum(axis=0) % 2
    return Image.fromarray((tiles * 255).astype(np.uint8)).convert("RGB")


DEMO = Path(str(files("smallfit") / "demo_data" / "fashion"))
CLASSES = ("trouser", "sneaker", "bag", "dress")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """12 bundled Fashion-MNIST images of each of 4 classes, plus: an exact copy, an exact
    copy in another class, darkened, shifted-by-one-pixel and JPEG copies, two mislabeled
    images and a checkerboard; and a test folder with two copies and four new images."""
    root = tmp_path_factory.mktemp("doctor") / "photos"
    originals = {}
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        originals[name] = sorted((DEMO / "train" / name).glob("*.png"))[:12]
        for path in originals[name]:
            shutil.copy(path, root / name / path.name)
    second = {name: Image.open(paths[1]).convert("L") for name, paths in originals.items()}
    shutil.copy(originals["trouser"][0], root / "trouser" / "copy_of_trouser.png")
    shutil.copy(originals["bag"][0], root / "sneaker" / "copy_of_bag.png")
    Image.eval(second["bag"], lambda v: int(v * 0.6)).save(root / "bag" / "dark_bag.png")
    _shifted(second["dress"]).save(root / "dress" / "shifted_dress.png")
    second["sneaker"].save(root / "sneaker" / "jpeg_sneaker.jpg", quality=95)
    holdout = {name: sorted((DEMO / "holdout" / name).glob("*.png")) for name in CLASSES}
    shutil.copy(holdout["trouser"][0], root / "bag" / "mislabeled_trouser.png")
    shutil.copy(holdout["sneaker"][0], root / "dress" / "mislabeled_sneaker.png")
    _checkerboard().save(root / "trouser" / "checkerboard.png")
    test = root.parent / "test"
    test.mkdir()
    shutil.copy(originals["bag"][5], test / "bag_again.png")
    bright = Image.open(originals["dress"][6]).convert("L")
    Image.eval(bright, lambda v: min(255, v + 30)).save(test / "bright_dress.png")
    for name in CLASSES:
        shutil.copy(holdout[name][1], test / f"new_{name}.png")
    return root, test, originals


@pytest.fixture(scope="module")
def findings(planted):
    root, test, _ = planted
    return examine(read_source(root, labeled=True), read_source(test, labeled=False))


def _pairs(findings, kind):
    return [set(f.items) for f in findings.findings if f.kind == kind]


def _has(findings, kind, *parts):
    return any(
        all(any(p in item for item in items) for p in parts) for items in _pairs(findings, kind)
    )


def _name(planted, name, index):
    return planted[2][name][index].name


def test_exact_duplicates_and_conflicting_labels(planted, findings):
    trouser, bag = _name(planted, "trouser", 0), _name(planted, "bag", 0)
    assert _has(findings, "exact_duplicate", f"trouser/{trouser}", "copy_of_trouser.png")
    assert _has(findings, "conflicting_labels", f"bag/{bag}", "sneaker/copy_of_bag.png")
    conflict = next(f for f in findings.findings if f.kind == "conflicting_labels")
    assert "bag, sneaker" in conflict.detail


@pytest.mark.parametrize(
    "name, copy", [("bag", "dark_bag"), ("dress", "shifted_dress"), ("sneaker", "jpeg_sneaker")]
)
def test_near_duplicates_found(planted, findings, name, copy):
    assert _has(findings, "near_duplicate", _name(planted, name, 1), copy)


def test_no_false_near_duplicates(findings):
    for items in _pairs(findings, "near_duplicate"):
        assert any(p in i for i in items for p in ("dark_bag", "shifted_dress", "jpeg_sneaker"))


def test_leakage_between_train_and_test(planted, findings):
    assert _has(findings, "leakage", _name(planted, "bag", 5), "bag_again.png")
    assert _has(findings, "leakage", _name(planted, "dress", 6), "bright_dress.png")
    assert not any("new_" in i for items in _pairs(findings, "leakage") for i in items)


def test_mislabeled_items_are_the_top_suspects(planted, findings):
    flagged = [f.items[0] for f in findings.findings if f.kind == "label_issue"]
    assert any("mislabeled_trouser" in n for n in flagged)
    assert any("mislabeled_sneaker" in n for n in flagged)
    ranked = np.argsort(-np.nan_to_num(findings.suspicion, nan=-1))
    assert ranked.size == findings.n_items
    names = read_source(planted[0], labeled=True).names
    top = [names[i] for i in ranked[:4]]
    assert sum("mislabeled" in n or "copy_of_bag" in n for n in top) >= 2


def test_outlier_found(findings):
    outliers = [f.items[0] for f in findings.findings if f.kind == "outlier"]
    assert any("checkerboard" in n for n in outliers)
    assert len(outliers) <= 2


def test_label_suspicion_ranks_flipped_labels_high():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    probabilities = np.full((120, 3), 0.05)
    probabilities[np.arange(120), y] = 0.9
    probabilities += rng.uniform(0, 0.05, probabilities.shape)
    flipped = np.array([3, 50, 100])
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + 1) % 3
    suspicion, flagged = label_suspicion(noisy, probabilities)
    assert set(np.argsort(-suspicion)[:3]) == set(flipped)
    assert set(np.flatnonzero(flagged)) == set(flipped)


def test_class_imbalance():
    labels = ["a"] * 20 + ["b"] * 18 + ["c"] * 3
    data = Dataset([f"text {i}" for i in range(41)], "text", np.array(labels, dtype=object))
    (finding,) = class_imbalance(data)
    assert finding.items == ["c"]
    assert finding.score == pytest.approx(20 / 3)
    balanced = Dataset([f"t {i}" for i in range(20)], "text", np.array(["a", "b"] * 10))
    assert class_imbalance(balanced) == []


def test_texts_near_duplicates_and_leakage(tmp_path):
    rows = [(t, label) for label, texts in TEXTS.items() for t in texts]
    extra = [
        ("  The STRIKER scored twice   in the second half of the match.", "sport"),
        ("Bake the bread for forty minutes at", "cooking"),
        ("the central bank raised interest rates by a quarter point.", "finance"),
    ]
    data = Dataset(
        [t for t, _ in rows + extra],
        "text",
        np.array([label for _, label in rows + extra], dtype=object),
    )
    test = Dataset(
        ["Shares fell sharply after the quarterly earnings report.", "A brand new sentence."],
        "text",
    )
    found = examine(data, test)
    near = [set(f.items) for f in found.findings if f.kind == "near_duplicate"]
    for planted, original in ((18, 0), (19, 7), (20, 12)):
        assert {f"item {planted}", f"item {original}"} in near
    leaks = [f.items for f in found.findings if f.kind == "leakage"]
    assert leaks == [["item 13", "item 0"]]


def test_summary_format(findings):
    result = summary(findings)
    assert set(result) == {"counts", "findings"}
    assert result["counts"]["exact_duplicate"] >= 1 and result["counts"]["leakage"] >= 2
    assert all(set(f) == {"kind", "items", "detail", "suggestion"} for f in result["findings"])
    assert summary(findings.frame()) == result
    json.dumps(result)


def _snapshot(root):
    """Every file's bytes and every file's and folder's modification time."""
    paths = [root, *sorted(root.rglob("*"))]
    return {p: (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns) for p in paths}


def test_cli_writes_csv_and_leaves_data_unchanged(planted, tmp_path):
    root, test, _ = planted
    before, before_test = _snapshot(root), _snapshot(test)
    output, page = tmp_path / "findings.csv", tmp_path / "pairs.html"
    code, text = run("doctor", root, "--test", test, "--output", output, "--html", page)
    assert code == 0, text
    assert _snapshot(root) == before and _snapshot(test) == before_test
    with open(output, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert set(rows[0]) == {"kind", "items", "detail", "score", "suggestion"}
    kinds = {r["kind"] for r in rows}
    assert {"exact_duplicate", "conflicting_labels", "near_duplicate", "leakage"} <= kinds
    items = [json.loads(r["items"]) for r in rows if r["kind"] == "exact_duplicate"]
    assert any(any(i.endswith("copy_of_trouser.png") for i in group) for group in items)
    assert all(r["suggestion"] for r in rows)
    assert "leakage" in text and "not changed" in text
    assert page.read_text().count("<img") >= 6
    code, text = run("doctor", root, "--output", output)
    assert code == 2 and "already exists" in text


def test_cli_refuses_to_write_into_the_data(planted):
    root, _, _ = planted
    before = _snapshot(root)
    code, text = run("doctor", root, "--output", root / "findings.csv")
    assert code == 2 and "never writes into the data" in text
    assert _snapshot(root) == before


def test_errors_unlabeled_and_wrong_modality(planted, text_csv):
    root, _, _ = planted
    unlabeled = Dataset(["a text", "another"], "text")
    with pytest.raises(SmallfitError, match="has no labels"):
        examine(unlabeled)
    code, text = run("doctor", root, "--test", text_csv, "--output", root.parent / "x.csv")
    assert code == 2 and "holds texts" in text and "holds images" in text


def test_python_api_returns_a_frame(text_csv):
    import smallfit

    frame = smallfit.doctor(text_csv)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["kind", "items", "detail", "score", "suggestion"]
    assert "near_duplicates" in frame.attrs["notes"]


def test_fit_records_the_cheap_checks(text_csv, tmp_path):
    import smallfit

    table = pd.read_csv(text_csv)
    table = pd.concat([table, table.iloc[[0]]])  # one exact duplicate
    model = smallfit.fit(table.text.tolist(), table.label.tolist(), strategy="probe")
    record = model.info["doctor"]
    assert set(record) == {"counts", "findings"}
    assert record["counts"]["exact_duplicate"] == 1
    assert record["counts"]["near_duplicate"] == 0  # not a cheap check
    assert {"kind", "items", "detail", "suggestion"} == set(record["findings"][0])
