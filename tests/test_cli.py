"""The command line, as a user runs it: files written, numbers printed, errors explained."""

import csv
import json
import re

import pandas as pd
import pytest

from smallfit import cli
from tests.cli_runner import run


@pytest.fixture(scope="module")
def text_model(text_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "text-model"
    code, output = run("fit", text_csv, "--out", out)
    assert code == 0, output
    return out, output


def test_fit_writes_a_complete_model_directory(text_model):
    out, output = text_model
    assert sorted(p.name for p in out.iterdir()) == [
        "metrics.json",
        "model.json",
        "report.html",
        "weights.safetensors",
    ]
    record = json.loads((out / "model.json").read_text())
    assert record["classes"] == ["cooking", "finance", "sport"]
    assert record["strategy"]["name"] in {"probe", "prototype", "zeroshot", "classic", "ensemble"}
    candidates = {row["strategy"] for row in record["candidates"]}
    assert {"probe", "prototype", "zeroshot", "classic"} <= candidates
    accuracy = record["metrics"]["accuracy"]
    assert 0.8 <= accuracy["value"] <= 1.0 and accuracy["low"] <= accuracy["value"]
    honest = record["metrics"]["honest"]
    assert output.index("Estimated accuracy") < output.index("Candidates")  # printed first
    assert f"{honest['value']:.3f} [{honest['low']:.3f}, {honest['high']:.3f}]" in output
    assert "chosen" in output.lower() or "in the ensemble" in output
    assert not list(out.parent.glob("*.pkl"))


def test_predict_writes_rows_in_input_order(text_model, tmp_path):
    out, _ = text_model
    new = tmp_path / "new.csv"
    texts = ["The referee stopped the match.", "Add the garlic to the pan.", "Bond yields rose."]
    pd.DataFrame({"text": texts}).to_csv(new, index=False)
    preds = tmp_path / "preds.csv"
    code, output = run("predict", out, new, "--output", preds)
    assert code == 0, output
    rows = list(csv.DictReader(preds.open()))
    assert list(rows[0]) == ["item", "label", "confidence", "p_cooking", "p_finance", "p_sport"]
    assert [r["item"] for r in rows] == texts
    assert [r["label"] for r in rows] == ["sport", "cooking", "finance"]
    for row in rows:
        assert float(row["confidence"]) == max(
            float(row[f"p_{c}"]) for c in ("cooking", "finance", "sport")
        )


def test_evaluate_prints_and_writes_metrics(text_model, text_csv, tmp_path):
    out, _ = text_model
    metrics_path = tmp_path / "metrics.json"
    code, output = run("evaluate", out, text_csv, "--output", metrics_path)
    assert code == 0, output
    metrics = json.loads(metrics_path.read_text())
    assert metrics["kind"] == "holdout" and metrics["n_items"] == 18
    assert metrics["accuracy"]["value"] >= 0.9  # data it was trained on
    assert set(metrics["per_class"]) == {"cooking", "finance", "sport"}


def test_image_fit_and_predict_on_a_folder(image_folder, tmp_path):
    out = tmp_path / "image-model"
    code, output = run("fit", image_folder, "--out", out, "--strategy", "prototype")
    assert code == 0, output
    preds = tmp_path / "p.csv"
    code, output = run("predict", out, image_folder, "--output", preds)
    assert code == 0, output
    rows = list(csv.DictReader(preds.open()))
    assert len(rows) == 18
    correct = sum(r["item"].split("/")[-2] == r["label"] for r in rows)
    assert correct >= 16


@pytest.mark.parametrize(
    "args,message",
    [
        (["fit", "{csv}", "--out", "{tmp}/m", "--text-column", "body"], "no column 'body'"),
        (["fit", "{tmp}/missing", "--out", "{tmp}/m"], "does not exist"),
        (["predict", "{tmp}", "{csv}", "--output", "{tmp}/p.csv"], "not a smallfit model"),
        (["fit", "{csv}", "--out", "{tmp}", "--strategy", "nope"], "already exists"),
        (["fit", "{csv}", "--out", "{tmp}/m", "--strategy", "nope"], "Unknown strategy 'nope'"),
        (["fit", "{csv}", "--out", "{tmp}/m", "--backbone", "efficientnet_lite0"], "for images"),
        (["fit", "{csv}", "--out", "{tmp}/m", "--time-budget", "ten"], "time budget 'ten'"),
        (["fit", "{csv}", "--out", "{tmp}/m", "--time-budget", "0m"], "time budget '0m'"),
        (["fit", "{csv}", "--out", "{tmp}/m", "--unfreeze", "all"], "apply to finetune"),
        (["fit", "{csv}", "--out", "{tmp}/m", "--preset", "quick"], "Unknown preset 'quick'"),
        (["fit", "{csv}", "--out", "{tmp}/m", "--unfreeze", "top:x"], "use gradual, all or top:K"),
        (["fit", "{csv}", "--out", "{tmp}/m", "--mix", "cutmix"], "add --strategy finetune"),
        (
            ["fit", "{csv}", "--out", "{tmp}/m", "--strategy", "finetune", "--mix", "blend"],
            "Unknown --mix 'blend'; choose from none, mixup, cutmix.",
        ),
        (
            ["fit", "{csv}", "--out", "{tmp}/m", "--strategy", "finetune", "--mix", "mixup"],
            "works on images only",
        ),
    ],
)
def test_bad_input_gets_one_clear_message(args, message, text_csv, tmp_path):
    filled = [a.format(csv=text_csv, tmp=tmp_path) for a in args]
    code, output = run(*filled)
    assert code == 2
    assert message in output


def test_one_class_is_refused_and_a_singleton_class_warns(tmp_path):
    from PIL import Image

    from tests.conftest import COLOURS, make_image

    for k in range(4):
        (tmp_path / "only").mkdir(exist_ok=True)
        make_image(COLOURS["red"], k).save(tmp_path / "only" / f"{k}.png")
    code, output = run("fit", tmp_path, "--out", tmp_path.parent / "one-class-model")
    assert code == 2 and "fewer than two classes" in output
    for k in range(4):
        (tmp_path / "other").mkdir(exist_ok=True)
        make_image(COLOURS["blue"], 50 + k).save(tmp_path / "other" / f"{k}.png")
    (tmp_path / "lonely").mkdir()
    Image.new("RGB", (40, 40), (0, 200, 0)).save(tmp_path / "lonely" / "x.png")
    with pytest.warns(UserWarning, match="single example"):
        code, output = run(
            "fit", tmp_path, "--out", tmp_path.parent / "singleton-model", "--strategy", "prototype"
        )
    assert code == 0, output


def test_damaged_model_directory_is_refused(text_model, tmp_path):
    import shutil

    out, _ = text_model
    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    (damaged / "weights.safetensors").write_bytes(b"\x00garbage")
    code, output = run("predict", damaged, out / "model.json", "--output", tmp_path / "p.csv")
    assert code == 2 and "weights.safetensors is damaged" in output
    (damaged / "model.json").write_text("{not json")
    code, output = run("evaluate", damaged, out)
    assert code == 2 and "model.json is damaged" in output


def test_main_exits_2_without_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(
        "sys.argv",
        ["smallfit", "predict", str(tmp_path), str(tmp_path), "--output", str(tmp_path / "p.csv")],
    )
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert "not a smallfit model directory" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_backbones_lists_offline_encoders():
    code, output = run("backbones")
    assert code == 0
    assert "efficientnet_lite0" in output and "minilm" in output and "yes" in output


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    code, output = run("demo", "--out", out)
    assert code == 0, output
    assert (out / "model" / "model.json").exists()
    holdout = json.loads((out / "holdout_metrics.json").read_text())
    assert holdout["n_items"] == 100 and holdout["accuracy"]["value"] >= 0.6
    assert len((out / "predictions.csv").read_text().splitlines()) == 101
    assert "Estimated accuracy" in output and "holdout accuracy" in output


def test_finetune_cross_validates_once_not_repeatedly(image_folder, tmp_path):
    out = tmp_path / "ft"
    code, output = run("fit", image_folder, "--out", out, "--strategy", "finetune")
    assert code == 0, output
    record = json.loads((out / "model.json").read_text())
    assert record["settings"]["repeats"] == 1 and record["strategy"]["name"] == "finetune"
    assert record["metrics"]["n_items"] == 18


@pytest.mark.parametrize("text,seconds", [("300", 300), ("90s", 90), ("10m", 600), ("1.5h", 5400)])
def test_time_budget_reads_units(text, seconds):
    from smallfit.cli.options import parse_duration

    assert parse_duration(text) == seconds


def test_full_candidates_add_finetuning_and_a_time_budget_leaves_out_what_does_not_fit(
    image_folder, tmp_path
):
    full = ("--candidates", "full")
    quick = ("--folds", "2", "--no-learning-curve")
    code, output = run(
        "fit", image_folder, "--out", tmp_path / "roomy", *full, "--time-budget", "10m", *quick
    )
    assert code == 0, output
    rows = json.loads((tmp_path / "roomy" / "model.json").read_text())["candidates"]
    strategies = ["probe", "prototype", "classic", "scratch"]
    assert [r["strategy"] for r in rows] == [*strategies, "finetune"]
    assert all(r["accuracy"]["value"] > 0.5 for r in rows)

    code, output = run(
        "fit", image_folder, "--out", tmp_path / "budget", "--time-budget", "10m", *quick
    )
    assert code == 0, output  # a time budget alone trains no encoder
    rows = json.loads((tmp_path / "budget" / "model.json").read_text())["candidates"]
    assert [r["strategy"] for r in rows] == strategies

    code, output = run("fit", image_folder, "--out", tmp_path / "tight", "--time-budget", "0.01")
    assert code == 0, output
    rows = json.loads((tmp_path / "tight" / "model.json").read_text())["candidates"]
    assert rows[0]["accuracy"]["value"] > 0.5  # the first candidate always completes
    assert all(r["accuracy"] is None and "time budget" in r["skipped"] for r in rows[1:])
    assert "skipped" in output


def test_lr_find_suggests_a_rate_and_plots_the_curve(text_csv, tmp_path):
    code, output = run("lr-find", text_csv, "--plot", tmp_path / "lr.png")
    assert code == 0, output
    rate = float(re.search(r"Suggested learning rate: ([0-9.e+-]+)", output).group(1))
    assert 1e-6 < rate < 1.0
    assert (tmp_path / "lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tta_on_texts_is_refused_clearly(text_model, text_csv, tmp_path):
    model_dir = text_model[0]
    code, output = run("predict", model_dir, text_csv, "--output", tmp_path / "p.csv", "--tta")
    assert code == 2 and "images only" in output


def test_fit_resume_needs_checkpoints_and_refuses_to_discard_them(image_folder, tmp_path):
    out = tmp_path / "model"
    code, output = run("fit", image_folder, "--out", out, "--resume")
    assert (code, output) == (2, f"Nothing to resume: {out}.checkpoints holds no checkpoints.")

    (tmp_path / "model.checkpoints").mkdir()
    (tmp_path / "model.checkpoints" / "run.json").write_text("{}")
    code, output = run("fit", image_folder, "--out", out)
    assert code == 2 and "add --resume to continue it" in output
    assert (tmp_path / "model.checkpoints" / "run.json").exists()  # nothing deleted


def test_a_warning_repeated_by_every_fold_is_printed_once(capsys):
    from smallfit.cli import display

    for _ in range(3):
        display.show_warning(UserWarning("the same words"), UserWarning, "x.py", 1)
    display.show_warning(UserWarning("other words"), UserWarning, "x.py", 1)
    printed = capsys.readouterr().err
    assert printed.count("the same words") == 1 and printed.count("other words") == 1
