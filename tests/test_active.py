"""Active learning: query strategies, `smallfit suggest`, and adding the answers."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression

import smallfit
from smallfit.active import QUERIES, Candidates, add_labels
from smallfit.errors import SmallfitError
from smallfit.numeric import normalise
from tests.cli_runner import run
from tests.conftest import COLOURS, TEXTS, make_image


def blobs(centres, per: int, spread: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit-length points around the given centres (in 8 dimensions), and their blob."""
    rng = np.random.default_rng(seed)
    centres = np.asarray(centres, dtype=float)
    points = np.vstack([c + rng.normal(0, spread, (per, centres.shape[1])) for c in centres])
    return normalise(points), np.repeat(np.arange(len(centres)), per)


def separated(k: int, per: int = 30, seed: int = 0):
    return blobs(np.eye(8)[:k] * 3, per, 0.05, seed)


def test_every_strategy_returns_n_distinct_pool_items_with_a_reason():
    pool, _ = separated(4, per=25)
    pool = np.vstack([pool, pool[:5], pool[:5]])  # exact duplicates must not be picked twice
    labeled, _ = separated(4, per=2, seed=1)
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3), len(pool))
    members = rng.dirichlet(np.ones(3), (5, len(pool)))
    candidates = Candidates(pool, labeled, ["a", "b", "c"], proba, members, seed=0)
    for name, query in QUERIES.items():
        tiny = Candidates(
            pool[:1].repeat(3, 0), pool[:1], ["a", "b", "c"], proba[:3], members[:, :3]
        )
        assert sorted(query.select(tiny, 3).rows.tolist()) == [0, 1, 2], name
        picks = query.select(candidates, 12)
        assert len(picks.rows) == len(set(picks.rows.tolist())) == 12, name
        assert picks.rows.min() >= 0 and picks.rows.max() < len(pool), name
        assert len(picks.scores) == len(picks.reasons) == 12 and all(picks.reasons), name
        again = query.select(candidates, 12)
        assert again.rows.tolist() == picks.rows.tolist(), f"{name} is not deterministic"


def test_margin_picks_the_items_nearest_the_decision_boundary():
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.normal(-2, 0.3, 20), rng.normal(2, 0.3, 20)])[:, None]
    y = np.repeat([0, 1], 20)
    model = LogisticRegression().fit(train, y)
    pool = np.linspace(-3, 3, 61)[:, None]  # the boundary is near 0
    proba = model.predict_proba(pool)
    c = Candidates(
        normalise(np.hstack([pool, np.ones_like(pool)])), np.zeros((0, 2)), ["neg", "pos"]
    )
    c.proba = proba
    picks = QUERIES["margin"].select(c, 4)
    assert np.abs(pool[picks.rows, 0]).max() <= 0.35
    assert np.all(np.diff(picks.scores) >= 0)  # smallest margin first
    assert picks.reasons[0].startswith("margin 0.0") and "between" in picks.reasons[0]
    for name in ("least-confidence", "entropy"):  # two classes: the same items
        assert set(QUERIES[name].select(c, 4).rows) == set(picks.rows)


def test_k_center_covers_far_away_clusters_before_the_crowded_labeled_one():
    pool, blob = blobs([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], 1, 0.0)
    crowd, _ = blobs([[3, 0, 0, 0]], 100, 0.3, seed=1)  # the crowd is near the labeled items
    pool = np.vstack([crowd, pool[1:]])
    labeled, _ = blobs([[3, 0, 0, 0]], 5, 0.05, seed=2)
    picks = QUERIES["kcenter"].select(Candidates(pool, labeled, []), 2)
    assert sorted(picks.rows.tolist()) == [100, 101]  # the two far points, not the crowd
    assert picks.scores[0] > 1.0


def test_cold_start_picks_one_per_cluster_of_well_separated_clusters():
    pool, blob = separated(6, per=30)
    picks = QUERIES["typiclust"].select(Candidates(pool, np.zeros((0, 8)), []), 6)
    assert sorted(blob[picks.rows].tolist()) == list(range(6))
    # typical, not outliers: each pick is nearer its blob's centre than the blob's median item
    for row in picks.rows:
        members = pool[blob == blob[row]]
        distances = np.linalg.norm(members - members.mean(axis=0), axis=1)
        assert np.linalg.norm(pool[row] - members.mean(axis=0)) <= np.median(distances)
    # with labels in 3 of the blobs, the next picks go to the other 3 first
    labeled, _ = separated(3, per=2, seed=3)
    picks = QUERIES["typiclust"].select(Candidates(pool, labeled, []), 3)
    assert sorted(blob[picks.rows].tolist()) == [3, 4, 5]


def test_hybrid_takes_one_item_per_cluster_and_the_uncertain_one_within_it():
    pool, blob = separated(5, per=30)
    proba = np.tile([0.95, 0.05], (len(pool), 1))
    uncertain = [7, 40, 71, 95, 130]  # one per blob
    proba[uncertain] = [0.55, 0.45]
    picks = QUERIES["hybrid"].select(Candidates(pool, np.zeros((0, 8)), ["x", "y"], proba), 5)
    assert sorted(picks.rows.tolist()) == uncertain
    assert "margin 0.10 between x and y" in picks.reasons[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, image_folder):
    """A probe on the colour images (4 of each class), saved, and the 2 held out per class."""
    root = tmp_path_factory.mktemp("active")
    train, held = root / "train", root / "held"
    for name in COLOURS:
        (train / name).mkdir(parents=True)
        (held / name).mkdir(parents=True)
        for k, path in enumerate(sorted((image_folder / name).iterdir())):
            (train if k < 4 else held).joinpath(name, path.name).write_bytes(path.read_bytes())
    model = smallfit.fit(train, strategy="probe")
    return model.save(root / "model"), train, held


def tree_digest(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_suggest_writes_the_csv_and_drops_training_items_from_the_pool(trained, tmp_path):
    model_dir, train, held = trained
    pool = tmp_path / "pool"
    pool.mkdir()
    for path in sorted(held.rglob("*.png")):
        (pool / path.name).write_bytes(path.read_bytes())
    copies = sorted(train.rglob("*.png"))[:2]
    for path in copies:  # the same pixels in another file format: other bytes, same embedding
        Image.open(path).save(pool / f"{path.stem}.bmp")
    output = tmp_path / "next.csv"
    with pytest.warns(UserWarning, match="2 of its 8 items are in the model's training data"):
        code, text = run(
            "suggest", model_dir, pool, "-n", 4, "--strategy", "margin", "--output", output
        )
    assert code == 0, text
    frame = pd.read_csv(output, keep_default_na=False)
    assert list(frame.columns) == ["item", "rank", "score", "strategy", "reason", "label"]
    assert frame["rank"].tolist() == [1, 2, 3, 4] and set(frame.strategy) == {"margin"}
    assert (frame.label == "").all() and frame.reason.str.startswith("margin ").all()
    assert not frame["item"].str.endswith(".bmp").any()
    assert frame.score.is_monotonic_increasing and frame.score.between(0, 1).all()
    with pytest.warns(UserWarning, match="2 of its 8 items"):
        code, text = run("suggest", model_dir, pool, "-n", 7, "--output", tmp_path / "b.csv")
    assert code == 2 and "-n 7 asks for more items than the pool" in text and "6 left" in text


def test_suggest_refuses_an_empty_pool_another_modality_and_misused_strategies(
    trained, text_csv, tmp_path
):
    model_dir, train, _ = trained
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SmallfitError, match="No images or sounds found"):
        smallfit.suggest(model_dir, empty)
    with pytest.raises(SmallfitError, match="holds texts but the labeled data holds images"):
        smallfit.suggest(model_dir, text_csv)
    with pytest.raises(SmallfitError, match="Unknown strategy 'uncertain'"):
        smallfit.suggest(model_dir, train, strategy="uncertain")
    with pytest.raises(SmallfitError, match="needs a model's predictions; a cold start"):
        smallfit.suggest(None, train, strategy="margin")
    with pytest.raises(SmallfitError, match="all 12 of its items are in the model's training"):
        smallfit.suggest(model_dir, train, n=1)
    classic = smallfit.fit(train, strategy="classic")
    with pytest.raises(SmallfitError, match="a classic model cannot do"):
        smallfit.suggest(classic, [make_image((90, 90, 90), 7)], n=1, strategy="committee")
    code, text = run("suggest", model_dir, "--output", tmp_path / "x.csv")
    assert code == 2 and "Give MODEL and POOL" in text


def test_committee_and_cold_start_on_texts(tmp_path):
    texts = [t for topic in ("sport", "cooking") for t in TEXTS[topic]]
    labels = [topic for topic in ("sport", "cooking") for _ in TEXTS[topic]]
    model = smallfit.fit(texts[:4] + texts[6:10], labels[:4] + labels[6:10], strategy="probe")
    pool = texts[4:6] + texts[10:] + TEXTS["finance"][:2]
    frame = smallfit.suggest(model, pool, n=3, strategy="committee")
    assert len(set(frame["item"])) == 3 and set(frame["item"]) <= set(pool)
    assert frame.reason.str.contains("fold models disagree").all()
    cold = smallfit.suggest(None, TEXTS["sport"] + TEXTS["finance"], n=2)
    assert set(cold.strategy) == {"typiclust"} and len(set(cold["item"])) == 2
    with pytest.raises(SmallfitError, match="-n 13 asks for more items than the pool"):
        smallfit.suggest(None, TEXTS["sport"] + TEXTS["finance"], n=13)


def test_add_labels_writes_a_new_folder_and_leaves_the_originals_unchanged(trained, tmp_path):
    _, train, held = trained
    before_train, before_held = tree_digest(train), tree_digest(held)
    picked = sorted(held.rglob("*.png"))[:3]
    answers = tmp_path / "next.csv"
    pd.DataFrame(
        {"item": [str(p) for p in picked], "rank": [1, 2, 3], "label": ["blue", "", "purple"]}
    ).to_csv(answers, index=False)
    before_answers = answers.read_bytes()
    into = tmp_path / "train2"
    with pytest.warns(UserWarning) as caught:
        code, text = run("add-labels", answers, "--data", train, "--into", into)
    assert code == 0, text
    messages = " ".join(str(w.message) for w in caught)
    assert "1 of its 3 rows have no label" in messages and "purple are not classes" in messages
    assert tree_digest(train) == before_train and tree_digest(held) == before_held
    assert answers.read_bytes() == before_answers
    written = tree_digest(into)
    assert len(written) == len(before_train) + 2
    assert written[f"blue/{picked[0].name}"] == before_held[str(picked[0].relative_to(held))]
    assert f"purple/{picked[2].name}" in written
    code, text = run("add-labels", answers, "--data", train, "--into", into)
    assert code == 2 and "already exists" in text


def test_add_labels_appends_rows_to_a_new_table(text_csv, tmp_path):
    before = text_csv.read_bytes()
    answers = tmp_path / "next.csv"
    pd.DataFrame(
        {
            "item": ["The bank cut rates.", TEXTS["sport"][0], "Knead the dough."],
            "label": ["finance", "sport", "cooking"],
        }
    ).to_csv(answers, index=False)
    into = tmp_path / "more.csv"
    with pytest.warns(UserWarning, match="1 labeled item"):
        summary = add_labels(answers, text_csv, into)
    assert text_csv.read_bytes() == before
    assert summary["added"] == 2 and summary["new_classes"] == []
    frame = pd.read_csv(into)
    original = pd.read_csv(text_csv)
    assert len(frame) == len(original) + 2
    assert frame.tail(2).values.tolist() == [
        ["The bank cut rates.", "finance"],
        ["Knead the dough.", "cooking"],
    ]
    with pytest.raises(SmallfitError, match="must be a table file"):
        add_labels(answers, text_csv, tmp_path / "folder")
    empty = tmp_path / "empty.csv"
    pd.DataFrame({"item": ["x"], "label": [""]}).to_csv(empty, index=False)
    with pytest.raises(SmallfitError, match="no row has a label yet"):
        add_labels(empty, text_csv, tmp_path / "x.csv")


def test_add_labels_names_the_file_rows_of_missing_images_and_of_labels_without_items(
    trained, text_csv, tmp_path
):
    _, train, _ = trained
    answers = tmp_path / "next.csv"
    # row 2 is unlabeled (skipped); the missing image is on the file's row 4
    pd.DataFrame({"item": ["a.png", "b.png", "gone.png"], "label": ["", "", "blue"]}).to_csv(
        answers, index=False
    )
    with pytest.warns(UserWarning), pytest.raises(SmallfitError, match=r"gone.png \(row 4\)"):
        add_labels(answers, train, tmp_path / "train2")
    pd.DataFrame(
        {"item": ["Rates fell.", "", "  "], "label": ["finance", "sport", "sport"]}
    ).to_csv(answers, index=False)
    with pytest.raises(SmallfitError, match="row\\(s\\) 3, 4 have a label but no item"):
        add_labels(answers, text_csv, tmp_path / "more.csv")
    assert not (tmp_path / "more.csv").exists()
