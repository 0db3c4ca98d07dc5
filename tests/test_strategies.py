"""Each strategy learns, keeps the class order, and saves/loads to the same predictions."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from smallfit import backbones, modalities, strategies
from smallfit.errors import SmallfitError
from smallfit.modalities.reading import read_source
from smallfit.model import Model, load
from smallfit.strategies.base import encoder_for, works_on
from smallfit.strategies.heads import LogisticHead, row_space_basis
from smallfit.train.losses import classification_loss

# Parameters that keep a test fit short, or that a strategy cannot do without; every other
# registered strategy is tested with its defaults, so a new one is tested without an edit
# here (as timm tests every model in its registry).
TEST_PARAMS = {
    "scratch": {"epochs": 30},
    "finetune": {"epochs": 10, "top_groups": 1},
    "adapter": {"epochs": 15},
    "lora": {"epochs": 15},
    "contrastive": {"pairs_per_example": 6, "epochs": 2},
    "ensemble": {
        "members": [
            {"strategy": "probe", "params": {}, "backbone": None},
            {"strategy": "prototype", "params": {}, "backbone": None},
        ],
        "weights": [0.5, 0.5],
    },
}
TESTED_MODALITIES = ("image", "text", "table")  # those the fixtures below provide
CASES = [
    (name, TEST_PARAMS.get(name, {}), modality)
    for name in strategies.names()
    for modality in TESTED_MODALITIES
    if works_on(type(strategies.create(name)), modality)
] + [  # variants worth their own case
    ("probe", {"head": "torch", "loss": "cosine"}, "image"),
    ("probe", {"head": "torch", "loss": "smooth"}, "text"),
]


@pytest.fixture(scope="module")
def datasets(image_folder, text_csv, table_csv):
    return {
        "image": read_source(image_folder, labeled=True),
        "text": read_source(text_csv, labeled=True),
        "table": read_source(table_csv, labeled=True, label_column="kind"),
    }


@pytest.mark.parametrize("name,params,modality", CASES)
def test_strategy_fits_predicts_and_round_trips(name, params, modality, datasets, tmp_path):
    dataset = datasets[modality]
    if name == "ensemble":  # members: the modality's first two default candidates
        members = [c for c, *_ in modalities.get(modality).candidates[:2]]
        params = {
            **params,
            "members": [
                {
                    "strategy": c,
                    "params": {},
                    "backbone": encoder_for(type(strategies.create(c)), modality, None),
                }
                for c in members
            ],
        }
    strategy = strategies.create(name, **params)
    backbone = encoder_for(type(strategy), modality, None)
    encoder = backbones.create(backbone) if backbone else None
    strategy.fit(dataset, encoder)
    proba = strategy.predict_proba(dataset.items)
    assert proba.shape == (len(dataset), len(dataset.classes))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    training_accuracy = (proba.argmax(axis=1) == dataset.y).mean()
    assert training_accuracy >= 0.8, f"{name} fits its own training data at {training_accuracy}"
    Model(strategy, backbone, modality, dataset.classes).save(tmp_path / "m")
    reloaded = load(tmp_path / "m")
    np.testing.assert_allclose(reloaded.predict_proba(dataset), proba, atol=1e-6)


def test_zeroshot_uses_descriptions_and_ignores_labels(datasets):
    dataset = datasets["text"]
    encoder = backbones.create("minilm")
    shuffled = dataset.subset(np.arange(len(dataset)))
    shuffled.labels = np.random.default_rng(0).permutation(shuffled.labels)
    a = strategies.create("zeroshot").fit(dataset, encoder).predict_proba(dataset.items)
    b = strategies.create("zeroshot").fit(shuffled, encoder).predict_proba(dataset.items)
    np.testing.assert_array_equal(a, b)
    swapped = {"sport": "Recipes and cooking food.", "cooking": "Football and athletes."}
    c = strategies.create("zeroshot", descriptions=swapped).fit(dataset, encoder)
    predicted = np.array(dataset.classes)[c.predict_proba(dataset.items).argmax(axis=1)]
    assert (predicted[dataset.labels == "sport"] == "cooking").mean() > 0.5


def test_cosine_loss_is_one_minus_cosine_to_the_one_hot_target():
    logits = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    target = torch.tensor([1, 0])
    expected = ((1 - 4 / 5) + (1 - 1)) / 2
    assert classification_loss(logits, target, "cosine").item() == pytest.approx(expected)
    combined = classification_loss(logits, target, "cosine+ce").item()
    assert combined > expected


def test_row_space_fit_equals_full_fit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 300))
    y = rng.integers(0, 3, 40)
    basis = row_space_basis(X)
    full = LogisticRegression(C=0.1, max_iter=5000, tol=1e-10).fit(X, y)
    reduced = LogisticRegression(C=0.1, max_iter=5000, tol=1e-10).fit(X @ basis, y)
    np.testing.assert_allclose(reduced.coef_ @ basis.T, full.coef_, atol=1e-4)


def test_copies_of_one_item_stay_in_one_inner_fold_when_choosing_regularisation():
    # labels are noise: only memorising scores well, and only where a near-copy of a
    # validation row was trained on; kept apart, the strongest regularisation wins
    for seed in range(3):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(30, 20))
        y = rng.integers(0, 2, 30)
        copies = np.vstack([X] + [X + 0.01 * rng.normal(size=X.shape) for _ in range(2)])
        sources = np.tile(np.arange(30), 3)
        leaky = LogisticHead(None, 0).fit(copies, np.tile(y, 3), 2)
        kept = LogisticHead(None, 0).fit(copies, np.tile(y, 3), 2, sources)
        assert kept.C_ <= 0.01 < leaky.C_


def test_the_head_keeps_the_embedding_geometry_where_standardising_blows_up_noise():
    # two informative dimensions and 300 that barely vary: standardised, the 300 noise
    # dimensions get as much say as the two; the inner cross-validation sees that
    rng = np.random.default_rng(0)

    def draw(n):
        y = rng.integers(0, 2, n)
        signal = rng.normal(size=(n, 2)) + 1.5 * (2 * y[:, None] - 1)
        X = np.hstack([signal, 0.01 * rng.normal(size=(n, 300))])
        return X / np.linalg.norm(X, axis=1, keepdims=True), y

    (X, y), (X_test, y_test) = draw(40), draw(500)
    standardised = LogisticHead("balanced", 0).fit(X, y, 2)
    chosen = LogisticHead("balanced", 0, scale="choose").fit(X, y, 2)
    assert standardised.scaled_ and not chosen.scaled_

    def accuracy(head):
        return (head.predict_proba(X_test).argmax(1) == y_test).mean()

    assert accuracy(chosen) > accuracy(standardised) + 0.05
    # saved and loaded, exported as scikit-learn or torch: the same probabilities
    arrays, config = chosen.get_state()
    loaded = LogisticHead("balanced", 0, scale="choose").set_state(arrays, config)
    assert not loaded.scaled_
    np.testing.assert_allclose(loaded.predict_proba(X_test), chosen.predict_proba(X_test))
    exported = chosen.as_sklearn().predict_proba(X_test)
    np.testing.assert_allclose(exported, chosen.predict_proba(X_test), atol=1e-5)
    with torch.inference_mode():
        module = chosen.as_module()(torch.from_numpy(X_test.astype(np.float32))).numpy()
    np.testing.assert_allclose(module, chosen.predict_proba(X_test), atol=1e-5)


def test_the_head_standardises_where_the_inner_cross_validation_prefers_it():
    # the informative dimension is the one that barely varies: only standardising lets a
    # regularised model use it
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60)
    X = np.hstack([rng.normal(size=(60, 20)), 0.01 * (2 * y[:, None] - 1)])
    X += 0.002 * rng.normal(size=X.shape)
    assert LogisticHead("balanced", 0, scale="choose").fit(X, y, 2).scaled_


@pytest.mark.parametrize("shape", [(40, 300), (300, 40)])
def test_capped_basis_spans_the_top_principal_directions(shape):
    rng = np.random.default_rng(1)
    X = rng.normal(size=shape) * np.linspace(3, 0.1, shape[1])  # decaying column scales
    basis = row_space_basis(X, max_rank=5)
    assert basis.shape == (shape[1], 5)
    np.testing.assert_allclose(basis.T @ basis, np.eye(5), atol=1e-8)
    top = np.linalg.svd(X, full_matrices=False)[2][:5].T
    # same subspace: projecting one basis onto the other loses nothing
    np.testing.assert_allclose(np.linalg.norm(top.T @ basis, axis=0), 1.0, atol=1e-8)


def test_class_weighting_favours_a_rare_class(datasets):
    dataset = datasets["image"]
    keep = np.r_[np.flatnonzero(dataset.y != 2), np.flatnonzero(dataset.y == 2)[:2]]
    imbalanced = dataset.subset(keep)
    encoder = backbones.create("efficientnet_lite0")
    balanced = strategies.create("probe", class_weight="balanced").fit(imbalanced, encoder)
    plain = strategies.create("probe", class_weight=None).fit(imbalanced, encoder)
    rare = dataset.subset(np.flatnonzero(dataset.y == 2)[2:]).items
    assert balanced.predict_proba(rare)[:, 2].mean() >= plain.predict_proba(rare)[:, 2].mean()


def test_image_adapters_train_a_few_weights_and_save_only_those(datasets, tmp_path):
    dataset = datasets["image"]
    encoder = backbones.create("efficientnet_lite0")
    before = {k: v.clone() for k, v in encoder.body.state_dict().items()}
    strategy = strategies.create("adapter", epochs=3).fit(dataset, encoder)
    assert 0.005 < strategy.trained_fraction_ < 0.1
    for key, value in encoder.body.state_dict().items():  # the shared encoder is untouched
        assert torch.equal(value, before[key]), key
    arrays, _ = strategy.get_state()
    convolutions = [k for k, v in arrays.items() if v.ndim == 4]
    assert convolutions and all(".up." in k or ".down." in k for k in convolutions)
    assert sum(v.size for v in arrays.values()) < 0.1 * sum(v.numel() for v in before.values())
    proba = strategy.predict_proba(dataset.items)
    Model(strategy, "efficientnet_lite0", "image", dataset.classes).save(tmp_path / "m")
    np.testing.assert_allclose(load(tmp_path / "m").predict_proba(dataset), proba, atol=1e-5)


def test_a_network_on_too_few_items_per_class_trains_fixed_epochs_and_says_so(datasets):
    from smallfit.fitting.compare import fixed_epochs_notes

    encoder = backbones.create("efficientnet_lite0")
    tiny = datasets["image"].subset(np.flatnonzero(np.isin(np.arange(18) % 6, [0, 1, 2, 3])))
    model = strategies.create("adapter", epochs=3).fit(tiny, encoder)
    assert model.early_stopping_ is False and len(model.history_) == 3
    (note,) = fixed_epochs_notes(model)
    assert note.startswith("adapter trained for its fixed 3 epochs")
    assert strategies.create("adapter", epochs=3).fit(datasets["image"], encoder).early_stopping_


def test_scratch_trains_its_epochs_on_every_image_with_statistics_of_its_final_weights(datasets):
    from smallfit.fitting.compare import fixed_epochs_notes
    from smallfit.strategies.scratch import Scratch

    dataset, encoder = datasets["image"], backbones.create("pixels")
    model = Scratch(epochs=3).fit(dataset, encoder)
    assert len(model.history_) == 3 and "val_loss" not in model.history_[-1]
    assert not fixed_epochs_notes(model)  # its design, not a shortage of items
    first = model.network_[0]  # the first convolution's output feeds the first batch norm
    with torch.no_grad():
        out = first(model._images(dataset.items))
    expected = out.mean(dim=(0, 2, 3))
    assert torch.allclose(model.network_[1].running_mean, expected, atol=1e-4)


def test_the_default_image_fit_tries_scratch_and_skips_a_candidate_that_fails(
    image_folder, monkeypatch
):
    import smallfit
    from smallfit.strategies.prototype import Prototype

    def broken(self, dataset, encoder, **params):
        raise RuntimeError("no prototypes today")

    monkeypatch.setattr(Prototype, "fit", broken)
    model = smallfit.fit(image_folder, folds=2, learning_curve=False)
    rows = {row["candidate"]: row for row in model.info["candidates"]}
    probe = "probe[copies=1]@efficientnet_lite0_stages"
    assert list(rows) == [probe, "prototype", "classic", "scratch"]
    assert rows["prototype"]["skipped"] == "failed: RuntimeError: no prototypes today"
    assert rows["scratch"]["accuracy"]["value"] > 0.5  # three colours: easy from pixels
    assert model.metrics["honest"]["method"].startswith("the whole choice among 3 candidates")


@pytest.mark.parametrize("name,data", [("zeroshot", "image"), ("scratch", "text")])
def test_a_strategy_refuses_data_of_a_modality_it_does_not_work_on(name, data, datasets):
    own = "text" if data == "image" else "image"
    with pytest.raises(SmallfitError, match=f"works on {own} data, not {data}"):
        strategies.create(name).fit(datasets[data], None)


@pytest.mark.parametrize("name", strategies.names())
def test_every_parameter_has_a_constraint_its_default_meets(name):
    import inspect

    from smallfit.strategies.constraints import check_params

    strategy = strategies.create(name)
    assert set(type(strategy).constraints) == set(inspect.signature(type(strategy)).parameters)
    check_params(name, strategy.get_params(deep=False), type(strategy).constraints)


@pytest.mark.parametrize(
    "name,params,message",
    [
        ("probe", {"head": "mlp"}, "The probe strategy's head must be one of 'logreg', 'torch'"),
        ("scratch", {"epochs": 0}, "The scratch strategy's epochs must be at least 1; got 0."),
        ("prototype", {"scale": "hot"}, "scale must be a number; got 'hot'"),
        ("classic", {"class_weight": "even"}, "'balanced' (or None); got 'even'"),
    ],
)
def test_a_bad_parameter_fails_when_fit_starts_naming_it(name, params, message, datasets):
    import re

    strategy = strategies.create(name, **params)
    with pytest.raises(SmallfitError, match=re.escape(message)):
        strategy.fit(
            datasets["image"],
            backbones.create(encoder_for(type(strategy), "image", None) or "pixels"),
        )


def test_a_candidate_with_its_own_encoder_runs_there_unless_the_user_names_one(monkeypatch):
    from smallfit.fitting.candidates import candidates_for

    def shown(candidates):
        return [(c.label, c.backbone) for c in candidates]

    stages, plain = "efficientnet_lite0_stages", "efficientnet_lite0"
    assert shown(candidates_for("image", None, None))[:2] == [
        (f"probe[copies=1]@{stages}", stages),
        ("prototype", plain),
    ]
    assert shown(candidates_for("image", "pixels", None))[:2] == [
        ("probe[copies=1]", "pixels"),
        ("prototype", "pixels"),
    ]
    assert shown(candidates_for("image", None, "probe")) == [("probe", plain)]
    monkeypatch.setattr(backbones, "available", lambda name: name != stages)
    assert shown(candidates_for("image", None, None))[0] == ("probe[copies=1]", plain)


def test_strategies_follow_what_the_encoder_offers_not_the_kind_of_item():
    from smallfit.fitting.candidates import candidates_for

    # zeroshot embeds class descriptions and LoRA edits transformer layers: the packaged
    # image encoder offers neither; finetune needs layer groups, which raw pixels lack
    assert {"zeroshot", "lora"} & set(strategies.names("image")) == set()
    assert {"zeroshot", "lora", "finetune", "hybrid"} <= set(strategies.names("text"))
    assert {"finetune", "adapter", "hybrid", "classic"} <= set(strategies.names("image"))
    assert backbones.capabilities_of("timm:resnet18") == {"layers", "feature_maps"}
    assert works_on(type(strategies.create("zeroshot")), "text", "st:any/model")
    with pytest.raises(SmallfitError, match="needs an encoder with a body in trainable layer"):
        candidates_for("image", "pixels", "finetune")
