"""Tables: column types, telling a table from texts, the whole fit / predict / evaluate /
serve path, and clear errors for bad tables."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import smallfit
from smallfit.api import evaluate_model
from smallfit.errors import SmallfitError
from smallfit.modalities.columns import column_types, infer_type, parse_column_types
from smallfit.modalities.reading import read_source, to_dataset
from smallfit.serve import create_app
from tests.cli_runner import run
from tests.conftest import make_table


@pytest.mark.parametrize(
    "values,name,expected",
    [
        ([1.5, 2.0, None, 4.25, 3.0], "height", "numeric"),
        (["3", "4", "?", "5", "4"], "rooms", "numeric"),  # "?" is a missing value
        (list(range(20)), "row", "identifier"),  # consecutive integers
        (list(range(100, 140, 2)), "customer_id", "identifier"),  # named as ids are
        (list(range(100, 140, 2)), "width", "numeric"),
        (["yes", "no", "No", None, "YES"], "indoor", "boolean"),
        (["red", "blue", "red", "red", "blue", "green"], "colour", "categorical"),
        (["2024-01-05", "2023-12-31", "2024-03-01", None], "bought", "date"),
        ([f"a note about plant {k} and its leaves" for k in range(8)], "note", "text"),
        ([f"A/{k}{k}7" for k in range(30)], "ticket", "identifier"),
        (["same"] * 5 + [None], "shop", "constant"),
        ([None, None, None], "empty", "constant"),
    ],
)
def test_each_column_type_is_inferred_from_its_values(values, name, expected):
    assert infer_type(pd.Series(values, name=name, dtype=object)) == expected


def test_a_column_of_numbers_and_words_is_refused_naming_its_odd_rows():
    ages = ["31", "44", "unknown", "27", "52", "n/a", "19", "60", "38", "41", "29", "33"]
    frame = pd.DataFrame({"age": ages, "x": [1] * 12})
    with pytest.raises(
        SmallfitError, match=r"(?s)Column 'age' of t.csv mixes numbers.*row 4: 'unknown'"
    ):
        column_types(frame, {}, "t.csv")
    assert column_types(frame, {"age": "categorical"}, "t.csv")["age"] == "categorical"


def test_column_types_are_read_and_checked():
    assert parse_column_types("zip=categorical, joined=date") == {
        "zip": "categorical",
        "joined": "date",
    }
    with pytest.raises(SmallfitError, match="'zip=postcode'.*numeric, categorical"):
        parse_column_types("zip=postcode")
    with pytest.raises(SmallfitError, match="names zap, not columns of t.csv"):
        column_types(pd.DataFrame({"zip": [1, 2]}), {"zap": "numeric"}, "t.csv")


def test_a_file_is_texts_with_one_column_or_a_named_text_beside_ids_else_a_table(tmp_path):
    path = tmp_path / "t.csv"
    texts = {"text": ["good film", "bad film", "fine film"], "label": ["a", "b", "a"]}
    pd.DataFrame(texts).to_csv(path, index=False)
    assert read_source(path, labeled=True).modality == "text"
    pd.DataFrame({"id": [7, 8, 9], **texts}).to_csv(path, index=False)
    assert read_source(path, labeled=True).modality == "text"  # an id column is no feature
    plants = make_table(4, seed=1)
    plants.to_csv(path, index=False)
    table = read_source(path, labeled=True, label_column="kind")
    assert table.modality == "table" and len(table) == 12 and table.names[0] == "row 2"
    assert table.items[0].types["plant_id"] == "identifier"
    assert read_source(path, labeled=True, label_column="kind", text_column="note").modality == (
        "text"
    )
    forced = read_source(path, labeled=True, label_column="kind", column_types={"height": "text"})
    assert forced.modality == "table" and forced.items[0].types["height"] == "text"


def test_a_table_fits_predicts_evaluates_saves_and_serves(table_csv, tmp_path):
    model = smallfit.fit(table_csv, label_column="kind", folds=3, learning_curve=False)
    assert model.modality == "table" and model.backbone is None
    assert {r["strategy"] for r in model.info["candidates"]} == {
        "classic",
        "forest",
        "boosting",
        "knn",
        "mlp",
    }
    types = model.info["input"]["column_types"]
    assert types["note"] == "text" and types["plant_id"] == "identifier"
    honest = model.metrics["honest"]
    assert honest["low"] < honest["value"] <= honest["high"] and honest["value"] >= 0.8

    test = make_table(10, seed=7)
    features = test.drop(columns=["kind"])
    features.loc[0, "colour"] = "purple"  # a category never seen in training
    accuracy = (model.predict(features) == test["kind"].to_numpy()).mean()
    assert accuracy >= 0.9
    model.save(tmp_path / "model")
    loaded = smallfit.load(tmp_path / "model")
    np.testing.assert_allclose(loaded.predict_proba(features), model.predict_proba(features))

    shuffled = features[list(reversed(features.columns))].assign(extra=1)
    with pytest.warns(UserWarning, match="column\\(s\\) extra were not in the training table"):
        reordered = loaded.predict_proba(shuffled)
    np.testing.assert_allclose(reordered, model.predict_proba(features))
    with pytest.raises(SmallfitError, match="lacks column\\(s\\) height"):
        loaded.predict(features.drop(columns=["height"]))
    metrics = evaluate_model(loaded, test, label_column="kind")
    assert metrics["accuracy"]["value"] == pytest.approx(accuracy)

    client = TestClient(create_app(loaded))
    rows = json.loads(features.head(2).to_json(orient="records"))
    answer = client.post("/predict", json={"rows": rows})
    assert answer.status_code == 200, answer.text
    assert [p["label"] for p in answer.json()["predictions"]] == list(model.predict(features[:2]))
    missing = client.post(
        "/predict", json={"rows": [{k: v for k, v in rows[0].items() if k != "height"}]}
    )
    assert missing.status_code == 422 and "height" in missing.text
    wrong = client.post("/predict", json={"rows": [rows[0] | {"height": "tall"}]})
    assert wrong.status_code == 422 and "height" in wrong.text


def test_the_cli_shows_the_column_types_and_predicts_a_table(table_csv, tmp_path):
    code, output = run("fit", table_csv, "--label-column", "kind", "--out", tmp_path / "m")
    assert code == 0, output
    assert "Columns: height numeric, colour categorical, indoor boolean" in " ".join(output.split())
    assert "left out: plant_id (identifier)" in " ".join(output.split())
    new = tmp_path / "new.csv"
    make_table(2, seed=3).drop(columns=["kind"]).to_csv(new, index=False)
    before = new.read_bytes()
    code, output = run("predict", tmp_path / "m", new, "--output", tmp_path / "p.csv")
    assert code == 0, output
    assert len(pd.read_csv(tmp_path / "p.csv")) == 6 and new.read_bytes() == before
    code, output = run("drift", tmp_path / "m", new, "--output", tmp_path / "d.json")
    assert code in (0, 1), output  # 0: no drift, 1: drift; not an error
    assert "Columns (p adjusted" in output and "height" in output, output
    report = json.loads((tmp_path / "d.json").read_text())
    tested = {c["column"] for c in report["columns"]}
    assert tested == {"height", "colour", "indoor", "bought", "note"}
    code, output = run("suggest", tmp_path / "m", new, "-n", "2", "--output", tmp_path / "s.csv")
    assert code == 0, output
    suggested = pd.read_csv(tmp_path / "s.csv")
    assert len(suggested) == 2 and all(json.loads(i)["colour"] for i in suggested["item"])
    assert new.read_bytes() == before
    code, output = run("doctor", table_csv, "--label-column", "kind")
    assert code == 2 and "does not examine tables yet" in output, output


@pytest.mark.parametrize(
    "frame,args,message",
    [
        (pd.DataFrame({"a": [1, 2], "b": [3, 4]}), [], "Cannot tell which column"),
        (
            make_table(3, 0).assign(kind="fern"),
            ["--label-column", "kind"],
            "fewer than two classes (found: fern)",
        ),
        (pd.DataFrame({"a": [], "kind": []}), ["--label-column", "kind"], "no rows"),
    ],
)
def test_a_bad_table_gets_one_clear_message_and_is_left_untouched(frame, args, message, tmp_path):
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    before = path.read_bytes()
    code, output = run("fit", path, *args, "--out", tmp_path / "m")
    assert code == 2, output
    assert message in " ".join(output.split())
    assert path.read_bytes() == before and not (tmp_path / "m").exists()


def test_a_table_wider_than_long_warns(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(8, 12)), columns=[f"x{k}" for k in range(12)])
    frame["kind"] = ["a", "b"] * 4
    with pytest.warns(UserWarning, match="more columns \\(12\\) than rows \\(8\\)"):
        to_dataset(frame, labeled=True, label_column="kind")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_dataset(frame.iloc[:, :5].assign(kind=frame["kind"]), labeled=True, label_column="kind")


def test_a_class_with_a_single_row_is_named_in_a_warning(tmp_path):
    frame = make_table(4, seed=0)
    frame = pd.concat([frame[frame.kind != "palm"], frame[frame.kind == "palm"].head(1)])
    path = tmp_path / "one_palm.csv"
    frame.to_csv(path, index=False)
    with pytest.warns(UserWarning, match=r"1 class\(es\) \(palm\) have a single example"):
        code, output = run("fit", path, "--label-column", "kind", "--out", tmp_path / "m")
    assert code == 0, output
