"""The model report: every section, the numbers it shows, escaping, embedded images that
decode, no network or scripts; written by Model.save and by `smallfit report`; and what a
browser (headless Chromium) shows of it."""

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

import smallfit
from smallfit.report import render_report
from tests.cli_runner import run
from tests.conftest import TEXTS

SECTIONS = [
    "Data",
    "Candidates",
    "Chosen model: cross-validated metrics",
    "Confusion matrix",
    "Per-class precision, recall and F1",
    "Reliability diagram",
    "Learning curve",
    "Most confident mistakes",
    "Data doctor",  # every fit records the doctor's cheap checks
    "Holdout evaluation",
    "Drift checks",
    "Settings and versions",
]
HOSTILE = "<b>x</b>"  # a class name that must not become markup
HOSTILE_TEXTS = [
    "Press the <i>red</i> button & wait for the beep.",
    "Plug the cable into the second socket.",
    "Restart the router, then check the lights.",
    "Hold the reset key for ten seconds.",
    "Update the firmware before the next use.",
    "Charge the battery fully before travelling.",
]
CHROMIUM = shutil.which("chromium")


class Tags(HTMLParser):
    """Collects tag names and every src/href of a page."""

    def __init__(self):
        super().__init__()
        self.tags, self.links, self.headings, self._in_h2 = set(), [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.links += [v for k, v in attrs if k in ("src", "href")]
        if tag == "h2":
            self._in_h2 = True
            self.headings.append("")

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.headings[-1] += data


def parse(page: str) -> Tags:
    parser = Tags()
    parser.feed(page)
    return parser


def embedded_images(page: str) -> list[tuple[str, Image.Image]]:
    """Every data-URI image of the page, decoded (fails if one does not decode)."""
    found = []
    for mime, payload in re.findall(r'src="data:image/(png|jpeg);base64,([^"]+)"', page):
        image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
        image.load()
        found.append((mime, image))
    return found


def assert_self_contained(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    tags = parse(page)
    assert "script" not in tags.tags and "link" not in tags.tags and "iframe" not in tags.tags
    assert all(link.startswith(("data:image/", "#")) for link in tags.links), tags.links


@pytest.fixture(scope="module")
def image_model_dir(image_folder, tmp_path_factory):
    # The default comparison (probe, prototype, classic); 2 folds keep the test quick.
    model = smallfit.fit(image_folder, folds=2)
    return model.save(tmp_path_factory.mktemp("report") / "image-model")


@pytest.fixture(scope="module")
def text_csv_hostile(tmp_path_factory):
    """sport, cooking and a class named <b>x</b>, with a region per row."""
    rows = [(t, label) for label in ("sport", "cooking") for t in TEXTS[label]]
    rows += [(t, HOSTILE) for t in HOSTILE_TEXTS]
    frame = pd.DataFrame(rows, columns=["text", "label"])
    frame["region"] = ["north", "south"] * (len(frame) // 2)
    path = tmp_path_factory.mktemp("report-texts") / "texts.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def text_model_dir(text_csv_hostile, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "text-model"
    code, output = run("fit", text_csv_hostile, "--out", out, "--folds", "2")
    assert code == 0, output
    return out


def test_image_report_shows_every_section_with_the_fit_numbers(image_model_dir):
    page = (image_model_dir / "report.html").read_text()
    model = smallfit.load(image_model_dir)
    assert parse(page).headings == SECTIONS
    for row in model.info["candidates"]:
        accuracy = row["accuracy"]
        assert row["candidate"] in page
        assert f"{100 * accuracy['value']:.1f}% " in page
        assert f"[{100 * accuracy['low']:.1f}–{100 * accuracy['high']:.1f}]" in page
    cv = model.metrics["accuracy"]
    assert f"Cross-validated accuracy <b>{100 * cv['value']:.1f}%" in page
    assert "18 images</b> in <b>3 classes" in page
    for name, values in model.metrics["per_class"].items():
        assert f"{100 * values['recall']['value']:.1f}%" in page and f"<b>{name}</b>" in page
    assert model.info["versions"]["torch"] in page
    assert_self_contained(page)


def test_image_report_embeds_thumbnails_and_plots_that_decode(image_model_dir):
    page = (image_model_dir / "report.html").read_text()
    images = embedded_images(page)
    thumbnails = [image for mime, image in images if mime == "jpeg"]
    plots = [image for mime, image in images if mime == "png"]
    assert len(thumbnails) >= 12  # 4 per class in the data overview, more for mistakes
    assert all(max(image.size) <= 64 for image in thumbnails)
    record = json.loads((image_model_dir / "model.json").read_text())
    # the reliability diagram, and the learning curve when the fit measured one
    assert len(plots) == 1 + ("learning_curve" in record)
    assert all(plot.size[0] > 300 for plot in plots)
    assert "base64" not in json.dumps(record)  # pictures stay out of model.json
    samples = record["examples"]["samples"]
    assert sorted(samples) == ["blue", "green", "red"] and all(
        len(v) == 4 for v in samples.values()
    )


def test_mistakes_are_the_most_confident_out_of_fold_errors(text_model_dir, text_csv_hostile):
    record = json.loads((text_model_dir / "model.json").read_text())
    rows = pd.read_csv(text_csv_hostile)
    examples = record["examples"]
    mistakes = examples["mistakes"]
    assert len(mistakes) <= 12 and examples["n_scored"] == 18
    assert len(mistakes) == min(12, examples["n_mistakes"])
    assert all(m["label"] != m["predicted"] and 0 < m["confidence"] <= 1 for m in mistakes)
    assert [m["confidence"] for m in mistakes] == sorted(
        (m["confidence"] for m in mistakes), reverse=True
    )
    for mistake in mistakes:  # "row N" of the CSV (N counts the header), its text and label
        row = rows.iloc[int(mistake["item"].removeprefix("row ")) - 2]
        assert mistake["text"] == row["text"] and mistake["label"] == row["label"]


def test_text_report_escapes_class_names_and_texts(text_model_dir):
    page = (text_model_dir / "report.html").read_text()
    assert HOSTILE not in page and "<i>red</i>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert "Press the &lt;i&gt;red&lt;/i&gt; button &amp; wait for the beep." in page
    tags = parse(page)
    assert "i" not in tags.tags  # the text's <i> is shown, not applied
    assert tags.headings == SECTIONS
    assert "18 texts</b> in <b>3 classes" in page
    assert_self_contained(page)


def test_optional_sections_render_from_their_records(image_model_dir):
    model = smallfit.load(image_model_dir)
    model.info["learning_curve"] = {
        "sizes": [6, 9, 12, 18],
        "accuracy": [0.6, 0.7, 0.76, 0.8],
        "low": [0.4, 0.5, 0.6, 0.65],
        "high": [0.8, 0.85, 0.9, 0.92],
        "fit": {"a": 0.9, "b": 1.2, "c": 0.8},
        "predicted": [
            {"factor": 2, "n": 36, "accuracy": 0.853, "low": 0.8, "high": 0.9},
            {"factor": 4, "n": 72, "accuracy": 0.874, "low": 0.81, "high": 0.93},
        ],
    }
    model.info["unlabeled"] = {
        "pool": "pool/",
        "n_pool": 250,
        "labeled_only": {"candidate": "probe", "accuracy": {"value": 0.7, "low": 0.6, "high": 0.8}},
        "semi": {"candidate": "pseudo", "accuracy": {"value": 0.75, "low": 0.65, "high": 0.84}},
    }
    model.info["adaptation"] = {"method": "coral", "pool": "target/", "n_pool": 40}
    model.info["doctor"] = {
        "counts": {"duplicate": 25},
        "findings": [
            {
                "kind": "duplicate",
                "items": [f"a{i}.png", f"b{i}.png"],
                "detail": "same pixels",
                "suggestion": "keep one",
            }
            for i in range(25)
        ],
    }
    page = render_report(model)
    headings = parse(page).headings
    for title in ("Semi-supervised learning", "Domain adaptation", "Data doctor"):
        assert title in headings
    assert "Not run for this model" not in page
    assert "2× the data" in page and "85.3% <span class=ci>[80.0–90.0]" in page
    assert "87.4%" in page and "n<sup>−0.800</sup>" in page
    assert len([m for m, _ in embedded_images(page) if m == "png"]) == 2  # + learning curve
    assert "75.0% <span class=ci>[65.0–84.0]" in page and "250 items" in page
    assert "<b>coral</b>" in page and "target/" in page
    assert page.count("same pixels") == 20 and "5 more findings" in page
    assert_self_contained(page)


def test_an_update_shows_old_and_new_accuracy_before_and_after():
    texts = TEXTS["sport"] + TEXTS["cooking"]
    model = smallfit.fit(texts, ["sport"] * 6 + ["cooking"] * 6, strategy="prototype")
    updated = smallfit.update(model, TEXTS["finance"], ["finance"] * 6)
    page = render_report(updated)
    assert "Incremental update" in parse(page).headings
    accuracy = updated.info["update"]["accuracy"]
    for part in ("old_data", "new_data"):
        for when in ("before", "after"):
            assert f"{100 * accuracy[part][when]['value']:.1f}%" in page
    assert "New classes: finance" in page and "12 stored exemplars" in page
    assert "Most confident mistakes" in page  # a heading, with a "not recorded" note


def test_report_command_includes_evaluations_fairness_and_drift(
    text_model_dir, text_csv_hostile, tmp_path
):
    metrics, drift, page_path = tmp_path / "m.json", tmp_path / "d.json", tmp_path / "r.html"
    code, output = run(
        "evaluate",
        text_model_dir,
        text_csv_hostile,
        "--group-column",
        "region",
        "--output",
        metrics,
    )
    assert code == 0, output
    code, output = run("drift", text_model_dir, text_csv_hostile, "--output", drift)
    assert code in (0, 1), output
    code, output = run(
        "report", text_model_dir, "--evaluation", metrics, "--drift", drift, "--out", page_path
    )
    assert code == 0, output
    assert "1 evaluation(s) and 1 drift check(s)" in " ".join(output.split())
    page = page_path.read_text()
    evaluation, check = json.loads(metrics.read_text()), json.loads(drift.read_text())
    assert "Fairness slices by region" in page and "<b>north</b>" in page
    assert f"Holdout accuracy on <code>{text_csv_hostile}</code>" in page
    assert interval_of(evaluation["accuracy"]) in page
    assert f"{check['p_value']:.4f} (alpha 0.01)" in page
    assert check["summary"].replace(">=", "&gt;=") in page
    assert "Demographic parity difference" in page
    assert HOSTILE not in page
    assert_self_contained(page)
    before = (text_model_dir / "report.html").read_text()
    assert "Fairness slices" not in before  # --out elsewhere leaves the model's report alone


def interval_of(metric):
    return (
        f"{100 * metric['value']:.1f}% <span class=ci>[{100 * metric['low']:.1f}–"
        f"{100 * metric['high']:.1f}]</span>"
    )


def test_report_command_defaults_to_the_model_report_and_checks_its_inputs(
    image_model_dir, tmp_path
):
    target = image_model_dir / "report.html"
    target.write_text("old")
    code, output = run("report", image_model_dir)
    assert code == 0, output
    assert target.read_text().startswith("<!DOCTYPE html>")
    other = tmp_path / "metrics.json"
    other.write_text(json.dumps({"drift": False}))
    code, output = run("report", image_model_dir, "--evaluation", other)
    assert code == 2 and "not a JSON file written by `smallfit evaluate --output`" in output
    code, output = run("report", image_model_dir, "--drift", tmp_path / "missing.json")
    assert code == 2 and "Cannot read" in output
    existing = tmp_path / "r.html"
    existing.write_text("mine")
    code, output = run("report", image_model_dir, "--out", existing)
    assert code == 2 and "--overwrite" in output and existing.read_text() == "mine"


def chromium(*args, tmp_path):
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_chromium_renders_the_sections_and_images(image_model_dir, tmp_path):
    url = (image_model_dir / "report.html").resolve().as_uri()
    dom = chromium("--dump-dom", url, tmp_path=tmp_path).stdout
    assert parse(dom).headings == SECTIONS
    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,2400", url, tmp_path=tmp_path)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 2400)
    pixels = list(image.getdata())
    assert len(set(pixels[::97])) > 50  # text, bars, pictures: not a blank page
    # The green class's thumbnails (saturated green noise) are drawn: the page's own
    # colours have no such green, so these pixels come from the embedded images.
    green = sum(1 for r, g, b in pixels if g > 120 and r < 90 and b < 90)
    assert green > 4 * 64 * 64 // 2


def test_images_moved_away_show_their_names_instead_of_thumbnails(image_model_dir, tmp_path):
    model = smallfit.load(image_model_dir)
    samples = model.info["examples"]["samples"]
    for entries in samples.values():
        for entry in entries:
            entry["item"] = str(tmp_path / "gone" / f"moved_{Path(entry['item']).name}")
    for mistake in model.info["examples"].get("mistakes", []):
        mistake["item"] = str(tmp_path / "gone" / "moved_mistake.png")
    page = render_report(model)
    assert not [m for m, _ in embedded_images(page) if m == "jpeg"]
    assert "<code>moved_red_0.png</code>" in page
