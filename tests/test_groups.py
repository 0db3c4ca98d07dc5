"""Grouped cross-validation: items that share a patient or a speaker stay in one fold,
so the estimate describes groups the model never saw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import smallfit
from smallfit.errors import SmallfitError
from smallfit.evaluate import make_splits
from tests.cli_runner import run


def test_group_folds_never_split_a_group_and_repeat_with_new_partitions():
    y = np.repeat([0, 1, 2], 12)
    groups = np.array([f"{c}-{i % 4}" for i, c in enumerate(y)], dtype=object)
    splits = make_splits(y, repeats=2, groups=groups)
    assert splits.folds == 4  # each class has 4 groups
    assert len(splits.pairs) == 8
    for train, test in splits.pairs:
        assert not set(groups[train]) & set(groups[test])
    tested = [
        np.sort(np.concatenate([te for _, te in splits.pairs[r * 4 : r * 4 + 4]])) for r in (0, 1)
    ]
    assert all(np.array_equal(t, np.arange(36)) for t in tested)  # each repeat tests all
    first = [set(groups[te]) for _, te in splits.pairs[:4]]
    second = [set(groups[te]) for _, te in splits.pairs[4:]]
    assert first != second


def test_leave_one_group_out_and_single_group_classes():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    groups = np.array(["a", "a", "b", "b", "c", "c", "d", "e", "f", "f"], dtype=object)
    with pytest.warns(UserWarning, match=r"1 class\(es\) \(z\) have a single group"):
        splits = make_splits(y, loocv=True, groups=groups, classes=["x", "y", "z"])
    assert [sorted(set(groups[te])) for _, te in splits.pairs] == [
        ["a"],
        ["b"],
        ["c"],
        ["d"],
        ["e"],
    ]
    assert not splits.scored[8:].any()  # class z is always trained on, never scored
    with (
        pytest.raises(SmallfitError, match="smallest class has 2 groups"),
        pytest.warns(UserWarning, match="single group"),
    ):
        make_splits(y, folds=3, groups=groups)


def leaky_table(path, n_groups: int = 20, per_group: int = 4):
    """Each patient's rows sit close together and share one random label: a model can
    recognise a patient it has seen, but nothing predicts a new patient's label."""
    rng = np.random.default_rng(0)
    rows = []
    for g in range(n_groups):
        centre = rng.normal(size=2) * 3
        label = ("no", "yes")[g % 2]
        for _ in range(per_group):
            a, b = centre + rng.normal(size=2) * 0.05
            rows.append({"a": a, "b": b, "patient": f"p{g:02d}", "label": label})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_group_column_gives_an_honest_estimate_for_new_groups(tmp_path):
    table = leaky_table(tmp_path / "scans.csv")
    leaky = smallfit.fit(table, strategy="knn")
    grouped = smallfit.fit(table, strategy="knn", group_column="patient")
    assert leaky.metrics["accuracy"]["value"] > 0.9  # a seen patient is recognised
    assert grouped.metrics["accuracy"]["value"] < 0.75  # a new one is a coin flip
    assert grouped.info["settings"]["groups"] == 20
    assert "patient" not in grouped.info["input"]["column_types"]  # not a feature
    rows = pd.read_csv(table)[["a", "b"]]  # predicting needs no group column
    assert grouped.predict_proba(rows).shape == (80, 2)


def test_fit_command_says_the_folds_kept_groups_together(tmp_path):
    table = leaky_table(tmp_path / "scans.csv")
    code, output = run(
        "fit", table, "--strategy", "knn", "--group-column", "patient", "--out", tmp_path / "m"
    )
    assert code == 0, output
    assert "kept each group's items together (20 groups)" in " ".join(output.split())


def test_groups_table_for_a_folder_and_clear_errors(tmp_path, image_folder):
    files = sorted(p.relative_to(image_folder) for p in image_folder.rglob("*.png"))
    pd.DataFrame({"item": files, "camera": [f"c{i % 3}" for i in range(len(files))]}).to_csv(
        tmp_path / "cameras.csv", index=False
    )
    model = smallfit.fit(
        image_folder,
        strategy="prototype",
        groups=tmp_path / "cameras.csv",
        group_column="camera",
    )
    assert model.info["settings"]["groups"] == 3
    with pytest.raises(SmallfitError, match="is not a table, so it has no column 'camera'"):
        smallfit.fit(image_folder, group_column="camera")
    pd.DataFrame({"item": files[:-1], "group": "g"}).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(SmallfitError, match=r"1 item\(s\) of .* are not in .*short.csv"):
        smallfit.fit(image_folder, groups=tmp_path / "short.csv")


def test_a_search_keeps_groups_together_in_its_folds_and_its_holdout(tmp_path):
    from smallfit.evaluate.selection import outer_split

    y = np.repeat([0, 1], 250)
    groups = np.array([f"{c}-{i % 25}" for i, c in enumerate(y)], dtype=object)
    search, holdout = outer_split(y, 0, groups)
    assert not set(groups[search]) & set(groups[holdout])
    assert 0.15 < len(holdout) / len(y) < 0.25 and set(y[holdout]) == {0, 1}
    few = np.array([f"{c}-{i % 5}" for i, c in enumerate(y)], dtype=object)
    assert outer_split(y, 0, few) is None  # 5 groups a class: too few to hold some out

    table = leaky_table(tmp_path / "scans.csv")
    grouped = smallfit.fit(table, group_column="patient", preset="fast", time_budget=15)
    assert grouped.info["settings"]["groups"] == 20
    assert grouped.metrics["honest"]["value"] < 0.75  # a new patient is a coin flip


def test_missing_group_value_names_the_row(tmp_path):
    table = leaky_table(tmp_path / "scans.csv")
    frame = pd.read_csv(table)
    frame.loc[6, "patient"] = None
    frame.to_csv(table, index=False)
    with pytest.raises(
        SmallfitError,
        match=r"1 row\(s\) of .*scans.csv have no value in column 'patient':\n.*row 8",
    ):
        smallfit.fit(table, strategy="knn", group_column="patient")


def test_intervals_resample_whole_groups():
    from smallfit.evaluate.metrics import accuracy_interval, resampler

    groups = np.repeat(np.arange(10), 8)  # 10 speakers, 8 clips each
    draw = resampler(groups.size, groups)(np.random.default_rng(0))
    drawn, counts = np.unique(groups[draw], return_counts=True)
    assert draw.size % 8 == 0 and (counts % 8 == 0).all()  # whole groups, with replacement
    # a model right on every clip of 7 speakers and wrong on every clip of 3: the items
    # are 80 but the evidence is 10 speakers, so the grouped interval is much wider
    y = np.zeros(groups.size, dtype=int)
    probas = np.tile([[0.9, 0.1]], (groups.size, 1))
    probas[groups >= 7] = [0.1, 0.9]
    by_item = accuracy_interval(y, probas, random_state=0)
    by_group = accuracy_interval(y, probas, random_state=0, groups=groups)
    assert by_item["value"] == by_group["value"] == 0.7
    assert by_group["high"] - by_group["low"] > 1.8 * (by_item["high"] - by_item["low"])
