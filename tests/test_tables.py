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
    # 3 folds, no learning curve: this test is about the columns and the commands after fit
    code, output = run(
        "fit",
        table_csv,
        "--label-column",
        "kind",
        "--folds",
        "3",
        "--no-learning-curve",
        "--out",
        tmp_path / "m",
    )
    assert code == 0, output
    assert "Columns: height numeric, colour categorical, indoor boolean" in " ".join(output.split())
    assert "left out: plant_id (identifier)" in " ".join(output.split())
    new = tmp_path / "new.csv"
    make_table(2, seed=3).drop(columns=["kind"]).to_csv(new, index=False)
    before = new.read_bytes()
    code, output = run("predict", tmp_path / "m", new, "--output", tmp_path / "p.csv")
    assert code == 0, output
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert len(predicted) == 6 and new.read_bytes() == before
    # each prediction names its row's line in the file, so it joins back to the row
    assert [item.split(":")[0] for item in predicted["item"]] == [f"row {i}" for i in range(2, 8)]
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
    code, output = run(
        "doctor", table_csv, "--label-column", "kind", "--output", tmp_path / "findings.csv"
    )
    assert code == 0 and "rows' own features" in " ".join(output.split()), output
    assert (tmp_path / "findings.csv").exists()


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
        code, output = run(
            "fit", path, "--label-column", "kind", "--strategy", "knn", "--out", tmp_path / "m"
        )
    assert code == 0, output


# -- the doctor on a table ---------------------------------------------------------------
def _with_a_leak(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """`frame` with height and note shuffled (so no column but the leak separates the
    kinds) and `id2`, a code per kind known only once the kind is (fern 1xx, cactus 2xx)."""
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    for column in ("height", "note"):
        frame[column] = rng.permutation(frame[column].to_numpy())
    codes = {"fern": 100, "cactus": 200, "palm": 300}
    frame["id2"] = [codes[k] + int(rng.integers(0, 50)) for k in frame["kind"]]
    return frame


@pytest.fixture(scope="module")
def planted_table(tmp_path_factory):
    """A table (rows 2-37 of its CSV) with a copy of row 5 as row 38 (another plant_id), a
    copy of row 9 labeled otherwise as row 39, and the leaky column id2; and a test table
    holding training rows 2 and 3, row 12 with its height retyped, and three new rows."""
    root = tmp_path_factory.mktemp("planted_table")
    frame = _with_a_leak(make_table(12, seed=0), seed=1)
    other = "palm" if frame.loc[7, "kind"] != "palm" else "fern"
    copy, conflicting = frame.iloc[[3]], frame.iloc[[7]].assign(kind=other)
    copies = [copy.assign(plant_id=2000), conflicting.assign(plant_id=2001)]
    pd.concat([frame, *copies], ignore_index=True).to_csv(root / "train.csv", index=False)
    retyped = frame.iloc[[10]].assign(height=frame.loc[10, "height"] + 0.3)
    assert not np.isnan(retyped["height"].iloc[0])
    new = _with_a_leak(make_table(1, seed=7), seed=2)
    test = pd.concat([frame.iloc[[0, 1]], retyped, new], ignore_index=True)
    test.to_csv(root / "test.csv", index=False)
    with pytest.warns(UserWarning, match="column\\(s\\) kind were not in the training table"):
        findings = smallfit.doctor(root / "train.csv", label_column="kind", test=root / "test.csv")
    return root, findings


def _items(findings: pd.DataFrame, kind: str) -> list[list[str]]:
    return list(findings.loc[findings["kind"] == kind, "items"])


def test_the_doctor_names_copied_and_conflicting_rows_of_a_table(planted_table):
    _, findings = planted_table
    assert _items(findings, "exact_duplicate") == [["row 5", "row 38"]]
    assert _items(findings, "conflicting_labels") == [["row 9", "row 39"]]
    assert ["row 39"] in _items(findings, "label_issue")


def test_the_doctor_finds_test_rows_copied_from_training_rows(planted_table):
    _, findings = planted_table
    leaks = _items(findings, "leakage")
    assert ["row 2", "row 2"] in leaks and ["row 3", "row 3"] in leaks  # identical
    assert ["row 12", "row 4"] in leaks  # its height retyped
    assert len(leaks) == 3  # the new rows are not copies
    detail = findings.loc[findings["kind"] == "leakage", "detail"].iloc[0]
    assert "train.csv" in detail and "test.csv" in detail


def test_the_doctor_names_a_column_that_alone_predicts_the_label(planted_table):
    _, findings = planted_table
    leaky = findings[findings["kind"] == "leaky_column"]
    assert list(leaky["items"]) == [["id2"]]
    detail = leaky["detail"].iloc[0]
    assert "column `id2` of " in detail
    assert "train.csv alone predicts the label: 100% cross-validated" in detail
    assert "known only after the label" in leaky["suggestion"].iloc[0]
    assert "leaky_columns" in findings.attrs["notes"]


def test_a_clean_table_has_no_leak_nor_copies(table_csv):
    findings = smallfit.doctor(table_csv, label_column="kind")
    kinds = set(findings["kind"])
    assert not kinds & {"leaky_column", "exact_duplicate", "conflicting_labels", "near_duplicate"}


def test_the_cli_writes_a_table_s_findings_and_pairs_page(planted_table, tmp_path):
    root, _ = planted_table
    before = (root / "train.csv").read_bytes()
    code, output = run(
        "doctor",
        root / "train.csv",
        "--label-column",
        "kind",
        "--test",
        root / "test.csv",
        "--output",
        tmp_path / "findings.csv",
        "--html",
        tmp_path / "pairs.html",
    )
    assert code == 0, output
    written = pd.read_csv(tmp_path / "findings.csv")
    assert {"exact_duplicate", "conflicting_labels", "leakage", "leaky_column"} <= set(
        written["kind"]
    )
    assert json.loads(written.loc[written["kind"] == "leaky_column", "items"].iloc[0]) == ["id2"]
    page = (tmp_path / "pairs.html").read_text()
    assert "<b>row 38</b>" in page and "<th>id2</th>" in page
    assert (root / "train.csv").read_bytes() == before
