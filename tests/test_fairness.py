"""Fairness slices: numbers worked out by hand on tiny examples, and the CLI around them."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from smallfit.errors import SmallfitError
from smallfit.evaluate.fairness import MIN_GROUP, fairness_report
from tests.cli_runner import run


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_binary_groups_by_hand():
    # group A: truth 1 1 0 0, predicted 1 0 0 1; group B: truth 1 0 0 0, predicted 1 1 1 0
    y_true = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    y_pred = np.array([1, 0, 0, 1, 1, 1, 1, 0])
    groups = ["A"] * 4 + ["B"] * 4
    report = fairness_report(y_true, y_pred, groups, ["no", "yes"], "site")

    a, b = report["groups"]["A"], report["groups"]["B"]
    assert (a["count"], b["count"]) == (4, 4)
    assert a["accuracy"]["value"] == 0.5 and b["accuracy"]["value"] == 0.5
    assert (a["accuracy"]["low"], a["accuracy"]["high"]) == pytest.approx(wilson(2, 4), abs=1e-5)
    assert a["recall_macro"] == pytest.approx(0.5)  # recall 1/2 for yes, 1/2 for no
    assert b["recall_macro"] == pytest.approx((1 + 1 / 3) / 2)  # yes 1/1, no 1/3
    assert a["selection_rate"] == {"yes": 0.5} and b["selection_rate"] == {"yes": 0.75}
    assert report["positive_class"] == "yes"
    assert report["demographic_parity_difference"]["value"] == pytest.approx(0.25)
    # true-positive rates 1/2 and 1, false-positive rates 1/2 and 2/3: the larger gap, 1/2
    assert report["equalized_odds_difference"]["value"] == pytest.approx(0.5)
    assert report["small_groups"] == ["A", "B"] and report["min_group_size"] == MIN_GROUP
    assert report["group_column"] == "site"


def test_multiclass_is_one_class_against_the_rest_and_reports_the_largest():
    # classes a b c; G1 truth a b c a, predicted a b b a; G2 truth a a b b, predicted a c b b
    y_true = np.array([0, 1, 2, 0, 0, 0, 1, 1])
    y_pred = np.array([0, 1, 1, 0, 0, 2, 1, 1])
    groups = np.array(["G1"] * 4 + ["G2"] * 4)
    report = fairness_report(y_true, y_pred, groups, ["a", "b", "c"])

    g1, g2 = report["groups"]["G1"], report["groups"]["G2"]
    assert g1["accuracy"]["value"] == 0.75 and g2["accuracy"]["value"] == 0.75
    assert g1["recall_macro"] == pytest.approx(2 / 3)  # a 1, b 1, c 0
    assert g2["recall_macro"] == pytest.approx(0.75)  # a 1/2, b 1 (no c in G2)
    assert g1["selection_rate"] == {"a": 0.5, "b": 0.5, "c": 0.0}
    assert g2["selection_rate"] == {"a": 0.25, "b": 0.5, "c": 0.25}
    parity = report["demographic_parity_difference"]
    assert parity["per_class"] == pytest.approx({"a": 0.25, "b": 0.0, "c": 0.25})
    assert parity["value"] == pytest.approx(0.25)
    odds = report["equalized_odds_difference"]
    # a: TPR 1 vs 1/2, FPR 0 vs 0 -> 1/2; b: TPR 1 vs 1, FPR 1/3 vs 0 -> 1/3;
    # c: G2 holds no c, so there is no second group to compare -> undefined
    assert odds["per_class"]["a"] == pytest.approx(0.5)
    assert odds["per_class"]["b"] == pytest.approx(1 / 3)
    assert odds["per_class"]["c"] is None
    assert (odds["value"], odds["class"]) == (pytest.approx(0.5), "a")
    assert report["positive_class"] is None


def test_large_groups_raise_no_warning_and_one_group_is_refused():
    y = np.tile([0, 1], MIN_GROUP)
    report = fairness_report(y, y, ["x"] * MIN_GROUP + ["y"] * MIN_GROUP, ["n", "p"])
    assert report["small_groups"] == []
    assert report["equalized_odds_difference"]["value"] == 0.0
    with pytest.raises(SmallfitError, match="single value"):
        fairness_report(y, y, ["x"] * len(y), ["n", "p"], "region")


@pytest.fixture(scope="module")
def text_model(text_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("fair") / "model"
    code, output = run("fit", text_csv, "--out", out, "--strategy", "prototype")
    assert code == 0, output
    return out


def test_evaluate_with_a_group_column_prints_and_saves_the_slices(text_model, text_csv, tmp_path):
    frame = pd.read_csv(text_csv)
    frame["source"] = ["web", "print"] * (len(frame) // 2)
    data = tmp_path / "holdout.csv"
    frame.to_csv(data, index=False)
    metrics_path = tmp_path / "metrics.json"
    code, output = run(
        "evaluate", text_model, data, "--group-column", "source", "--output", metrics_path
    )
    assert code == 0, output
    assert "Fairness slices by source" in output and "Demographic parity difference" in output
    fairness = json.loads(metrics_path.read_text())["fairness"]
    assert set(fairness["groups"]) == {"web", "print"}
    assert sum(g["count"] for g in fairness["groups"].values()) == len(frame)
    assert fairness["small_groups"] == ["print", "web"]  # 9 items each: too few


def test_evaluate_names_a_missing_group_column_and_its_columns(text_model, text_csv):
    code, output = run("evaluate", text_model, text_csv, "--group-column", "region")
    assert code == 2
    assert "no column 'region'" in output and "text, label" in output


def test_image_groups_come_from_a_table_of_items(image_folder, tmp_path):
    from smallfit import backbones
    from smallfit.api import evaluate_model
    from smallfit.modalities.reading import read_source
    from smallfit.model import Model
    from smallfit.strategies.prototype import Prototype

    dataset = read_source(image_folder, labeled=True)
    strategy = Prototype().fit(dataset, backbones.create("efficientnet_lite0"))
    model = Model(strategy, "efficientnet_lite0", "image", dataset.classes)
    items = [str(p.relative_to(image_folder)) for p in dataset.items]
    table = tmp_path / "groups.csv"
    pd.DataFrame({"item": items, "group": ["day", "night"] * 9}).to_csv(table, index=False)
    with pytest.warns(UserWarning, match="fewer than 43 items: day \\(9\\), night \\(9\\)"):
        fairness = evaluate_model(model, image_folder, groups=table)["fairness"]
    assert {name: g["count"] for name, g in fairness["groups"].items()} == {"day": 9, "night": 9}

    pd.DataFrame({"item": items[1:], "group": "day"}).to_csv(table, index=False)
    with pytest.raises(SmallfitError, match=r"1 item\(s\) of .* are not in"):
        evaluate_model(model, image_folder, groups=table)
