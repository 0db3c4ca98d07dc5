#!/usr/bin/env python
"""Few-shot accuracy and speed benchmarks on real data (fetch it first with fetch_data.py).

    python benchmarks/run.py fashion   # Fashion-MNIST, 5/10/20 per class x 3 seeds
    python benchmarks/run.py r8        # Reuters R8, 8/16/64 per class x 3 seeds
    python benchmarks/run.py speed     # embedding throughput, fit speed-up from the cache, memory
    python benchmarks/run.py cache     # the embedding stage alone, first run against cached
    python benchmarks/run.py finetune  # Fashion-MNIST 20/50 per class: finetune against probe
    python benchmarks/run.py finetune_text  # Reuters R8 16/64 per class: finetune against probe
    python benchmarks/run.py adapters  # adapter and lora at Fashion 20 and R8 16 per class
    python benchmarks/run.py adapters --per-class 50 64 --seeds 0  # the larger sizes
    python benchmarks/run.py fit_time  # whole fits with fine-tuning on 10 x 10 images
    python benchmarks/run.py tta       # test-time augmentation on the default fit
    python benchmarks/run.py losses    # 10 per class: cosine loss against cross-entropy
    python benchmarks/run.py bf16      # bf16 autocast: embedding speed and accuracy cost
    python benchmarks/run.py export    # ONNX Runtime fp32 / int8 against PyTorch: latency, accuracy
    python benchmarks/run.py drift     # drift verdicts on real shifts; false alarms on resamples
    python benchmarks/run.py update    # incremental update with a new class: old-test accuracy
    python benchmarks/run.py serve     # `smallfit serve` under load: 2,000 requests, 8 in flight

Each writes benchmarks/results/<task>.json; `python benchmarks/report.py` turns them
into benchmarks/RESULTS.md. Training examples are drawn per class with a fixed seed
from the training split; the test set is fixed (Fashion-MNIST: a stratified 2,000 of
the 10,000 test images, seed 0, to bound embedding time; R8: the whole test split).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
from PIL import Image

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "results"
STRATEGIES = {
    "probe (logreg)": ("probe", {}),
    "probe (torch, cosine+ce)": ("probe", {"head": "torch", "loss": "cosine+ce"}),
    "prototype": ("prototype", {}),
    "classic": ("classic", {}),
}


def sample_per_class(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k indices per class (all of a class if it has fewer), in a seed-fixed order."""
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:k] for c in np.unique(labels)]
    return np.sort(np.concatenate(picked))


def fashion():
    data = dict(np.load(DATA / "fashion_mnist.npz"))  # load each array once, not per access
    names = [str(n) for n in data["class_names"]]
    test = sample_per_class(data["y_test"], 200, seed=0)
    train_items = list(data["x_train"])
    train_labels = np.array([names[i] for i in data["y_train"]], dtype=object)
    test_items = [data["x_test"][i] for i in test]
    test_labels = np.array([names[i] for i in data["y_test"][test]], dtype=object)
    return train_items, train_labels, test_items, test_labels, (5, 10, 20), "image"


def r8():
    train, test = pd.read_csv(DATA / "r8_train.csv"), pd.read_csv(DATA / "r8_test.csv")
    return (
        train.text.tolist(),
        train.label.to_numpy(object),
        test.text.tolist(),
        test.label.to_numpy(object),
        (8, 16, 64),
        "text",
    )


def compare(task: str, dataset, ks, methods: dict, seeds) -> dict:
    """Fit each method on k examples per class (seeded samples), score on the fixed test set.

    `methods` maps a label to (strategy name, parameters); every strategy runs on its own
    fixed backbone or the modality's default encoder, shared (and cached) across runs.
    """
    from smallfit import backbones, modalities, strategies
    from smallfit.modalities.reading import from_python

    train_items, train_labels, test_items, test_labels, _, modality = dataset()
    test_set = from_python(test_items)
    encoders: dict = {}
    rows = []
    for k in ks:
        for seed in seeds:
            index = sample_per_class(train_labels, k, seed)
            train = from_python([train_items[i] for i in index], train_labels[index])
            for label, (name, params) in methods.items():
                strategy = strategies.create(name, random_state=seed, **params)
                used = strategy.fixed_backbone.get(
                    modality, modalities.get(modality).default_backbone
                )
                encoder = encoders.setdefault(used, backbones.create(used) if used else None)
                tic = time.perf_counter()
                strategy.fit(train, encoder)  # probe's embeddings are computed here, uncached
                fit_seconds = time.perf_counter() - tic
                predicted = np.array(train.classes, dtype=object)[
                    strategy.predict_proba(test_set.items).argmax(axis=1)
                ]
                rows.append(
                    dict(
                        task=task,
                        k=k,
                        seed=seed,
                        method=label,
                        accuracy=float((predicted == test_labels).mean()),
                        balanced_accuracy=balanced(test_labels, predicted),
                        fit_seconds=fit_seconds,
                    )
                )
                print(json.dumps(rows[-1]), flush=True)
    return {"task": task, "n_test": len(test_items), "rows": rows, "machine": machine()}


def finetune(seeds=(0, 1, 2), per_class=(20, 50)) -> dict:
    """Fashion-MNIST 20 and 50 per class: fine-tuning against the frozen probe (issue 3)."""
    methods = {
        "probe (logreg)": ("probe", {}),
        "finetune (gradual, no augmentation)": ("finetune", {"augment": "none"}),
        "finetune (gradual, light augmentation x4)": ("finetune", {}),
        "finetune (light x4 + mixup)": ("finetune", {"mix": "mixup"}),
        "finetune (light x4 + cutmix)": ("finetune", {"mix": "cutmix"}),
    }
    return compare("finetune", fashion, per_class, methods, seeds)


def finetune_text(seeds=(0, 1, 2), per_class=(16, 64)) -> dict:
    """Reuters R8 16 and 64 per class: MiniLM fine-tuning against the frozen probe (issue 3)."""
    methods = {
        "probe (logreg)": ("probe", {}),
        "finetune (gradual, top 2 layers)": ("finetune", {}),
    }
    return compare("finetune_text", r8, per_class, methods, seeds)


def text_augment(seeds=(0, 1, 2)) -> dict:
    """Reuters R8 16 per class: MiniLM fine-tuning with EDA word edits (light: 10% of the
    words, one edit per copy, 4 copies; WordNet synonyms when installed) against none."""
    from smallfit.augment.text import wordnet_synonyms

    methods = {
        "finetune (no augmentation)": ("finetune", {"augment": "none"}),
        "finetune (EDA light x4)": ("finetune", {"augment": "light"}),
    }
    result = compare("text_augment", r8, (16,), methods, seeds)
    result["wordnet"] = bool(wordnet_synonyms())
    return result


def train_speed() -> dict:
    """One fine-tuning stage (the top 2 layer groups and the head, 8 epochs) on cached
    activations, Fashion-MNIST 20 per class and Reuters R8 16 per class: eager PyTorch,
    eager with per-epoch checkpoints (--resume), and torch.compile (its first epoch
    includes compilation). Same seed, so the accuracy columns should agree."""
    import torch

    from smallfit import backbones, modalities
    from smallfit.modalities.reading import from_python
    from smallfit.strategies.finetune import FineTune
    from smallfit.train import loop
    from smallfit.train.checkpoint import checkpointing
    from smallfit.train.loop import TrainSettings

    rows = []
    for task, dataset, k in (("Fashion-MNIST", fashion, 20), ("Reuters R8", r8, 16)):
        train_items, train_labels, test_items, test_labels, _, modality = dataset()
        index = sample_per_class(train_labels, k, seed=0)
        data = from_python([train_items[i] for i in index], train_labels[index])
        encoder = backbones.create(modalities.get(modality).default_backbone)
        for variant in ("eager", "eager + checkpoints", "torch.compile"):
            strategy = FineTune(unfreeze="top", top_groups=2)
            strategy._remember(data, encoder)
            strategy.split_, strategy.upper_ = strategy._build(encoder, len(data.classes))
            x, y = strategy._lower(data.items, "activations"), torch.from_numpy(data.y)
            test_x = strategy._lower(test_items, "test activations")
            model = strategy.upper_
            runner = torch.compile(model) if variant == "torch.compile" else model
            settings = TrainSettings(epochs=8, batch_size=16, lr=3e-3)
            epochs: list[float] = []
            per_epoch = loop.evaluate  # the loop calls it once per epoch: timestamp that

            def clock(*args, stamps=epochs, real=per_epoch, **kwargs):
                stamps.append(time.perf_counter())
                return real(*args, **kwargs)

            with tempfile.TemporaryDirectory() as tmp, mock.patch.object(loop, "evaluate", clock):
                with checkpointing(tmp if "checkpoints" in variant else None):
                    tic = time.perf_counter()
                    loop.train(runner, list(model.children()), x, y, settings, (x[:8], y[:8]))
                    seconds = time.perf_counter() - tic
            with torch.inference_mode():
                predicted = runner(test_x).argmax(1).numpy()
            truth = np.array([data.classes.index(label) for label in test_labels])
            rows.append(
                dict(
                    dataset=task,
                    variant=variant,
                    seconds=seconds,
                    first_epoch_seconds=epochs[0] - tic,
                    later_epoch_seconds=(epochs[-1] - epochs[0]) / max(len(epochs) - 1, 1),
                    accuracy=float((predicted == truth).mean()),
                )
            )
            print(json.dumps(rows[-1]), flush=True)
    return {"task": "train_speed", "rows": rows, "machine": machine()}


ADAPTER_SIZES = {"Fashion-MNIST": (20, 50), "Reuters R8": (16, 64)}  # the fine-tuning checks


def adapters(seeds=(0, 1, 2), per_class=(20, 16)) -> dict:
    """Adapters and LoRA at the sizes of the fine-tuning checks (by default the smaller:
    Fashion-MNIST 20 per class and Reuters R8 16; they run the whole body's backward pass,
    so the larger take long on 2 cores). The probe rows of `finetune` and `finetune_text`
    use the same samples and seeds."""
    image_k = tuple(k for k in per_class if k in ADAPTER_SIZES["Fashion-MNIST"])
    text_k = tuple(k for k in per_class if k in ADAPTER_SIZES["Reuters R8"])
    if len(image_k) + len(text_k) != len(per_class):
        raise SystemExit(f"adapters: --per-class takes sizes among {ADAPTER_SIZES}")
    images = compare("adapters", fashion, image_k, {"adapter": ("adapter", {})}, seeds)
    texts = compare(
        "adapters", r8, text_k, {"adapter": ("adapter", {}), "lora": ("lora", {})}, seeds
    )
    for rows, dataset in ((images["rows"], "Fashion-MNIST"), (texts["rows"], "Reuters R8")):
        for row in rows:
            row["dataset"] = dataset
    return {
        "task": "adapters",
        "n_test": {"Fashion-MNIST": images["n_test"], "Reuters R8": texts["n_test"]},
        "rows": images["rows"] + texts["rows"],
        "machine": machine(),
    }


def losses(seeds=(0, 1, 2)) -> dict:
    """Fashion-MNIST 10 per class: cosine loss against cross-entropy, from scratch and on a
    frozen encoder (issue 3; Barz & Denzler 2020)."""
    methods = {
        "scratch, cosine": ("scratch", {"loss": "cosine"}),
        "scratch, cross-entropy": ("scratch", {"loss": "ce"}),
        "frozen probe (torch head), cosine": ("probe", {"head": "torch", "loss": "cosine"}),
        "frozen probe (torch head), cross-entropy": ("probe", {"head": "torch", "loss": "ce"}),
        "frozen probe (logistic regression)": ("probe", {}),
    }
    return compare("losses", fashion, (10,), methods, seeds)


def bf16(seeds=(0, 1, 2)) -> dict:
    """bf16 autocast on this CPU: embedding speed, agreement with fp32, and what it does to
    a 10-per-class probe's test accuracy (issue 3 asks to measure before any default)."""
    import torch

    from smallfit import backbones
    from smallfit.numeric import normalise
    from smallfit.strategies.heads import LogisticHead

    train_items, train_labels, test_items, test_labels, _, _ = fashion()
    encoder = backbones.create("efficientnet_lite0")
    index = np.concatenate([sample_per_class(train_labels, 10, s) for s in seeds])
    items = [train_items[i] for i in index] + test_items
    batches = [encoder._prepare(items[i : i + 32]) for i in range(0, len(items), 32)]
    features, speed = {}, {}
    for precision in ("fp32", "bf16"):
        encoder.precision = precision  # the switch embed() uses (autocast inside _forward)
        with torch.inference_mode():
            encoder._forward(batches[0])
            tic = time.perf_counter()
            features[precision] = torch.cat([encoder._forward(b) for b in batches]).numpy()
            speed[precision] = len(items) / (time.perf_counter() - tic)
    a, b = normalise(features["fp32"]), normalise(features["bf16"])
    result = {
        "images_per_s": speed,
        "speedup": speed["bf16"] / speed["fp32"],
        "cosine_fp32_bf16_min": float((a * b).sum(1).min()),
        "cosine_fp32_bf16_mean": float((a * b).sum(1).mean()),
        "accuracy": {},
    }
    n_train = 100
    test_y = np.array(test_labels)
    for precision, feats in features.items():
        accuracies = []
        for s in range(len(seeds)):
            rows = slice(s * n_train, (s + 1) * n_train)
            labels = train_labels[index[rows]]
            classes = sorted(set(labels))
            y = np.array([classes.index(v) for v in labels])
            head = LogisticHead("balanced", s).fit(normalise(feats[rows]), y, len(classes))
            test_features = normalise(feats[len(seeds) * n_train :])
            predicted = np.array(classes)[head.predict_proba(test_features).argmax(1)]
            accuracies.append(float((predicted == test_y).mean()))
        result["accuracy"][precision] = accuracies
    print(json.dumps(result), flush=True)
    return {
        "task": "bf16",
        **result,
        "machine": machine(),
        "n_test": len(test_items),
        "cpu_flags": cpu_flags(),
    }


def export() -> dict:
    """ONNX export (issue 6): a probe fitted on a few hundred training items (Fashion-MNIST
    30 per class, Reuters R8 40 per class), run by PyTorch and by ONNX Runtime in fp32 and
    int8 on the same preprocessed test inputs: test accuracy, latency per item (batch of 1)
    and per batch of 32. Preprocessing (decoding, resizing, tokenising) is left out of the
    timings: it is the same work whichever runtime follows."""
    import torch

    result = {"machine": machine(), "torch_threads": torch.get_num_threads(), "datasets": {}}
    # PyTorch's worker threads slow down far more than ONNX Runtime's when other processes
    # compete for the cores (seen here: 15x at batch 1), so the load is recorded
    result["load_average_before"] = os.getloadavg()
    for dataset, k in ((fashion, 30), (r8, 40)):
        result["datasets"][dataset.__name__] = runtime_comparison(dataset, k)
    result["load_average_after"] = os.getloadavg()
    return result


def runtime_comparison(dataset, k: int) -> dict:
    from smallfit import backbones, modalities, strategies
    from smallfit.export import INT8_OPS, export_onnx, quantise, session
    from smallfit.modalities.reading import from_python
    from smallfit.model import Model

    train_items, train_labels, test_items, test_labels, _, modality = dataset()
    index = sample_per_class(train_labels, k, seed=0)
    train = from_python([train_items[i] for i in index], train_labels[index])
    encoder = backbones.create(modalities.get(modality).default_backbone)
    strategy = strategies.create("probe").fit(train, encoder)
    model = Model(strategy, encoder.name, modality, train.classes)
    classes = np.array(train.classes, dtype=object)
    feeds = [
        _graph_feed(encoder.body_input(test_items[i : i + 32]), modality)
        for i in range(0, len(test_items), 32)
    ]
    network = strategy.inference_module()
    runs = {"PyTorch fp32": lambda feed: _torch_run(network, feed, modality)}
    if getattr(encoder, "precision", "fp32") == "bf16":
        runs["PyTorch bf16 autocast (smallfit's default here)"] = lambda feed: _torch_run(
            network, feed, modality, bf16=True
        )
    # images: dynamic int8 of the convolutions, measured here, is not offered by export
    int8_ops = ["Conv", "MatMul"] if modality == "image" else INT8_OPS
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "onnx"
        export_onnx(model, folder)
        quantise(folder / "model.onnx", folder / "model.int8.onnx", int8_ops)
        fp32, int8 = session(folder / "model.onnx"), session(folder / "model.int8.onnx")
        runs["ONNX Runtime fp32"] = lambda feed: fp32.run(None, feed)[0]
        runs[f"ONNX Runtime int8 ({'+'.join(int8_ops)})"] = lambda feed: int8.run(None, feed)[0]
        sizes = {
            "ONNX Runtime fp32": (folder / "model.onnx").stat().st_size / 1e6,
            "int8": (folder / "model.int8.onnx").stat().st_size / 1e6,
        }
        reference = None
        for label, run in runs.items():
            probabilities = np.concatenate([run(feed) for feed in feeds])
            reference = probabilities if reference is None else reference
            predicted = classes[probabilities.argmax(axis=1)]
            rows.append(
                dict(
                    runtime=label,
                    accuracy=float((predicted == test_labels).mean()),
                    agreement_with_pytorch_fp32=float(
                        (probabilities.argmax(1) == reference.argmax(1)).mean()
                    ),
                    max_abs_difference_to_pytorch_fp32=float(
                        np.abs(probabilities - reference).max()
                    ),
                    megabytes=sizes.get("int8" if "int8" in label else label),
                )
            )
            print(json.dumps({"dataset": dataset.__name__, **rows[-1]}), flush=True)
        single = _latencies(runs, _single_feeds(feeds, modality))
        batch = _latencies(runs, feeds[:10])
        for row in rows:
            row["ms_per_item_batch_1"] = single[row["runtime"]]
            row["ms_per_batch_32"] = batch[row["runtime"]]
        print(json.dumps({"dataset": dataset.__name__, "batch_1": single, "batch_32": batch}))
    return {
        "modality": modality,
        "per_class": k,
        "n_train": len(train),
        "n_test": len(test_items),
        "rows": rows,
    }


def _graph_feed(batch, modality: str) -> dict:
    """The ONNX graph's inputs for one `body_input` batch."""
    if modality == "image":
        return {"pixel_values": batch.numpy()}
    return {
        "input_ids": batch[..., 0].long().numpy(),
        "attention_mask": batch[..., 1].long().numpy(),
    }


def _torch_run(network, feed: dict, modality: str, bf16: bool = False) -> np.ndarray:
    import torch

    from smallfit.backbones.text import pack_tokens

    if modality == "image":
        inputs = torch.from_numpy(feed["pixel_values"]).contiguous(
            memory_format=torch.channels_last
        )
    else:
        inputs = pack_tokens(*(torch.from_numpy(feed[k]) for k in ("input_ids", "attention_mask")))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        return network(inputs).float().numpy()


def _single_feeds(feeds: list[dict], modality: str, n: int = 40) -> list[dict]:
    """The first `n` test items one by one (text: without the batch's padding)."""
    singles = []
    for feed in feeds:
        for i in range(len(next(iter(feed.values())))):
            one = {k: v[i : i + 1] for k, v in feed.items()}
            if modality == "text":
                length = int(one["attention_mask"].sum())
                one = {k: v[:, :length] for k, v in one.items()}
            singles.append(one)
            if len(singles) == n:
                return singles
    return singles


def _latencies(runs: dict, feeds: list[dict], rounds: int = 3) -> dict[str, float]:
    """Median milliseconds per call of each runtime over `rounds` rounds, in each of which
    every runtime runs all `feeds` in turn (after a warm-up call), so that load from other
    processes falls on all alike. Whole turns, not input by input: a runtime's worker
    threads keep spinning for a moment after a call and would slow the next runtime."""
    times: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(rounds):
        for label, run in runs.items():
            run(feeds[0])
            for feed in feeds:
                tic = time.perf_counter()
                run(feed)
                times[label].append(1000 * (time.perf_counter() - tic))
    return {label: float(np.median(values)) for label, values in times.items()}


SHIFTS = {
    "same distribution (fresh test images)": lambda image: image,
    "darkened (x0.5)": lambda image: (image * 0.5).astype(np.uint8),
    "rotated 90°": lambda image: np.ascontiguousarray(np.rot90(image)),
    "mildly darkened (x0.8)": lambda image: (image * 0.8).astype(np.uint8),
    "mildly rotated (15°)": lambda image: np.asarray(Image.fromarray(image).rotate(15)),
}


def drift(resamples: int = 20, n_new: int = 200) -> dict:
    """Drift checks (issue 6): a model fitted on 50 Fashion-MNIST images per class against
    fresh samples of test images, as they are and shifted; one fitted on 500 Reuters R8
    training texts against unused R8 training texts, the R8 test split and 20 Newsgroups.
    Each condition is drawn `resamples` times, `n_new` items each; the rate of drift
    verdicts on same-distribution samples is the false-alarm rate. The model's accuracy on
    each sample (where its labels are the model's classes) shows which shifts hurt it."""
    import smallfit
    from smallfit import backbones

    data = dict(np.load(DATA / "fashion_mnist.npz"))
    names = [str(n) for n in data["class_names"]]
    fit_rows = sample_per_class(data["y_train"], 50, seed=0)
    images = smallfit.fit(
        [data["x_train"][i] for i in fit_rows], [names[i] for i in data["y_train"][fit_rows]]
    )
    r8_train, r8_test = pd.read_csv(DATA / "r8_train.csv"), pd.read_csv(DATA / "r8_test.csv")
    used = np.sort(np.random.default_rng(0).choice(len(r8_train), 500, replace=False))
    texts = smallfit.fit(r8_train.text[used].tolist(), r8_train.label[used].tolist())
    # Pools of (item, label); 20 Newsgroups labels are none of the model's classes.
    fashion_test = list(zip(data["x_test"], [names[i] for i in data["y_test"]], strict=True))
    r8_unused = list(r8_train.drop(index=used).itertuples(index=False, name=None))
    r8_later = list(r8_test.itertuples(index=False, name=None))
    news = [(text, None) for text in pd.read_csv(DATA / "20news.csv").text]

    def draw(pool: list, rng, k: int = n_new) -> list:
        return [pool[i] for i in rng.choice(len(pool), k, replace=False)]

    conditions = {
        ("Fashion-MNIST", name): (
            images,
            lambda rng, shift=shift: [(shift(x), y) for x, y in draw(fashion_test, rng)],
        )
        for name, shift in SHIFTS.items()
    } | {
        ("Reuters R8", "same distribution (unused R8 training texts)"): (
            texts,
            lambda rng: draw(r8_unused, rng),
        ),
        ("Reuters R8", "R8 test split (later newswire)"): (
            texts,
            lambda rng: draw(r8_later, rng),
        ),
        ("Reuters R8", "20 Newsgroups"): (texts, lambda rng: draw(news, rng)),
        ("Reuters R8", "R8 with 20% 20 Newsgroups mixed in"): (
            texts,
            lambda rng: draw(r8_unused, rng, n_new - n_new // 5) + draw(news, rng, n_new // 5),
        ),
    }
    rows = []
    for (dataset, condition), (model, sampler) in conditions.items():
        encoder = backbones.create(model.backbone)
        for resample in range(resamples):
            items, labels = zip(*sampler(np.random.default_rng(1000 + resample)), strict=True)
            items = list(items)
            encoder.embed(items)  # so that the timing below is the test alone
            tic = time.perf_counter()
            report = smallfit.drift(model, items, seed=resample)
            seconds = time.perf_counter() - tic
            known = None not in labels
            accuracy = float((model.predict(items) == np.array(labels)).mean()) if known else None
            rows.append(
                dict(
                    dataset=dataset,
                    condition=condition,
                    resample=resample,
                    drift=report["drift"],
                    p_value=report["p_value"],
                    mmd2=report["embedding"]["mmd2"],
                    domain_auc=report["embedding"]["domain_classifier_auc"],
                    class_mix_tv=report["predicted_classes"]["total_variation"],
                    class_mix_p=report["predicted_classes"]["chi2_p_value"],
                    confidence_reference=report["confidence"]["reference_mean"],
                    confidence_new=report["confidence"]["new_mean"],
                    confidence_p=report["confidence"]["mann_whitney_p_value"],
                    model_accuracy=accuracy,
                    seconds=seconds,
                )
            )
            print(json.dumps(rows[-1]), flush=True)
    return {
        "task": "drift",
        "n_new": n_new,
        "resamples": resamples,
        "alpha": report["alpha"],
        "reference_rows": {
            "Fashion-MNIST": len(images.reference),
            "Reuters R8": len(texts.reference),
        },
        "models": {"Fashion-MNIST": images.strategy.name, "Reuters R8": texts.strategy.name},
        "rows": rows,
        "machine": machine(),
    }


def update(seeds=(0, 1, 2), strategies=("probe", "prototype")) -> dict:
    """Incremental update (issue 6) on Fashion-MNIST: fit on 50 images of each of 8 classes,
    then update with 50 of each of the 2 held-out classes (chosen per seed) and 10 fresh
    ones of each old class. Old-test accuracy (the fixed test images of the 8 old classes)
    before and after, new-class test accuracy after, against a joint refit on old + new
    data and a fit on the new data alone (no rehearsal)."""
    import smallfit
    from smallfit import backbones

    train_items, train_labels, test_items, test_labels, _, _ = fashion()
    test_items = smallfit.Dataset(items=test_items, modality="image")
    encoder = backbones.create("efficientnet_lite0")
    names = sorted(set(train_labels))
    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        new_classes = sorted(rng.choice(names, 2, replace=False).tolist())
        old_classes = [c for c in names if c not in new_classes]
        fit_rows = rows_of(train_labels, old_classes, 50, seed)
        rest = train_labels.copy()
        rest[fit_rows] = None  # never drawn again
        new_rows = np.concatenate(
            [rows_of(rest, new_classes, 50, seed + 100), rows_of(rest, old_classes, 10, seed + 100)]
        )
        old_test = np.isin(test_labels, old_classes)

        def part(rows_):
            return [train_items[i] for i in rows_], train_labels[rows_]

        encoder.embed(part(new_rows)[0])  # so that update_seconds is the update alone
        for name in strategies:
            tic = time.perf_counter()
            model = smallfit.fit(*part(fit_rows), strategy=name, seed=seed)
            fit_seconds = time.perf_counter() - tic
            tic = time.perf_counter()
            updated = smallfit.update(model, *part(new_rows), seed=seed)
            update_seconds = time.perf_counter() - tic
            joint = smallfit.fit(
                *part(np.concatenate([fit_rows, new_rows])), strategy=name, seed=seed
            )
            alone = smallfit.fit(*part(new_rows), strategy=name, seed=seed)
            before = model.predict(test_items)
            reported = updated.info["update"]["accuracy"]
            row = dict(
                seed=seed,
                strategy=name,
                new_classes=new_classes,
                n_fit=len(fit_rows),
                n_new=len(new_rows),
                old_test_before=float((before[old_test] == test_labels[old_test]).mean()),
                fit_seconds=fit_seconds,
                update_seconds=update_seconds,
                reported={
                    key: {when: reported[key][when]["value"] for when in ("before", "after")}
                    for key in ("old_data", "new_data")
                },
            )
            for label, fitted in (("update", updated), ("joint", joint), ("new_only", alone)):
                proba = fitted.predict_proba(test_items)
                predicted = np.array(fitted.classes, dtype=object)[proba.argmax(axis=1)]
                among_old = [fitted.classes.index(c) for c in old_classes]
                old_only = np.array(fitted.classes, dtype=object)[among_old][
                    proba[:, among_old].argmax(axis=1)
                ]
                row[label] = dict(
                    old_test=float((predicted[old_test] == test_labels[old_test]).mean()),
                    old_test_among_old_classes=float(
                        (old_only[old_test] == test_labels[old_test]).mean()
                    ),
                    new_test=float((predicted[~old_test] == test_labels[~old_test]).mean()),
                    all_test=float((predicted == test_labels).mean()),
                )
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {"task": "update", "n_test": len(test_labels), "rows": rows, "machine": machine()}


def rows_of(labels: np.ndarray, classes: list, k: int, seed: int) -> np.ndarray:
    """k seeded row indices per class, for the given classes only."""
    pool = np.flatnonzero(np.isin(labels, classes))
    return pool[sample_per_class(labels[pool], k, seed)]


def serve(requests: int = 2000, concurrency: int = 8) -> dict:
    """`smallfit serve` as a real process on a localhost port under a bounded load (issue 6):
    `requests` one-item requests, `concurrency` in flight, to the default fit of Fashion-MNIST
    (20 per class) and of Reuters R8 (16 per class), each request a different test item.
    The served labels are compared with the same model's predictions in this process."""
    import io

    from load import image_request, run_load, text_request
    from PIL import Image

    import smallfit

    result = {"machine": machine(), "requests": requests, "concurrency": concurrency, "runs": {}}
    cases = {"Fashion-MNIST images": (fashion, 20), "Reuters R8 texts": (r8, 16)}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (dataset, k) in cases.items():
            train_items, train_labels, test_items, test_labels, _, modality = dataset()
            index = sample_per_class(train_labels, k, seed=0)
            model = smallfit.fit([train_items[i] for i in index], train_labels[index], seed=0)
            model_dir = model.save(Path(tmp) / f"model-{modality}")
            picked = [i % len(test_items) for i in range(requests)]
            if modality == "image":
                pngs = []
                for i in picked:
                    buffer = io.BytesIO()
                    Image.fromarray(test_items[i]).save(buffer, format="PNG")
                    pngs.append(buffer.getvalue())
                bodies = [image_request(n, png) for n, png in enumerate(pngs)]
            else:
                bodies = [text_request(test_items[i]) for i in picked]
            run = run_load(model_dir, bodies, concurrency, Path(tmp))
            served = np.array(run.pop("labels"), dtype=object)
            local = model.predict([test_items[i] for i in picked]).astype(str)
            truth = test_labels[picked].astype(str)
            run |= {
                "model": f"{model.strategy.name} on {model.backbone or 'no encoder'}",
                "train_per_class": k,
                "served_agrees_with_in_process": float((served == local).mean()),
                "served_accuracy": float((served == truth).mean()),
            }
            result["runs"][label] = run
            print(json.dumps({label: run}), flush=True)
    return result


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    wanted = {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}
    return sorted(wanted & set(text.split()))


def few_shot(task: str, seeds=(0, 1, 2)) -> dict:
    import smallfit
    from smallfit import backbones, modalities, strategies
    from smallfit.fitting.compare import fit_dataset
    from smallfit.modalities.reading import from_python

    train_items, train_labels, test_items, test_labels, shots, modality = {
        "fashion": fashion,
        "r8": r8,
    }[task]()
    test_set = from_python(test_items)
    encoder = backbones.create(modalities.get(modality).default_backbone)
    tic = time.perf_counter()
    encoder.embed(test_set.items, description="Embedding the test set")
    rows = []
    print(f"test set embedded in {time.perf_counter() - tic:.1f} s", flush=True)
    for k in shots:
        for seed in seeds:
            index = sample_per_class(train_labels, k, seed)
            train = from_python([train_items[i] for i in index], train_labels[index])
            tic = time.perf_counter()
            encoder.embed(train.items)
            embed_seconds = time.perf_counter() - tic
            for label, (name, params) in STRATEGIES.items():
                strategy = strategies.create(name, **params)
                if "random_state" in strategy.get_params():
                    strategy.set_params(random_state=seed)
                used = strategy.fixed_backbone.get(modality, encoder.name)
                tic = time.perf_counter()
                strategy.fit(train, backbones.create(used) if used else None)
                fit_seconds = time.perf_counter() - tic
                tic = time.perf_counter()
                predicted = np.array(train.classes, dtype=object)[
                    strategy.predict_proba(test_set.items).argmax(axis=1)
                ]
                rows.append(
                    dict(
                        task=task,
                        k=k,
                        seed=seed,
                        method=label,
                        accuracy=float((predicted == test_labels).mean()),
                        balanced_accuracy=balanced(test_labels, predicted),
                        fit_seconds=fit_seconds,
                        predict_seconds=time.perf_counter() - tic,
                    )
                )
            tic = time.perf_counter()
            model = fit_dataset(train, seed=seed)
            fit_seconds = time.perf_counter() - tic
            predicted = model.predict(test_set)
            rows.append(
                dict(
                    task=task,
                    k=k,
                    seed=seed,
                    method="fit default",
                    chosen=model.info["candidates"] and model.strategy.name,
                    cv_accuracy=model.metrics["accuracy"],
                    accuracy=float((predicted == test_labels).mean()),
                    balanced_accuracy=balanced(test_labels, predicted),
                    fit_seconds=fit_seconds,
                    embed_seconds=embed_seconds,
                )
            )
            for row in rows[-len(STRATEGIES) - 1 :]:
                print(json.dumps(row), flush=True)
    return {
        "task": task,
        "n_test": len(test_items),
        "rows": rows,
        "smallfit": smallfit.__version__,
        "machine": machine(),
    }


def balanced(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean per-class recall: comparable with a CV estimate on class-balanced k-shot data."""
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(truth.astype(str), predicted.astype(str)))


def speed() -> dict:
    """Embedding throughput against a bare forward loop; cache speed-up; peak memory."""
    import torch
    from PIL import Image

    from smallfit import backbones

    data = dict(np.load(DATA / "fashion_mnist.npz"))
    names = [str(n).replace("/", "_") for n in data["class_names"]]
    result = {"machine": machine(), "torch_threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "fashion5000"
        index = sample_per_class(data["y_train"], 500, seed=0)
        for i in index:
            folder = root / names[data["y_train"][i]]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(data["x_train"][i]).save(folder / f"{i}.png")
        paths = sorted(root.rglob("*.png"))

        os.environ["SMALLFIT_CACHE"] = str(Path(tmp) / "cache-throughput")
        encoder = backbones.create("efficientnet_lite0")
        sample = paths[:640]
        batches = [
            encoder._prepare(sample[i : i + encoder.batch_size])
            for i in range(0, len(sample), encoder.batch_size)
        ]
        with torch.inference_mode():
            encoder._forward(batches[0])  # warm-up
            tic = time.perf_counter()
            for batch in batches:
                encoder._forward(batch)
            bare = len(sample) / (time.perf_counter() - tic)
        tic = time.perf_counter()
        encoder.embed(sample)
        piped = len(sample) / (time.perf_counter() - tic)
        result["throughput"] = {
            "images": len(sample),
            "bare_forward_per_s": bare,
            "smallfit_embed_per_s": piped,
            "ratio": piped / bare,
        }
        print(json.dumps(result["throughput"]), flush=True)

        for label, extra in (("default", []), ("probe", ["--strategy", "probe"])):
            env = {
                **os.environ,
                "SMALLFIT_CACHE": str(Path(tmp) / f"cache-{label}"),
                "SMALLFIT_QUIET": "1",
            }
            runs = []
            for attempt in range(2):
                out = Path(tmp) / f"model-{label}-{attempt}"
                runs.append(
                    timed(
                        [
                            sys.executable,
                            "-m",
                            "smallfit",
                            "fit",
                            str(root),
                            "--out",
                            str(out),
                            *extra,
                        ],
                        env,
                    )
                )
            result[f"fit_5000_{label}"] = {
                "first_seconds": runs[0][0],
                "second_seconds": runs[1][0],
                "speedup": runs[0][0] / runs[1][0],
                "peak_rss_mb": max(r[1] for r in runs),
            }
            print(json.dumps(result[f"fit_5000_{label}"]), flush=True)
    return result


def cache() -> dict:
    """The embedding stage alone: 5,000 images embedded in a new process, then again."""
    from PIL import Image

    data = dict(np.load(DATA / "fashion_mnist.npz"))
    result = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        root.mkdir()
        for i in sample_per_class(data["y_train"], 500, seed=0):
            Image.fromarray(data["x_train"][i]).save(root / f"{i}.png")
        script = (
            "import sys; from smallfit import backbones; from smallfit.data import read_source; "
            "backbones.create('efficientnet_lite0').embed(read_source(sys.argv[1], "
            "labeled=False).items)"
        )
        env = {**os.environ, "SMALLFIT_CACHE": str(Path(tmp) / "cache"), "SMALLFIT_QUIET": "1"}
        startup = timed(
            [
                sys.executable,
                "-c",
                "import smallfit.backbones as b; b.create('efficientnet_lite0')",
            ],
            env,
        )[0]
        first = timed([sys.executable, "-c", script, str(root)], env)[0]
        second = timed([sys.executable, "-c", script, str(root)], env)[0]
    result["embed_5000"] = {
        "first_seconds": first,
        "second_seconds": second,
        "speedup": first / second,
        "process_startup_seconds": startup,
    }
    print(json.dumps(result), flush=True)
    return result


def tta(seeds=(0, 1, 2)) -> dict:
    """Test-time augmentation (mirror) on Fashion-MNIST: the default fit's test accuracy
    with and without it, 10 and 20 per class."""
    from smallfit import fit
    from smallfit.modalities.reading import from_python

    train_items, train_labels, test_items, test_labels, _, _ = fashion()
    test_set = from_python(test_items)
    rows = []
    for k in (10, 20):
        for seed in seeds:
            index = sample_per_class(train_labels, k, seed)
            model = fit([train_items[i] for i in index], train_labels[index], seed=seed)
            for flag in (False, True):
                predicted = model.predict(test_set, tta=flag)
                rows.append(
                    dict(
                        task="tta",
                        k=k,
                        seed=seed,
                        method="fit default" + (", TTA (mirror)" if flag else ""),
                        accuracy=float((predicted == test_labels).mean()),
                        fit_seconds=0.0,
                    )
                )
                print(json.dumps(rows[-1]), flush=True)
    return {"task": "tta", "n_test": len(test_items), "rows": rows, "machine": machine()}


def fit_time() -> dict:
    """Whole `smallfit fit` runs with fine-tuning on 10 images x 10 classes (Fashion-MNIST),
    each in a new process with an empty cache: what a user waits for (issue 3)."""
    from PIL import Image

    data = dict(np.load(DATA / "fashion_mnist.npz"))
    names = [str(n).replace("/", "_") for n in data["class_names"]]
    runs = {
        "smallfit fit DIR --strategy finetune": ["--strategy", "finetune"],
        # measured before 2026-12-03 as "--time-budget 10m", which then added finetune
        "smallfit fit DIR --candidates full --time-budget 10m": [
            "--candidates",
            "full",
            "--time-budget",
            "10m",
        ],
    }
    result = {"machine": machine(), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "fashion100"
        for i in sample_per_class(data["y_train"], 10, seed=0):
            folder = root / names[data["y_train"][i]]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(data["x_train"][i]).save(folder / f"{i}.png")
        for number, (label, extra) in enumerate(runs.items()):
            env = {**os.environ, "SMALLFIT_CACHE": str(Path(tmp) / f"cache{number}")}
            out = Path(tmp) / f"model{number}"
            command = [sys.executable, "-m", "smallfit", "fit", str(root), "--out", str(out)]
            seconds = timed([*command, *extra], env)[0]
            record = json.loads((out / "model.json").read_text())
            result["runs"][label] = {
                "seconds": seconds,
                "chosen": record["strategy"]["name"],
                "cv_accuracy": record["metrics"]["accuracy"]["value"],
                "candidates": {
                    row["candidate"]: row["accuracy"] and row["accuracy"]["value"]
                    for row in record["candidates"]
                },
            }
            print(json.dumps(result["runs"][label]), flush=True)
    return result


def timed(command: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and the child's peak resident memory (MB) of one command."""
    tic = time.perf_counter()
    code = subprocess.run(command, env=env, capture_output=True, text=True)
    if code.returncode:
        raise RuntimeError(code.stderr)
    seconds = time.perf_counter() - tic
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "task",
        choices=[
            "fashion",
            "r8",
            "speed",
            "cache",
            "finetune",
            "finetune_text",
            "adapters",
            "fit_time",
            "tta",
            "losses",
            "bf16",
            "text_augment",
            "train_speed",
            "export",
            "drift",
            "update",
            "serve",
        ],
    )
    parser.add_argument(
        "--per-class",
        type=int,
        nargs="+",
        help="finetune / finetune_text / adapters only: run these sizes instead of the default",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="tasks with seeds: run these instead of 0 1 2"
    )
    args = parser.parse_args()
    os.environ.setdefault("SMALLFIT_QUIET", "1")
    tasks = {
        "speed": speed,
        "cache": cache,
        "finetune": finetune,
        "finetune_text": finetune_text,
        "adapters": adapters,
        "fit_time": fit_time,
        "tta": tta,
        "losses": losses,
        "bf16": bf16,
        "text_augment": text_augment,
        "train_speed": train_speed,
        "export": export,
        "drift": drift,
        "update": update,
        "serve": serve,
    }
    task = tasks.get(args.task) or (lambda seeds=(0, 1, 2): few_shot(args.task, seeds))
    accepted = inspect.signature(task).parameters
    options, flags = {}, ""
    for name, value in (("per_class", args.per_class), ("seeds", args.seeds)):
        if value and name not in accepted:
            raise SystemExit(f"{args.task} takes no --{name.replace('_', '-')}")
        if value:
            options[name] = tuple(value)
            flags += f" --{name.replace('_', '-')} {' '.join(map(str, value))}"
    result = task(**options)
    result["command"] = f"python benchmarks/run.py {args.task}{flags}"
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{args.task}.json"
    if options and path.exists():  # a partial run: keep the rows earlier commands measured
        earlier = json.loads(path.read_text())
        done = {row_key(r) for r in result["rows"]}
        kept = [r for r in earlier["rows"] if row_key(r) not in done]
        result["rows"] = kept + result["rows"]
        result["command"] = f"{earlier['command']}; {result['command']}"
    path.write_text(json.dumps(result, indent=2))


def row_key(row: dict) -> tuple:
    """What one measured row is of: a later partial run replaces the row with its key."""
    return tuple(row.get(name) for name in ("dataset", "k", "seed", "method"))


if __name__ == "__main__":
    main()
