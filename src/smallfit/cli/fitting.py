"""Commands that fit models: fit, lr-find and the bundled demo."""

from __future__ import annotations

import json
import shutil
import time
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from smallfit.cli.display import err, interval, out, print_fit, print_leaderboard, print_metrics
from smallfit.cli.options import (
    LabelColumn,
    ReplaceOut,
    Seed,
    SkipBad,
    TextColumn,
    parse_duration,
)
from smallfit.errors import SmallfitError

commands = typer.Typer()


@commands.command(
    "fit",
    epilog="Examples:  smallfit fit photos/ --out model/   |   smallfit fit reviews.csv "
    "--text-column review --label-column stars --out model/   |   smallfit fit photos/ "
    "--target-unlabeled new_camera/ --out model/   |   smallfit fit photos/ "
    "--unlabeled more_photos/ --out model/   |   smallfit fit scans.csv --group-column "
    "patient --out model/   |   smallfit fit words/ --groups speakers.csv --background "
    "noise/ --out model/   |   smallfit fit photos/ --out model/ --preset best "
    "--time-budget 30m --storage postgresql://host/db  (then smallfit worker "
    "postgresql://host/db on other machines)",
)
def fit(
    data: Annotated[
        Path,
        typer.Argument(
            help="Folder DATA/<class>/*.jpg, or a table (.csv .tsv .jsonl .parquet): of "
            "texts and labels when it holds one column besides the label (or --text-column "
            "names one), else of columns (numbers, categories, dates, free text)."
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
            help="probe, prototype, zeroshot, classic, hybrid; or (slower, they train the "
            "network) finetune, contrastive, adapter, lora (text) or scratch (images); "
            "default: compare the --candidates and combine or keep the best; or search "
            "strategies and their settings with --preset."
        ),
    ] = None,
    candidates: Annotated[
        str,
        typer.Option(
            help="What the default comparison holds: quick (the cheap candidates of the data's "
            "kind: frozen-encoder strategies, classic, and a small CNN for images, seconds "
            "each) or full (also the strategies that train the encoder: finetune, and "
            "contrastive for texts, minutes each; bound them with --time-budget)."
        ),
    ] = "quick",
    column_types: Annotated[
        str | None,
        typer.Option(
            help="Tables: set column types instead of inferring them, e.g. "
            "zip=categorical,joined=date. Types: numeric, categorical, boolean, date, text "
            "(free text, embedded by the text encoder), identifier and constant (left out).",
        ),
    ] = None,
    seed: Seed = 0,
    folds: Annotated[
        int | None,
        typer.Option(
            help="Cross-validation folds (default 10, or the smallest class's size if less, "
            "or 5 past 1,000 items)."
        ),
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
            help="Time for the fit, e.g. 300, 90s, 10m, 1h. Without --preset it leaves out "
            "a candidate that would not finish in time and stops a training when the time "
            "runs out. With --preset it is the search's time (default: 2 minutes plus 1 "
            "second per item, at most 10 minutes)."
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
    overwrite: ReplaceOut = False,
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
            help="Unlabeled pool (a folder searched recursively, or a table of texts or rows): "
            "also compare probe and prototype (on a table, each candidate) self-trained on it "
            "(and finetune with FixMatch), pseudo-labels made inside each fold. Items also in "
            "DATA are left out."
        ),
    ] = None,
    background: Annotated[
        Path | None,
        typer.Option(
            help="A folder (searched recursively) or table of items that belong to NONE of "
            "the classes (other words, noise, silence; other objects): added as the class "
            "'background', so the model can answer 'none of these'. Keyword spotting needs it."
        ),
    ] = None,
    group_column: Annotated[
        str | None,
        typer.Option(
            help="The column (of the data table, or of --groups) naming what items share: "
            "a patient, a speaker, a camera. Each cross-validation fold then holds whole "
            "groups, so the estimate is for groups never seen in training. Not a feature."
        ),
    ] = None,
    groups: Annotated[
        Path | None,
        typer.Option(
            help="For a folder of files: a table with columns item (path, relative to DATA "
            "or absolute) and group (or the --group-column): folds keep each group together."
        ),
    ] = None,
) -> None:
    """Fit a classifier: compare strategies by cross-validation (or, with --preset, search
    strategies and their settings within a time budget), combine them or keep the best,
    and save it. The first figure printed is the honest estimate of that whole choice.

    Trainings (finetune, adapter, lora, scratch) save a checkpoint after every epoch in
    OUT.checkpoints/, removed once the model is written; see --resume.
    """
    from smallfit.api import checkpoint_folder, finetune_options, trains
    from smallfit.api import fit as fit_model
    from smallfit.modalities.columns import parse_column_types

    seconds = parse_duration(time_budget) if time_budget else None
    setting = {"strategy": strategy, "preset": preset, "candidates": candidates}
    params = {
        "finetune": finetune_options(unfreeze, augment, mix),
        "contrastive": {"pairs_per_example": pairs_per_example} if pairs_per_example else {},
    }
    if params["finetune"] and not trains("finetune", **setting):
        raise SmallfitError(
            "--unfreeze, --augment and --mix apply to finetune: add --strategy finetune, "
            "--candidates full, or search it (--preset balanced or best)."
        )
    if params["contrastive"] and not trains("contrastive", **setting):
        raise SmallfitError(
            "--pairs-per-example applies to contrastive: add --strategy contrastive or "
            "--candidates full (text)."
        )
    descriptions = _read_descriptions(label_descriptions) if label_descriptions else None
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
            column_types=parse_column_types(column_types),
            label_descriptions=descriptions,
            skip_bad=skip_bad,
            time_budget=seconds,
            strategy_params=params,
            ensemble=ensemble,
            learning_curve=learning_curve,
            target_unlabeled=target_unlabeled,
            unlabeled=unlabeled,
            preset=preset,
            storage=storage,
            out=out_dir,
            overwrite=overwrite,
            resume=resume,
            candidates=candidates,
            background=background,
            group_column=group_column,
            groups=groups,
        )
    except KeyboardInterrupt:
        checkpoints = checkpoint_folder(out_dir)
        if checkpoints.is_dir():
            err.print(
                f"Interrupted. The finished epochs are saved in {checkpoints}; run the same "
                "command with --resume to continue."
            )
        raise typer.Exit(130) from None
    print_fit(model, out_dir)
    if mlflow or mlflow_uri:
        from smallfit.tracking import log_fit

        run_id = log_fit(model, out_dir, mlflow_uri)
        out.print(f"Logged to MLflow as run {run_id}")


def _read_descriptions(path: Path) -> dict:
    """The --label-descriptions file: a JSON object {class: description}."""
    try:
        descriptions = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise SmallfitError(f"Cannot read label descriptions from {path}: {error}") from None
    if not isinstance(descriptions, dict) or not all(
        isinstance(v, str) for v in descriptions.values()
    ):
        raise SmallfitError(f"{path} must hold a JSON object mapping class names to texts.")
    return {str(k): v for k, v in descriptions.items()}


@commands.command(
    "lr-find",
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
    from smallfit import backbones, modalities
    from smallfit.modalities.reading import read_source
    from smallfit.strategies.finetune import FineTune

    dataset = read_source(
        data, labeled=True, text_column=text_column, label_column=label_column, skip_bad=skip_bad
    )
    dataset.check_trainable()
    encoder = backbones.create(backbone or modalities.get(dataset.modality).default_backbone)
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


@commands.command("demo")
def demo(
    out_dir: Annotated[
        Path,
        typer.Option("--out", help="Where to write the demo's model, predictions and metrics."),
    ] = Path("smallfit-demo"),
) -> None:
    """Run fit -> evaluate -> predict on bundled Fashion-MNIST images, offline."""
    from smallfit.api import evaluate_model
    from smallfit.api import fit as fit_model
    from smallfit.cli.using import write_predictions
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
    print_leaderboard(model)
    print_metrics(model.metrics, "Cross-validated estimate of the chosen model")
    out.print(f"[bold]2. evaluate[/] on {root / 'holdout'} (10 unseen images per class)")
    metrics = evaluate_model(out_dir / "model", root / "holdout")
    (out_dir / "holdout_metrics.json").write_text(json.dumps(metrics, indent=2))
    print_metrics(metrics, "Holdout metrics")
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
        f"\nEstimated accuracy: [bold]{interval(accuracy)}[/]; holdout accuracy: "
        f"[bold]{interval(metrics['accuracy'])}[/]. Outputs in {out_dir}/ "
        f"({time.perf_counter() - started:.0f} s)."
    )
