"""The small-data techniques (SMOTE, noise, bagging), LightGBM and text columns reduced
to their principal directions, on tables (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest

import smallfit
from smallfit import strategies
from smallfit.errors import SmallfitError
from smallfit.modalities.columns import Row
from smallfit.modalities.reading import to_dataset
from smallfit.modalities.table_features import TEXT_COMPONENTS, TableFeatures
from smallfit.strategies.small_data import NOISE_COPIES, augmented
from tests.conftest import make_table


def test_smote_evens_the_classes_and_leaves_even_or_single_row_classes_alone():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(30, 3))
    y = np.array([0] * 20 + [1] * 6 + [2] * 4)
    more, more_y = augmented(features, y, "smote", 0)
    assert np.bincount(more_y).tolist() == [20, 20, 20]
    np.testing.assert_array_equal(more[:30], features)  # the real rows come first, unchanged
    new = more[30:][more_y[30:] == 2]  # synthetic rows lie between rows of their class
    low, high = features[y == 2].min(axis=0), features[y == 2].max(axis=0)
    assert np.all((new >= low - 1e-9) & (new <= high + 1e-9))
    even = np.array([0, 1] * 15)
    assert augmented(features, even, "smote", 0)[0] is features
    single = np.array([0] * 29 + [1])
    assert augmented(features, single, "smote", 0)[0] is features


def test_noise_adds_jittered_copies_a_tenth_of_each_feature_s_spread():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(200, 2)) * [1.0, 50.0]
    y = rng.integers(0, 2, 200)
    more, more_y = augmented(features, y, "noise", 3)
    assert more.shape == (200 * (NOISE_COPIES + 1), 2)
    np.testing.assert_array_equal(more_y, np.tile(y, NOISE_COPIES + 1))
    jitter = (more[200:400] - features).std(axis=0)
    np.testing.assert_allclose(jitter, 0.1 * features.std(axis=0), rtol=0.15)
    np.testing.assert_array_equal(augmented(features, y, "noise", 3)[0], more)  # seeded


def test_a_bad_technique_is_refused_when_fit_starts():
    dataset = to_dataset(make_table(6, seed=0), labeled=True, label_column="kind")
    with pytest.raises(SmallfitError, match="augment"):
        strategies.create("knn", augment="mixup").fit(dataset, None)
    with pytest.raises(SmallfitError, match="engine"):
        strategies.create("boosting", engine="catboost").fit(dataset, None)


def test_a_text_column_becomes_at_most_its_principal_directions():
    rows = to_dataset(make_table(12, seed=0), labeled=True, label_column="kind").items
    features = TableFeatures().fit(rows[:30])
    assert features.texts_["note"].n_components_ == TEXT_COMPONENTS
    without_text = TableFeatures().fit([_without(row, "note") for row in rows[:30]])
    width = features.transform(rows[30:]).shape[1]
    assert width == without_text.transform([_without(r, "note") for r in rows[30:]]).shape[1] + 16
    small = TableFeatures().fit(rows[:5])  # fewer rows than directions: one per row at most
    assert small.texts_["note"].n_components_ == 5


def _without(row, column):
    values = {k: v for k, v in row.items() if k != column}
    return Row(values, {k: t for k, t in row.types.items() if k != column})


def test_the_full_candidates_try_each_technique_and_the_model_reloads(tmp_path):
    frame = make_table(10, seed=2).drop(columns=["note"])
    frame = frame[(frame["kind"] != "palm") | (frame.index % 2 == 0)]  # palms rarer
    model = smallfit.fit(
        frame, label_column="kind", candidates="full", folds=2, learning_curve=False, seed=1
    )
    tried = {row["candidate"]: row for row in model.info["candidates"]}
    assert {"knn[augment=smote]", "mlp[augment=noise]", "boosting[bagging=10]"} <= set(tried)
    assert all(row["accuracy"] for row in tried.values()), tried
    model.save(tmp_path / "m")
    test = make_table(5, seed=9).drop(columns=["kind", "note"])
    np.testing.assert_allclose(
        smallfit.load(tmp_path / "m").predict_proba(test), model.predict_proba(test)
    )


def test_lightgbm_boosting_splits_a_class_of_ten_and_reloads(tmp_path):
    pytest.importorskip("lightgbm")
    frame = make_table(10, seed=4).drop(columns=["note"])
    model = smallfit.fit(
        frame,
        label_column="kind",
        strategy="boosting",
        strategy_params={"boosting": {"engine": "lightgbm"}},
        folds=3,
        learning_curve=False,
    )
    assert model.metrics["accuracy"]["value"] >= 0.8  # its default leaves of 20 could not split
    model.save(tmp_path / "m")
    test = make_table(4, seed=5).drop(columns=["kind", "note"])
    np.testing.assert_allclose(
        smallfit.load(tmp_path / "m").predict_proba(test), model.predict_proba(test)
    )


def test_learners_run_their_native_code_on_one_thread(monkeypatch):
    from threadpoolctl import threadpool_info

    from smallfit.strategies import learners

    seen = []

    class Recording(learners.HistGradientBoostingClassifier):
        def fit(self, X, y):
            seen.append({pool["internal_api"]: pool["num_threads"] for pool in threadpool_info()})
            return super().fit(X, y)

        def predict_proba(self, X):
            seen.append({pool["internal_api"]: pool["num_threads"] for pool in threadpool_info()})
            return super().predict_proba(X)

    monkeypatch.setattr(learners, "HistGradientBoostingClassifier", Recording)
    dataset = to_dataset(
        make_table(6, seed=2).drop(columns=["note"]), labeled=True, label_column="kind"
    )
    boosting = strategies.create("boosting", rounds=20).fit(dataset, None)
    boosting.predict_proba(dataset.items)
    assert len(seen) == 2 and all(set(threads.values()) == {1} for threads in seen)
