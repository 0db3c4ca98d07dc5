"""Commands that use a fitted model: predict, evaluate, export, serve, and the app."""

from __future__ import annotations

import csv
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from smallfit.cli.display import err, out, print_fairness, print_metrics
from smallfit.cli.options import (
    TTA,
    LabelColumn,
    ModelDir,
    ReplaceOutput,
    SkipBad,
    TextColumn,
)
from smallfit.errors import refuse_existing

commands = typer.Typer()


@commands.command(
    "predict", epilog="Example:  smallfit predict model/ new_photos/ --output preds.csv"
)
def predict(
    model_dir: ModelDir,
    data: Annotated[
        Path, typer.Argument(help="A folder (searched recursively), an image, or a table of texts.")
    ],
    output: Annotated[Path, typer.Option(help="CSV to write: item,label,confidence,p_<class>...")],
    text_column: TextColumn = None,
    skip_bad: SkipBad = False,
    tta: TTA = False,
    overwrite: ReplaceOutput = False,
) -> None:
    """Predict classes for new data; rows come in input order."""
    from smallfit.modalities.reading import read_source
    from smallfit.model import load

    refuse_existing(output, overwrite)
    model = load(model_dir)
    dataset = read_source(data, labeled=False, text_column=text_column, skip_bad=skip_bad)
    proba = model.predict_proba(dataset, tta=tta)
    write_predictions(output, dataset, model.classes, proba)
    counts = dict(zip(*np.unique(proba.argmax(axis=1), return_counts=True), strict=True))
    summary = ", ".join(f"{model.classes[i]}: {n}" for i, n in counts.items())
    out.print(f"{len(dataset)} predictions written to [bold]{output}[/] ({summary})")


def write_predictions(path: Path, dataset, classes: list, proba: np.ndarray) -> None:
    """The predictions CSV: per item in input order, the label, its probability and all."""
    from smallfit import modalities

    shown = modalities.shown(dataset)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item", "label", "confidence", *[f"p_{c}" for c in classes]])
        for item, row in zip(shown, proba, strict=True):
            best = int(row.argmax())
            writer.writerow([item, classes[best], f"{row[best]:.6f}", *[f"{p:.6f}" for p in row]])


@commands.command(
    "evaluate",
    epilog="Examples:  smallfit evaluate model/ holdout/ --output metrics.json   |   "
    "smallfit evaluate model/ test.csv --group-column region   |   "
    "smallfit evaluate model/ holdout/ --groups groups.csv",
)
def evaluate(
    model_dir: ModelDir,
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
    print_metrics(metrics, f"Metrics on {data}")
    if "fairness" in metrics:
        print_fairness(metrics["fairness"])
    if output:
        output.write_text(json.dumps(metrics, indent=2))
        out.print(f"Metrics written to [bold]{output}[/]")


class ExportFormat(StrEnum):
    onnx = "onnx"


@commands.command(
    "export",
    epilog="Examples:  smallfit export model/ --format onnx   |   smallfit export model/ "
    "--format onnx --int8 --out model-onnx/   then see model-onnx/model.onnx.json",
)
def export(
    model_dir: ModelDir,
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
    lora; tables: classic, forest, boosting, mlp and their ensembles, on numeric, boolean
    and categorical columns."""
    from smallfit.export import export_onnx

    target = out_dir or model_dir / "onnx"
    description = export_onnx(model_dir, target, int8=int8, overwrite=overwrite)
    for kind, name in description["files"].items():
        size = (target / name).stat().st_size / 1e6
        out.print(f"{kind}: [bold]{target / name}[/] ({size:.1f} MB)")
    check = description["check"]
    against = "PyTorch" if "max_abs_difference_to_pytorch" in check else "the model"
    difference = next(v for k, v in check.items() if k.startswith("max_abs_difference"))
    out.print(
        f"Inputs {', '.join(description['inputs'])} -> probabilities over "
        f"{len(description['classes'])} classes; ONNX Runtime matches {against} within "
        f"{difference:.1e} on generated inputs. Preprocessing and classes: "
        f"{target / 'model.onnx.json'}"
    )


@commands.command(
    "serve",
    epilog="Example:  smallfit serve model/ --port 8000   then   curl -F files=@cat.jpg "
    "http://127.0.0.1:8000/predict   (text models: curl -H 'Content-Type: application/json' "
    '-d \'{"texts": ["some text"]}\' http://127.0.0.1:8000/predict). API pages at /docs.',
)
def serve(
    model_dir: ModelDir,
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


@commands.command(
    "app",
    epilog="Example:  smallfit app --workspace ~/smallfit-projects   (opens the browser; "
    "the page's JSON API is documented at /docs)",
)
def app(
    workspace: Annotated[
        Path,
        typer.Option(help="Folder of projects (created if missing); each project is a folder."),
    ] = Path("smallfit-projects"),
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. The default answers this machine only; any other "
            "address requires the token printed at start."
        ),
    ] = "127.0.0.1",
    browser: Annotated[bool, typer.Option(help="Open the page in the browser.")] = True,
) -> None:
    """A local web app for the whole loop: gather examples, train, understand the
    estimate and the mistakes, try the model, download it. Works offline."""
    from smallfit.app.server import run_app

    run_app(workspace, host=host, port=port, open_browser=browser)
