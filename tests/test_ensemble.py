"""Greedy ensembles of the candidates, the ensemble model directory, and distillation."""

import numpy as np
import pandas as pd
import pytest

import smallfit
from smallfit.errors import SmallfitError
from smallfit.fitting import combine as combining
from smallfit.fitting.candidates import Candidate
from smallfit.fitting.combine import blend, combine, resampled, select
from smallfit.modalities.reading import read_source
from smallfit.model import Model
from smallfit.strategies.ensemble import Ensemble
from tests.cli_runner import run


def member_probas(y: np.ndarray, right: np.ndarray, confidence: float, n_classes: int = 3):
    """(1, n, C) probabilities: `confidence` on the true class where `right`, else on the next."""
    predicted = np.where(right, y, (y + 1) % n_classes)
    proba = np.full((len(y), n_classes), (1 - confidence) / (n_classes - 1))
    proba[np.arange(len(y)), predicted] = confidence
    return proba[None]


def scored(label):
    return Candidate("probe", {"class_weight": None}, "minilm", title=label)


def test_selection_keeps_the_better_member_and_leaves_out_a_useless_one():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    probas = {
        "good": member_probas(y, rng.random(300) < 0.9, 0.7),
        "bad": member_probas(y, rng.random(300) < 0.3, 0.9),
    }
    weights = select(probas, y, np.arange(300))
    assert weights == {"good": 1.0}
    choice = combine([scored("good"), scored("bad")], probas, y, "good", seed=0)
    assert choice.candidate.label == "good" and "kept it alone" in choice.why
    # picking one of two, judged on left-out items, scores about its 90%, below the optimistic
    assert 0.85 < choice.honest["value"] < 0.95
    assert choice.honest["low"] < choice.honest["value"] < choice.honest["high"]


def test_complementary_members_are_blended_and_the_ensemble_wins_on_left_out_items():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 400)
    half = np.arange(400) < 200
    # each member is sure and right on its own half, unsure (and wrong) on the other
    first = np.where(half[None, :, None], member_probas(y, half, 0.9), member_probas(y, half, 0.4))
    second = np.where(
        half[None, :, None], member_probas(y, ~half, 0.4), member_probas(y, ~half, 0.9)
    )
    probas = {"first": first, "second": second}
    weights = select(probas, y, np.arange(400))
    assert set(weights) == {"first", "second"} and abs(sum(weights.values()) - 1) < 1e-9
    blended = blend(probas, weights)
    assert (blended[0].argmax(1) == y).mean() > 0.95
    runs = resampled(probas, y, seed=0)
    assert runs["ensemble"].mean() > 0.9 > 0.6 > runs["best_single"].mean()
    choice = combine([scored("first"), scored("second")], probas, y, "first", seed=0)
    assert choice.candidate.strategy == "ensemble" and choice.record["kept"]
    assert choice.honest["value"] == pytest.approx(runs["ensemble"].mean(), abs=1e-6)
    assert choice.why.startswith("an ensemble of first x0.")


def test_members_erring_apart_are_averaged_when_that_beats_choosing():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 300)
    # three equally good members whose errors are independent: their average votes 2 to 1
    probas = {f"m{k}": member_probas(y, rng.random(300) < 0.7, 0.6) for k in range(3)}
    runs = resampled(probas, y, seed=0)
    assert runs["average"].mean() > runs["best_single"].mean() + 0.04
    choice = combine([scored(label) for label in probas], probas, y, "m0", seed=0)
    kept = choice.record["combination"]
    resampled_scores = choice.record["scores"]["resampled"]
    assert resampled_scores[kept]["value"] == max(
        resampled_scores[name]["value"] for name in ("average", "ensemble", "best_single")
    )
    assert choice.honest == resampled_scores[kept] and choice.record["kept"]
    assert kept == "average" and choice.candidate.strategy == "ensemble"
    assert [m["weight"] for m in choice.record["members"]] == [pytest.approx(1 / 3)] * 3
    assert "averaging the candidates better than guessing was the most accurate" in choice.why


def test_a_candidate_no_better_than_guessing_is_left_out_of_the_average():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 300)
    probas = {f"m{k}": member_probas(y, rng.random(300) < 0.7, 0.6) for k in range(3)}
    # sure of itself and right on a third: no better than always answering one class
    probas["guess"] = member_probas(y, rng.random(300) < 0.3, 0.95)
    runs = resampled(probas, y, seed=0)
    with_guess = blend(probas, dict.fromkeys(probas, 0.25))[0].argmax(1) == y
    assert runs["average"].mean() > with_guess.mean() + 0.05
    choice = combine([scored(label) for label in probas], probas, y, "m0", seed=0)
    assert choice.record["not_averaged"]["candidates"] == ["guess"]
    assert choice.record["combination"] == "average"
    assert {m["candidate"] for m in choice.record["members"]} == {"m0", "m1", "m2"}


def test_a_warning_says_when_no_candidate_beats_answering_the_most_frequent_class():
    rng = np.random.default_rng(4)
    y = np.repeat([0, 1], [60, 40])  # guessing class 0 is right on 60%
    probas = {f"m{k}": member_probas(y, rng.random(100) < 0.5, 0.6, 2) for k in range(2)}
    with pytest.warns(UserWarning, match=r"No candidate was more accurate than always .*0\.600"):
        combine([scored(label) for label in probas], probas, y, "m0", seed=0)


def test_an_over_confident_candidate_is_softened_so_it_no_longer_outvotes_the_others():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 300)
    # two modest members erring apart, and a weaker one sure of every answer
    probas = {f"m{k}": member_probas(y, rng.random(300) < 0.75, 0.6) for k in range(2)}
    probas["sure"] = member_probas(y, rng.random(300) < 0.65, 0.99)
    temps = combining.temperatures(np.stack([p[0] for p in probas.values()]), y, np.arange(300))
    assert temps[0] == temps[1] == 1 and temps[2] > 2  # under-confident ones stay as they are
    plain = blend(probas, dict.fromkeys(probas, 1 / 3))[0].argmax(1) == y
    assert plain.mean() < 0.66  # the sure member decides nearly every vote
    choice = combine([scored(label) for label in probas], probas, y, "m0", seed=0)
    assert choice.record["combination"] == "average" and choice.honest["value"] > 0.78
    assert (choice.probas[0].argmax(1) == y).mean() > plain.mean() + 0.15
    assert [m["temperature"] for m in choice.record["members"]] == list(temps)
    assert choice.candidate.params["temperatures"] == list(temps)
    assert "sure x0.33 (softened, T=" in choice.why


def test_the_procedure_that_chooses_least_is_kept_unless_another_leads_by_a_standard_error():
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 0.03, 200)
    close = {"average": 0.80 + noise, "ensemble": 0.805 + noise, "best_single": 0.81 + noise}
    close["best_single"] = close["best_single"] + rng.normal(0, 0.03, 200)
    assert combining.within_one_error(close) == ("average", "best_single")
    far = close | {"best_single": 0.90 + noise + rng.normal(0, 0.03, 200)}
    assert combining.within_one_error(far) == ("best_single", "best_single")
    # a steady lead (the same on every resample) is no noise, however small
    steady = {"average": 0.80 + noise, "ensemble": 0.81 + noise, "best_single": 0.79 + noise}
    assert combining.within_one_error(steady) == ("ensemble", "ensemble")


def test_repeats_are_averaged_so_candidates_with_different_repeats_line_up():
    twice = np.array([[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [np.nan, np.nan]]] * 2)
    twice[1, 2] = [0.2, 0.8]
    mean = combining.over_repeats(twice)
    assert mean.shape == (1, 4, 2) and np.allclose(mean[0, 2], [0.4, 0.6])
    assert np.isnan(mean[0, 3]).all()  # never scored stays unscored


def test_an_ensemble_is_one_model_directory_that_loads_with_identical_probabilities(
    text_csv, tmp_path
):
    dataset = read_source(text_csv, labeled=True)
    members = [
        {"strategy": "probe", "params": {"random_state": 0}, "backbone": "minilm"},
        {"strategy": "classic", "params": {}, "backbone": None},
    ]
    fitted = Ensemble(members=members, weights=[0.7, 0.3]).fit(dataset)
    model = Model(fitted, None, "text", dataset.classes, {"note": "x"})
    model.save(tmp_path / "ensemble")
    assert sorted(p.name for p in (tmp_path / "ensemble").iterdir()) == [
        "metrics.json",
        "model.json",
        "report.html",
        "weights.safetensors",
    ]
    loaded = smallfit.load(tmp_path / "ensemble")
    texts = ["The bank cut rates.", "Whisk the cream.", "He scored a goal.", *dataset.items]
    np.testing.assert_array_equal(loaded.predict_proba(texts), model.predict_proba(texts))
    expected = 0.7 * fitted.members_[0].predict_proba(texts) + 0.3 * fitted.members_[
        1
    ].predict_proba(texts)
    np.testing.assert_allclose(loaded.predict_proba(texts), expected, rtol=1e-6)
    assert loaded.strategy.members == members

    softened = Ensemble(members=members, weights=[0.7, 0.3], temperatures=[1.0, 4.0])
    softened.fit(dataset)
    model = Model(softened, None, "text", dataset.classes, {})
    model.save(tmp_path / "softened")
    proba = smallfit.load(tmp_path / "softened").predict_proba(texts)
    classic = fitted.members_[1].predict_proba(texts) ** 0.25
    classic /= classic.sum(axis=1, keepdims=True)
    expected = 0.7 * fitted.members_[0].predict_proba(texts) + 0.3 * classic
    np.testing.assert_allclose(proba, expected, rtol=1e-5)
    with pytest.raises(NotImplementedError):  # soft voting cannot temper a member
        softened.as_sklearn()

    (encoder,) = loaded.encoders()  # the probe's MiniLM; classic reads no encoder
    assert loaded.reads() == "minilm"  # how `fit` and `serve` name what the model reads
    remembered = len(encoder._memo)
    with loaded.uncached():  # as `smallfit serve` predicts: a member's embeddings not kept
        loaded.predict_proba(["A sentence no test has embedded before."])
    assert len(encoder._memo) == remembered and encoder.use_cache


def test_the_default_fit_combines_and_a_kept_ensemble_is_saved(text_csv, tmp_path, monkeypatch):
    plain = smallfit.fit(text_csv, folds=3, learning_curve=False)
    record = plain.info["ensemble"]
    assert set(record["scores"]) == {"selected_and_scored_on_all", "resampled"}
    assert record["kept"] == (plain.strategy.name == "ensemble")
    honest = plain.metrics["honest"]
    assert honest["method"].startswith(
        f"the whole choice among {len(plain.info['candidates'])} candidates"
    )
    assert honest["low"] <= honest["value"] <= honest["high"] and plain.info["why"]
    # force the resampled check to favour a probe + classic blend: the plumbing must then
    # refit both members on all data and save them as one model
    weights = {"probe": 0.5, "classic": 0.5}
    monkeypatch.setattr(combining, "select", lambda probas, y, items: weights)
    real = combining.resampled  # its weights come from the patched select
    monkeypatch.setattr(
        combining,
        "resampled",
        lambda probas, y, seed, groups=None: (
            real(probas, y, seed)
            | {
                "ensemble": np.array([0.9, 1.0]),
                "best_single": np.array([0.5]),
                "average": np.array([0.5]),
            }
        ),
    )
    model = smallfit.fit(text_csv, folds=3, learning_curve=False)
    assert model.strategy.name == "ensemble" and model.info["ensemble"]["kept"]
    assert [m["strategy"] for m in model.strategy.members] == ["probe", "classic"]
    assert model.metrics["honest"]["value"] == pytest.approx(0.95)
    assert model.info["why"].startswith("an ensemble of probe x0.50, classic x0.50")
    model.save(tmp_path / "kept")
    loaded = smallfit.load(tmp_path / "kept")
    texts = ["Rates rose again.", "Bake it slowly."]
    np.testing.assert_array_equal(loaded.predict_proba(texts), model.predict_proba(texts))
    page = (tmp_path / "kept" / "report.html").read_text()
    assert page.count("in the ensemble x0.50") == 2 and ">chosen<" not in page
    assert "Estimated accuracy <b>95.0%" in page and "Why: An ensemble of probe" in page


def test_the_ensemble_strategy_cannot_be_chosen_by_name(text_csv):
    with pytest.raises(SmallfitError, match="made by `fit` from the compared candidates"):
        smallfit.fit(text_csv, strategy="ensemble")


@pytest.fixture(scope="module")
def text_teacher(text_csv):
    return smallfit.fit(text_csv, strategy="probe", learning_curve=False)


def test_distill_gives_a_loadable_student_that_keeps_the_teachers_accuracy(
    text_teacher, text_csv, tmp_path
):
    pool = tmp_path / "pool.csv"
    pd.DataFrame(
        {"text": ["The referee showed a red card.", "Roast the potatoes.", "Bonds rallied."]}
    ).to_csv(pool, index=False)
    text_teacher.save(tmp_path / "teacher")
    student = smallfit.distill(tmp_path / "teacher", text_csv, into="minilm", unlabeled=pool)
    record = student.info["distillation"]
    assert record["soft_labels"] == {"labeled": 18, "unlabeled": 3}
    check = record["check"]
    assert check["held_out"] == 6 and check["student_trained_on"] == 12 + 3
    assert check["student_accuracy"]["value"] >= 0.5
    assert check["agreement"] >= 0.5 and 0 < check["kept"] <= 1.5
    assert record["teacher"]["trained_on_this_data"] is True
    assert record["speed"]["student_seconds_per_item"] > 0
    student.save(tmp_path / "student")
    loaded = smallfit.load(tmp_path / "student")
    assert loaded.strategy.name == "probe" and loaded.backbone == "minilm"
    texts = ["Stocks slid on Monday.", "Knead the dough."]
    np.testing.assert_allclose(loaded.predict_proba(texts), student.predict_proba(texts))
    assert list(loaded.predict(texts)) == list(text_teacher.predict(texts))


def test_distill_from_the_command_line(text_teacher, text_csv, tmp_path):
    text_teacher.save(tmp_path / "teacher")
    code, output = run(
        "distill", tmp_path / "teacher", text_csv, "--into", "probe", "--out", tmp_path / "s"
    )
    assert code == 0, output
    assert "keeps" in output and "agrees" in output and "cross-validated accuracy" in output
    assert (tmp_path / "s" / "model.json").is_file()
    code, output = run(
        "distill", tmp_path / "teacher", text_csv, "--into", "probe", "--out", tmp_path / "s"
    )
    assert code == 2 and "already exists" in output


def test_distill_refuses_bad_input(text_teacher, text_csv, image_folder, tmp_path):
    with pytest.raises(SmallfitError, match="--into efficientnet_lite0 embeds images but the"):
        smallfit.distill(text_teacher, text_csv, into="efficientnet_lite0")
    with pytest.raises(SmallfitError, match="holds images but the teacher classifies texts"):
        smallfit.distill(text_teacher, image_folder, into="minilm")
    with pytest.raises(SmallfitError, match="Unknown backbone 'nosuch'"):
        smallfit.distill(text_teacher, text_csv, into="nosuch")
    with pytest.raises(SmallfitError, match="labels the teacher does not know: weather"):
        smallfit.distill(text_teacher, ["Rain today.", "Sunny."], ["weather", "weather"])
    with pytest.raises(SmallfitError, match="too small to check the student"):
        smallfit.distill(
            text_teacher, ["Goal!", "Bake it.", "Rates up."], ["sport", "cooking", "finance"]
        )
    with pytest.raises(SmallfitError, match="holds images but the labeled data holds texts"):
        smallfit.distill(text_teacher, text_csv, into="minilm", unlabeled=image_folder)
    text_teacher.save(tmp_path / "teacher")
    code, output = run(
        "distill", tmp_path / "teacher", text_csv, "--into", "probe", "--out", tmp_path / "teacher"
    )
    assert code == 2 and "would replace the teacher" in output


def test_the_candidate_a_selection_keeps_alone_is_the_one_refit(text_csv, monkeypatch):
    """Every resample's selection keeping one candidate that is not the leaderboard's most
    accurate: the model, its estimate and the sentence on why must all be that one."""
    monkeypatch.setattr(combining, "select", lambda probas, y, items: {"classic": 1.0})
    real = combining.resampled
    monkeypatch.setattr(
        combining,
        "resampled",
        lambda probas, y, seed, groups=None: (
            real(probas, y, seed) | {"ensemble": np.array([1.0]), "average": np.array([0.5])}
        ),
    )
    model = smallfit.fit(text_csv, strategy=None, folds=3, learning_curve=False)
    assert model.info["why"].startswith("classic: the selected ensemble kept it alone")
    assert model.strategy.name == "classic"
    assert model.metrics["honest"]["value"] == pytest.approx(1.0)
