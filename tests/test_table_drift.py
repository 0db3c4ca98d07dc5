"""Drift, suggestions and self-training on tables: a table model keeps its rows' own
features and a sample of its rows, tests each column, names the drifted ones, suggests
pool rows to label, and compares each candidate with its self-trained variant."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import smallfit
from smallfit.active import add_labels, suggest
from smallfit.modalities.table import TableModality
from smallfit.modalities.table_drift import column_tests
from smallfit.twosample import holm
from tests.cli_runner import run
from tests.conftest import make_table

COLUMNS = {"height", "colour", "indoor", "bought", "note"}  # plant_id is left out


@pytest.fixture(scope="module")
def table_model(table_csv, tmp_path_factory):
    model = smallfit.fit(table_csv, label_column="kind", folds=3, learning_curve=False)
    return model, model.save(tmp_path_factory.mktemp("table_model") / "model")


def test_holm_adjusts_p_values_by_their_rank():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5] and holm([0.9, 0.8]) == [1.0, 1.0]


def test_each_column_gets_its_test_and_its_missing_share():
    types = {"x": "numeric", "c": "categorical", "f": "boolean", "d": "date", "id": "identifier"}
    types |= {"gone": "numeric"}
    rng = np.random.default_rng(0)
    before = [
        {"x": float(v), "c": "a" if v > 0 else "b", "f": True, "d": "2024-01-05", "gone": 1.0}
        for v in rng.normal(size=200)
    ]
    after = [
        {"x": float(v) + 2, "c": "a", "f": None, "d": "2024-01-05"} for v in rng.normal(size=200)
    ]
    results = {r["column"]: r for r in column_tests(before, after, types)}
    assert set(results) == {"x", "c", "f", "d", "gone"}
    assert results["x"]["test"] == "Kolmogorov-Smirnov" and results["x"]["p_value"] < 1e-10
    assert results["c"]["test"] == "chi-square" and results["c"]["p_value"] < 1e-10
    assert results["f"]["missing_reference"] == 0 and results["f"]["missing_new"] == 1
    assert results["d"]["statistic"] == 0 and results["d"]["p_value"] == 1
    assert results["gone"]["statistic"] is None and results["gone"]["p_value"] < 1e-10


def test_drift_names_the_shifted_column_and_finds_none_in_alike_rows(table_model, tmp_path):
    model, _ = table_model
    assert model.reference.encoder["name"] == "own features"
    assert len(model.reference.sample) == len(model.reference) == 36
    alike = make_table(12, seed=5).drop(columns=["kind"])
    shifted = alike.assign(height=alike["height"] * 3)
    same = smallfit.drift(model, alike)
    assert {c["column"] for c in same["columns"]} == COLUMNS
    assert not same["drift"] and not any(c["drifted"] for c in same["columns"])
    assert min(c["p_adjusted"] for c in same["columns"]) >= 0.01
    moved = smallfit.drift(model, shifted)
    by_column = {c["column"]: c for c in moved["columns"]}
    assert moved["drift"] and [c for c, r in by_column.items() if r["drifted"]] == ["height"]
    assert by_column["height"]["test"].startswith("Kolmogorov-Smirnov")
    assert by_column["height"]["p_adjusted"] < 0.01 and by_column["height"]["statistic"] > 0.5
    assert "drifted column(s): height" in moved["summary"]
    gappy = alike.assign(colour=[None] * len(alike))
    missing = {c["column"]: c for c in smallfit.drift(model, gappy)["columns"]}["colour"]
    assert missing["missing_reference"] == 0 and missing["missing_new"] == 1 and missing["drifted"]


def test_a_saved_table_model_still_drifts_the_same(table_model, tmp_path):
    model, path = table_model
    loaded = smallfit.load(path)
    assert loaded.reference.sample == json.loads(json.dumps(model.reference.sample))
    np.testing.assert_array_equal(loaded.reference.embeddings, model.reference.embeddings)
    record = json.loads((path / "model.json").read_text())["reference"]
    assert record["encoder"]["name"] == "own features" and "sample" in record
    new = make_table(12, seed=5).drop(columns=["kind"])
    new["height"] *= 3
    before, after = smallfit.drift(model, new), smallfit.drift(loaded, new)
    assert after["columns"] == before["columns"] and after["p_value"] == before["p_value"]


def test_suggest_picks_pool_rows_and_add_labels_writes_a_new_table(
    table_model, table_csv, tmp_path
):
    _, path = table_model
    pool = tmp_path / "pool.csv"
    rows = make_table(5, seed=11).drop(columns=["kind"])
    rows["indoor"] = "yes"  # inferred constant in the pool alone; read as the model's boolean
    rows.to_csv(pool, index=False)
    picks = suggest(path, pool, n=4)
    assert len(picks) == 4 and picks["rank"].tolist() == [1, 2, 3, 4]
    items = [json.loads(item) for item in picks["item"]]
    assert all(set(item) == COLUMNS | {"plant_id"} and item["indoor"] is True for item in items)
    answers = tmp_path / "answers.csv"
    picks.assign(label=["fern", "palm", "", "fern"]).to_csv(answers, index=False)
    before = table_csv.read_bytes()
    with pytest.warns(UserWarning, match="1 of its 4 rows have no label"):
        summary = add_labels(answers, table_csv, tmp_path / "more.csv", label_column="kind")
    assert summary["added"] == 3 and table_csv.read_bytes() == before
    grown = pd.read_csv(tmp_path / "more.csv")
    assert len(grown) == 39 and grown["kind"].tail(3).tolist() == ["fern", "palm", "fern"]
    assert grown["plant_id"].tail(3).tolist() == [int(items[k]["plant_id"]) for k in (0, 1, 3)]
    assert smallfit.fit(tmp_path / "more.csv", label_column="kind", strategy="knn", folds=3)


def test_a_table_fit_with_a_pool_compares_self_trained_candidates(tmp_path, monkeypatch):
    # two of the default candidates, a linear and a neighbours one, keep the test quick:
    # every candidate gets its variant by the same rule
    monkeypatch.setattr(TableModality, "candidates", (("classic", {}), ("knn", {})))
    labeled, pool = tmp_path / "labeled.csv", tmp_path / "pool.csv"
    make_table(8, seed=0).drop(columns=["note"]).to_csv(labeled, index=False)  # no text: fast
    make_table(10, seed=21).drop(columns=["kind", "note"]).to_csv(pool, index=False)
    code, output = run(
        "fit", labeled, "--label-column", "kind", "--unlabeled", pool,
        "--folds", "3", "--out", tmp_path / "m",
    )  # fmt: skip
    assert code == 0, output
    record = json.loads((tmp_path / "m" / "model.json").read_text())
    labels = {row["candidate"] for row in record["candidates"]}
    assert labels == {"classic", "classic+self-training", "knn", "knn+self-training"}
    assert record["unlabeled"]["n_pool"] == 30
