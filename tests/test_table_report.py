"""The report of a table model: its column summary (types, missing shares, ranges,
categories), per-column permutation importance measured on held-out rows (a planted
informative column ranks above pure noise; the same seed gives the same numbers), and
mistakes shown as rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import smallfit
from smallfit.evaluate.cv import make_splits
from smallfit.evaluate.importance import permutation_importance
from smallfit.modalities.reading import to_dataset
from smallfit.report import render_report
from smallfit.strategies import create
from tests.test_report import CHROMIUM, assert_self_contained, chromium, parse


def planted_table(rows: int = 60, seed: int = 0) -> pd.DataFrame:
    """Two classes told apart by `signal` alone; `noise`, `colour` and `flag` are random.
    Missing, of 60 rows: 3 signals (5%), 6 colours (10%), no noise."""
    rng = np.random.default_rng(seed)
    kind = np.array(["low", "high"] * (rows // 2))
    frame = pd.DataFrame(
        {
            "id": np.arange(rows),
            "signal": np.where(kind == "high", 2.0, 0.0) + rng.normal(0, 0.5, rows),
            "noise": rng.normal(0, 1, rows),
            "colour": rng.choice(["red", "blue", "green"], rows, p=[0.5, 0.3, 0.2]),
            "flag": rng.choice(["yes", "no"], rows),
            "kind": kind,
        }
    )
    frame["colour"] = frame["colour"].astype(object)
    frame.loc[frame.index.isin([1, 7, 13, 22, 40, 51]), "colour"] = None
    frame.loc[frame.index.isin([3, 30, 45]), "signal"] = np.nan
    return frame


@pytest.fixture(scope="module")
def table_model():
    return smallfit.fit(planted_table(), label_column="kind", strategy="classic", folds=3)


def test_the_column_summary_has_each_columns_type_missing_share_and_values(table_model):
    frame = planted_table()
    summary = {entry["column"]: entry for entry in table_model.info["data_summary"]}
    assert {c: e["type"] for c, e in summary.items()} == {
        "id": "identifier",
        "signal": "numeric",
        "noise": "numeric",
        "colour": "categorical",
        "flag": "boolean",
    }
    assert summary["signal"]["missing"] == 0.05 and summary["colour"]["missing"] == 0.1
    assert summary["noise"]["missing"] == 0.0
    signal = frame["signal"].dropna()
    assert summary["signal"]["median"] == pytest.approx(signal.median())
    assert summary["signal"]["min"] == pytest.approx(signal.min())
    assert summary["signal"]["max"] == pytest.approx(signal.max())
    colours = frame["colour"].value_counts()
    assert summary["colour"]["distinct"] == 3
    assert [c["value"] for c in summary["colour"]["common"]] == list(colours.index)
    assert summary["colour"]["common"][0]["share"] == pytest.approx(colours.iloc[0] / 60, abs=1e-4)
    assert summary["id"] == {"column": "id", "type": "identifier", "missing": 0.0, "distinct": 60}

    page = render_report(table_model)
    assert "Columns" in parse(page).headings
    assert "<td><b>signal</b></td><td>numeric</td><td>5.0%</td>" in page
    assert "<td><b>colour</b></td><td>categorical</td><td>10.0%</td>" in page
    assert "<td><b>noise</b></td><td>numeric</td><td>0.0%</td>" in page
    assert f"median {signal.median():.4g}" in page
    top = colours.index[0]
    assert f"3 distinct; most common: <code>{top}</code> {100 * colours.iloc[0] / 60:.1f}%" in page
    assert_self_contained(page)


def test_importance_ranks_the_planted_column_first_and_noise_near_zero(table_model):
    importance = table_model.info["importance"]
    ranked = [entry["column"] for entry in importance["columns"]]
    assert ranked[0] == "signal" and set(ranked) == {"signal", "noise", "colour", "flag"}
    drops = {entry["column"]: entry for entry in importance["columns"]}
    assert drops["signal"]["drop"] >= 0.25  # shuffling it leaves about chance (0.5)
    for useless in ("noise", "colour", "flag"):
        assert abs(drops[useless]["drop"]) <= 0.06
        assert drops[useless]["drop"] < drops["signal"]["drop"] - 2 * drops["signal"]["spread"]
    assert importance["folds"] == 3 and importance["rows"] == 60
    assert importance["baseline"] >= 0.85

    page = render_report(table_model)
    assert "Column importance" in parse(page).headings
    section = page[page.index('<section id="importance"') :]
    positions = [section.index(f"<b>{c}</b>") for c in ranked]
    assert positions == sorted(positions)  # largest drop first
    assert f"{100 * drops['signal']['drop']:+.1f} points" in section


def test_importance_is_held_out_seeded_and_bounded():
    dataset = to_dataset(planted_table(), labeled=True, label_column="kind")
    splits = make_splits(dataset.y, folds=3, random_state=0)
    model = create("classic")
    first = permutation_importance(model, dataset, None, splits, seed=4)
    again = permutation_importance(model, dataset, None, splits, seed=4)
    first.pop("seconds"), again.pop("seconds")
    assert first == again
    other = permutation_importance(model, dataset, None, splits, seed=5)
    assert other["columns"] != first["columns"]  # other shuffles, other numbers
    slow = permutation_importance(model, dataset, None, splits, fit_seconds=100.0)
    assert slow == {"skipped": "it would take about 300 s (at most 120 s, or the time left)"}
    small = smallfit.fit(planted_table(rows=20), label_column="kind", strategy="classic", folds=2)
    small.info["importance"] = slow
    assert "Not measured: it would take about 300 s" in render_report(small)


def test_images_and_texts_have_no_column_sections():
    texts = ["a good film", "a bad film", "great fun", "dull and long"] * 3
    model = smallfit.fit(texts, ["pos", "neg", "pos", "neg"] * 3, strategy="classic", folds=2)
    assert "data_summary" not in model.info and "importance" not in model.info
    headings = parse(render_report(model)).headings
    assert "Columns" not in headings and "Column importance" not in headings


def test_mistakes_are_shown_as_rows_of_cells(table_model):
    mistakes = table_model.info["examples"]["mistakes"]
    assert mistakes, "the planted table's noisy signal leaves some out-of-fold mistakes"
    first = mistakes[0]
    frame = planted_table()
    row = frame.iloc[int(first["item"].removeprefix("row ")) - 1]
    cells = dict(first["cells"])
    assert list(cells) == ["signal", "noise", "colour", "flag"]  # the id is left out
    assert cells["colour"] == ("–" if row["colour"] is None else row["colour"])
    assert cells["noise"] == f"{row['noise']:.6g}"
    page = render_report(table_model)
    section = page[page.index('<section id="mistakes"') :]
    assert f"<table class=row><tr><th>signal</th><td>{cells['signal']}</td></tr>" in section


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_chromium_renders_the_table_sections(table_model, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(render_report(table_model))
    dom = chromium("--dump-dom", path.resolve().as_uri(), tmp_path=tmp_path).stdout
    headings = parse(dom).headings
    assert headings.index("Columns") == headings.index("Data") + 1
    assert "Column importance" in headings
