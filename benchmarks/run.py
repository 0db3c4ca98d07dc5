#!/usr/bin/env python
"""Few-shot accuracy and speed benchmarks on real data (fetch it first with fetch_data.py).

    python benchmarks/run.py fashion   # Fashion-MNIST, 5/10/20 per class x 3 seeds
    python benchmarks/run.py r8        # Reuters R8, 8/16/64 per class x 3 seeds
    python benchmarks/run.py speed     # embedding throughput, fit speed-up from the cache, memory
    python benchmarks/run.py cache     # the embedding stage alone, first run against cached
    python benchmarks/run.py finetune  # Fashion-MNIST 20/50 per class: finetune against probe
    python benchmarks/run.py finetune_text  # Reuters R8 16/64 per class: finetune against probe
    python benchmarks/run.py adapters  # adapter and lora at Fashion 20 and R8 16 per class
    python benchmarks/run.py fit_time  # whole fits with fine-tuning on 10 x 10 images
    python benchmarks/run.py tta       # test-time augmentation on the default fit
    python benchmarks/run.py losses    # 10 per class: cosine loss against cross-entropy
    python benchmarks/run.py bf16      # bf16 autocast: embedding speed and accuracy cost
    python benchmarks/run.py serve     # `smallfit serve` under load: 2,000 requests, 8 in flight

Each writes benchmarks/results/<task>.json; `python benchmarks/report.py` turns them
into benchmarks/RESULTS.md. Training examples are drawn per class with a fixed seed
from the training split; the test set is fixed (Fashion-MNIST: a stratified 2,000 of
the 10,000 test images, seed 0, to bound embedding time; R8: the whole test split).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

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
    from smallfit import backbones, strategies
    from smallfit.data import from_python

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
                used = strategy.fixed_backbone.get(modality, backbones.DEFAULTS[modality])
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


def adapters(seeds=(0, 1, 2)) -> dict:
    """Adapters and LoRA on the smaller sizes of the fine-tuning checks: Fashion-MNIST 20
    per class and Reuters R8 16 per class (they train the whole body's backward pass, so
    the larger sizes take hours on 2 cores). The probe rows of `finetune` and
    `finetune_text` use the same samples and seeds."""
    images = compare("adapters", fashion, (20,), {"adapter": ("adapter", {})}, seeds)
    texts = compare(
        "adapters", r8, (16,), {"adapter": ("adapter", {}), "lora": ("lora", {})}, seeds
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
    from smallfit.strategies.base import normalise
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
    from smallfit import backbones, strategies
    from smallfit.auto import fit_dataset
    from smallfit.data import from_python

    train_items, train_labels, test_items, test_labels, shots, modality = {
        "fashion": fashion,
        "r8": r8,
    }[task]()
    test_set = from_python(test_items)
    encoder = backbones.create(backbones.DEFAULTS[modality])
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
    from smallfit.data import from_python

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
        "smallfit fit DIR --time-budget 10m": ["--time-budget", "10m"],
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
            "serve",
        ],
    )
    parser.add_argument(
        "--per-class",
        type=int,
        nargs="+",
        help="finetune / finetune_text only: run these sizes instead of the issue's two",
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
        "serve": serve,
    }
    sized = args.per_class and args.task in ("finetune", "finetune_text")
    options = {"per_class": tuple(args.per_class)} if sized else {}
    result = tasks[args.task](**options) if args.task in tasks else few_shot(args.task)
    result["command"] = f"python benchmarks/run.py {args.task}" + (
        f" --per-class {' '.join(map(str, args.per_class))}" if sized else ""
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.task}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
