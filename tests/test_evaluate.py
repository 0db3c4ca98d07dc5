"""Splits and metrics: numbers that can be checked by hand."""

import numpy as np
import pytest

from smallfit.evaluate import accuracy_interval, evaluate_probas, make_splits
from smallfit.evaluate.metrics import point_metrics


def onehot(indices, n_classes, confidence=1.0):
    proba = np.full((len(indices), n_classes), (1 - confidence) / (n_classes - 1))
    proba[np.arange(len(indices)), indices] = confidence
    return proba


def test_known_confusion_gives_known_metrics():
    y = np.array([0, 0, 0, 0, 1, 1])
    pred = np.array([0, 0, 0, 1, 1, 1])
    values = point_metrics(y, onehot(pred, 2, 0.9), 2)
    assert values["accuracy"] == pytest.approx(5 / 6)
    assert values["balanced_accuracy"] == pytest.approx((3 / 4 + 1) / 2)
    assert values["recall"].tolist() == pytest.approx([0.75, 1.0])
    assert values["precision"].tolist() == pytest.approx([1.0, 2 / 3])
    assert values["confusion"].tolist() == [[3, 1], [0, 2]]
    assert values["log_loss"] == pytest.approx(-(5 * np.log(0.9) + np.log(0.1)) / 6)
    # one confidence bin at 0.9 with 5/6 correct
    assert values["ece"] == pytest.approx(abs(5 / 6 - 0.9))


def test_intervals_bracket_the_value_and_shrink_with_more_data():
    rng = np.random.default_rng(0)
    widths = []
    for n in (50, 2000):
        y = rng.integers(0, 3, n)
        pred = np.where(rng.random(n) < 0.8, y, (y + 1) % 3)
        result = evaluate_probas(y, onehot(pred, 3, 0.8), ["a", "b", "c"], n_bootstrap=300)
        accuracy = result["accuracy"]
        assert accuracy["low"] <= accuracy["value"] <= accuracy["high"]
        widths.append(accuracy["high"] - accuracy["low"])
    assert widths[1] < widths[0] / 3


def test_accuracy_interval_averages_repeats_and_skips_unscored_items():
    y = np.array([0, 1, 0, 1])
    probas = np.stack([onehot(np.array([0, 1, 1, 1]), 2), onehot(np.array([0, 1, 0, 0]), 2)])
    probas[:, 3] = np.nan  # item 3 never scored
    # item 0: right twice, item 1: right twice, item 2: right once of two -> (1 + 1 + 0.5) / 3
    assert accuracy_interval(y, probas)["value"] == pytest.approx(2.5 / 3)


def test_an_accuracy_of_every_item_right_keeps_an_interval_of_its_item_count():
    y = np.tile([0, 1], 15)
    perfect = accuracy_interval(y, np.eye(2)[y][None])
    assert perfect["value"] == perfect["high"] == 1.0
    assert 0.85 < perfect["low"] < 0.9  # Wilson's for 30 of 30, not the bootstrap's [1, 1]
    wider = accuracy_interval(np.tile(y, 4), np.eye(2)[np.tile(y, 4)][None])
    assert perfect["low"] < wider["low"] < 1.0


def test_splits_use_smallest_class_and_repeat_on_small_data():
    y = np.array([0] * 10 + [1] * 3)
    splits = make_splits(y)
    assert splits.folds == 3 and splits.repeats > 1
    for train, test in splits.pairs:
        assert set(np.unique(y[train])) == {0, 1}
        assert not set(train) & set(test)


@pytest.mark.parametrize(
    ("per_class", "classes", "folds", "repeats"),
    [(10, 10, 10, 2), (8, 8, 8, 3), (50, 10, 10, 1), (200, 10, 5, 1)],
)
def test_ten_folds_where_they_cost_no_more_fits_than_five(per_class, classes, folds, repeats):
    """10 folds train on 90% of the items; they take fewer repeats, so the fits never
    outnumber those of 5-fold repeated for about 1,000 predictions (at most 5 times)."""
    y = np.repeat(np.arange(classes), per_class)
    splits = make_splits(y)
    assert (splits.folds, splits.repeats) == (folds, repeats)
    five_fold_fits = 5 * min(5, -(-1000 // y.size))
    assert len(splits.pairs) <= five_fold_fits
    for repeat in range(repeats):  # each repeat scores every item once
        tests = [te for _, te in splits.pairs[repeat * folds : (repeat + 1) * folds]]
        assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(y.size))


def test_costly_candidates_get_the_first_partition_in_three_parts():
    y = np.repeat(np.arange(4), 12)
    splits = make_splits(y)
    coarse = splits.coarse()
    assert splits.folds == 10 and (coarse.folds, coarse.repeats, len(coarse.pairs)) == (3, 1, 3)
    first = splits.pairs[:10]
    for part, (train, test) in enumerate(coarse.pairs):
        merged = np.concatenate([fold_test for _, fold_test in first[part::3]])
        assert np.array_equal(test, np.sort(merged))  # folds part, part + 3, ... of repeat 1
        assert not set(train) & set(test) and len(train) + len(test) == y.size
        assert set(y[test]) == set(range(4))
    tested = np.sort(np.concatenate([test for _, test in coarse.pairs]))
    assert np.array_equal(tested, np.arange(y.size))
    assert len(splits.coarse(5).pairs) == 5  # column importance's five parts
    few = make_splits(np.repeat([0, 1], 3))  # three folds: left as they are
    assert few.coarse().pairs == few.pairs[:3]


def test_singleton_classes_are_always_trained_on_and_never_scored():
    y = np.array([0, 0, 0, 1, 1, 1, 2])
    with pytest.warns(UserWarning, match="single example"):
        splits = make_splits(y)
    assert not splits.scored[6]
    assert all(6 in train and 6 not in test for train, test in splits.pairs)


def test_leave_one_out_tests_each_item_once():
    y = np.array([0, 0, 1, 1, 1])
    splits = make_splits(y, loocv=True)
    tested = sorted(int(test[0]) for _, test in splits.pairs)
    assert tested == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("n_classes", [2, 4])
def test_roc_auc_matches_scikit_learn(n_classes):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    y = rng.integers(0, n_classes, 300)
    proba = rng.dirichlet(np.ones(n_classes), 300)
    proba[np.arange(300), y] += 0.3 * rng.random(300)
    proba = np.round(proba / proba.sum(axis=1, keepdims=True), 2)  # ties included
    ours = point_metrics(y, proba, n_classes)["roc_auc"]
    if n_classes == 2:
        expected = roc_auc_score(y, proba[:, 1])
    else:
        expected = np.mean([roc_auc_score(y == c, proba[:, c]) for c in range(n_classes)])
    assert ours == pytest.approx(expected, abs=1e-9)
