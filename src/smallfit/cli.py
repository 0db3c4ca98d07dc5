"""The `smallfit` command: a thin shell over the Python API (Typer + Rich)."""

from __future__ import annotations

import csv
import json
import shutil
import sys
import time
import warnings
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
    scored = [r for r in rows if r["accuracy"]]
    chosen = max(scored, key=lambda r: r["accuracy"]["value"])
    table = Table(title="Candidates (cross-validated accuracy, 95% interval)")
    for column in ("candidate", "backbone", "accuracy", "seconds"):
        table.add_column(column)
    for row in rows:
        mark = " ← chosen" if row is chosen else ""
        table.add_row(
            row["candidate"] + mark,
            str(row["backbone"] or "-"),
            _interval(row["accuracy"]) if row["accuracy"] else f"skipped ({row['skipped']})",
            f"{row['cv_seconds']:.1f}",
        )
    out.print(table)


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
    "--text-column review --label-column stars --out model/"
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
            "finetune, adapter, lora (text) or scratch (images); "
            "default: compare the frozen-encoder strategies and classic (and finetune "
            "with --time-budget), keep the best."
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
    time_budget: Annotated[
        str | None,
        typer.Option(
            help="Time for the comparison, e.g. 300, 90s, 10m, 1h. Adds fine-tuning to the "
            "candidates; a candidate that would not finish in time is left out."
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
) -> None:
    """Fit a classifier: compare strategies by cross-validation and save the best."""
    from smallfit.api import fit as fit_model

    _refuse_existing(out_dir, overwrite)
    descriptions = _read_descriptions(label_descriptions) if label_descriptions else None
    finetune_params = parse_unfreeze(unfreeze) if unfreeze else None
    if finetune_params and strategy != "finetune" and not time_budget:
        raise SmallfitError(
            "--unfreeze applies to finetune: add --strategy finetune or a --time-budget."
        )
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
    )
    model.save(out_dir, overwrite=overwrite)
    _print_leaderboard(model)
    _print_metrics(
        model.metrics,
        f"Chosen: {model.strategy.name} on {model.backbone or 'no encoder'} (cross-validation)",
    )
    out.print(f"Model written to [bold]{out_dir}[/] in {model.info['fit_seconds']:.1f} s")


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
    from smallfit.data import read_source
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


@app.command(epilog="Example:  smallfit evaluate model/ holdout/ --output metrics.json")
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
) -> None:
    """Measure a saved model on a labeled set, with 95% bootstrap intervals."""
    from smallfit.api import evaluate_model

    metrics = evaluate_model(
        model_dir,
        data,
        text_column=text_column,
        label_column=label_column,
        skip_bad=skip_bad,
        tta=tta,
    )
    _print_metrics(metrics, f"Metrics on {data}")
    if output:
        output.write_text(json.dumps(metrics, indent=2))
        out.print(f"Metrics written to [bold]{output}[/]")


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
    from smallfit.data import read_source
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
    from smallfit.data import read_source
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
    accuracy = model.metrics["accuracy"]
    out.print(
        f"\nCross-validated accuracy: [bold]{_interval(accuracy)}[/]; holdout accuracy: "
        f"[bold]{_interval(metrics['accuracy'])}[/]. Outputs in {out_dir}/ "
        f"({time.perf_counter() - started:.0f} s)."
    )


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
