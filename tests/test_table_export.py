"""ONNX export of table models: ONNX Runtime, fed one input per column, gives the
model's probabilities (missing values and unseen categories included); what cannot be
exported is refused, saying why and what can."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from smallfit import strategies
from smallfit.errors import SmallfitError
from smallfit.export import export_onnx, session
from smallfit.modalities.columns import rows_of
from smallfit.modalities.reading import to_dataset
from smallfit.modalities.table_onnx import refusal
from smallfit.model import Model
from tests.cli_runner import run
from tests.conftest import make_table

TOLERANCE = 1e-4
COLUMNS = ["height", "colour", "indoor"]  # what the graph takes; plant_id is left out


def plants(per_class: int, seed: int, dates: bool = False) -> pd.DataFrame:
    """make_table's plants without the free-text note (and the date unless asked)."""
    frame = make_table(per_class, seed).drop(columns=["note"])
    return frame if dates else frame.drop(columns=["bought"])


def fitted(name: str, frame: pd.DataFrame, **params) -> Model:
    dataset = to_dataset(frame, labeled=True, label_column="kind")
    strategy = strategies.create(name, **params).fit(dataset, None)
    schema = {"input": {"column_types": dict(dataset.items[0].types)}}
    return Model(strategy, None, "table", dataset.classes, schema)


def new_rows(types: dict) -> list:
    """Rows never seen, with a missing number, a missing and an unseen category and a
    missing flag."""
    frame = plants(4, seed=9).drop(columns=["kind"])
    frame["colour"] = frame["colour"].astype(object)
    frame.loc[0, "colour"] = "purple"
    frame.loc[1, "height"] = np.nan
    frame.loc[2, "indoor"] = None
    frame.loc[3, "colour"] = None
    return rows_of(frame, types)


def graph_inputs(rows: list, columns: dict[str, str]) -> dict[str, np.ndarray]:
    """The documented inputs, built with numpy alone: one (rows, 1) array per column,
    NaN for a missing number or flag, "(missing)" for a missing category."""
    inputs = {}
    for column, kind in columns.items():
        if kind == "float64":
            values = [np.nan if r[column] is None else float(r[column]) for r in rows]
            inputs[column] = np.array(values, dtype=np.float64).reshape(-1, 1)
        else:
            values = ["(missing)" if r[column] is None else str(r[column]) for r in rows]
            inputs[column] = np.array(values, dtype=object).reshape(-1, 1)
    return inputs


ENSEMBLE = {
    "members": [
        {"strategy": "classic", "params": {}, "backbone": None},
        {"strategy": "forest", "params": {"trees": 50}, "backbone": None},
        {"strategy": "boosting", "params": {"rounds": 50}, "backbone": None},
        {"strategy": "mlp", "params": {}, "backbone": None},
    ],
    "weights": [0.4, 0.3, 0.2, 0.1],
}


@pytest.mark.parametrize(
    "name,params",
    [("classic", {}), ("forest", {}), ("boosting", {}), ("mlp", {}), ("ensemble", ENSEMBLE)],
)
def test_onnx_runtime_gives_the_table_models_probabilities(name, params, tmp_path):
    model = fitted(name, plants(12, seed=0), **params)
    description = export_onnx(model, tmp_path / "onnx")
    assert description["inputs"] == COLUMNS
    assert description["classes"] == ["cactus", "fern", "palm"]
    columns = description["input"]["columns"]
    assert columns == {"height": "float64", "colour": "string", "indoor": "float64"}
    assert description["check"]["max_abs_difference_to_model"] <= TOLERANCE
    rows = new_rows(model.info["input"]["column_types"])
    graph = session(tmp_path / "onnx" / "model.onnx")
    got = graph.run(["probabilities"], graph_inputs(rows, columns))[0]
    expected = model.strategy.predict_proba(rows)
    assert got.shape == (12, 3)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert (expected[[0, 3]] > 0).all()  # the unseen and the missing colour are scored
    single = graph.run(["probabilities"], graph_inputs(rows[:1], columns))[0]
    assert np.abs(single - expected[:1]).max() <= TOLERANCE


def test_the_cli_exports_a_saved_table_model(tmp_path):
    model = fitted("forest", plants(8, seed=1), trees=30)
    model.save(tmp_path / "model")
    code, output = run("export", tmp_path / "model", "--format", "onnx")
    assert code == 0, output
    assert "ONNX Runtime matches the model within" in " ".join(output.split())
    described = json.loads((tmp_path / "model" / "onnx" / "model.onnx.json").read_text())
    assert described["strategy"] == "forest" and described["inputs"] == COLUMNS
    assert "(missing)" in described["input"]["missing"]


@pytest.mark.parametrize(
    "name,params,dates,message",
    [
        ("forest", {"trees": 20}, True, "its column 'bought' is a date column"),
        ("knn", {}, False, "The knn strategy cannot be exported to ONNX: rows at the same"),
        (
            "ensemble",
            {
                "members": [
                    {"strategy": "classic", "params": {}, "backbone": None},
                    {"strategy": "knn", "params": {}, "backbone": None},
                ],
                "weights": [0.5, 0.5],
            },
            False,
            "The knn strategy cannot be exported",
        ),
    ],
)
def test_what_cannot_be_exported_is_refused_with_why(name, params, dates, message, tmp_path):
    model = fitted(name, plants(8, seed=2, dates=dates), **params)
    model.save(tmp_path / "model")
    code, output = run("export", tmp_path / "model", "--format", "onnx")
    assert code == 2, output
    assert message in " ".join(output.split())
    assert not (tmp_path / "model" / "onnx").exists()
    assert not (tmp_path / "model" / "onnx.partial").exists()


def test_refusals_name_the_column_and_what_exports(tmp_path):
    assert "'note' is a free-text column" in refusal({"height": "numeric", "note": "text"})
    assert refusal({"height": "numeric", "colour": "categorical", "ok": "boolean"}) is None
    model = fitted("forest", plants(8, seed=2, dates=True), trees=20)
    with pytest.raises(SmallfitError, match="every column it learns from is numeric, boolean"):
        export_onnx(model, tmp_path / "onnx")
    with pytest.raises(SmallfitError, match="--int8 is for text models"):
        export_onnx(fitted("classic", plants(8, seed=2)), tmp_path / "onnx", int8=True)


@pytest.mark.parametrize("name", ["classic", "boosting"])
def test_a_two_class_table_exports_with_the_same_probabilities(name, tmp_path):
    from tests.test_table_report import planted_table

    frame = planted_table()
    dataset = to_dataset(frame, labeled=True, label_column="kind")
    model = Model(strategies.create(name).fit(dataset, None), None, "table", dataset.classes)
    description = export_onnx(model, tmp_path / "onnx")
    assert description["inputs"] == ["signal", "noise", "colour", "flag"]
    graph = session(tmp_path / "onnx" / "model.onnx")
    rows = dataset.items
    got = graph.run(["probabilities"], graph_inputs(rows, description["input"]["columns"]))[0]
    assert got.shape == (60, 2)
    assert np.abs(got - model.strategy.predict_proba(rows)).max() <= TOLERANCE
