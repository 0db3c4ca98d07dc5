"""Commands that keep a model in service: drift checks, updates with new labels, and
distillation into a small, fast student."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from smallfit.cli.display import interval, out, print_drift, print_metrics
from smallfit.cli.options import (
    FittedOrUpdatedModelDir,
    LabelColumn,
    ReplaceOut,
    ReplaceOutput,
    Seed,
    SkipBad,
    TextColumn,
)
from smallfit.errors import SmallfitError, refuse_existing

commands = typer.Typer()


@commands.command(
    "drift",
    epilog="Examples:  smallfit drift model/ new_photos/ --output drift.json   |   "
    "in a pipeline:  smallfit drift model/ batch.csv || echo 'check the model'",
)
def drift_command(
    model_dir: FittedOrUpdatedModelDir,
    data: Annotated[
        Path,
        typer.Argument(
            help="New data: a folder of images (searched recursively), an image, or a table of "
            "texts or of rows. Labels, if present, are not used."
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
    overwrite: ReplaceOutput = False,
) -> None:
    """Does new data still look like the training data? Exit code 0: no drift, 1: drift,
    2: an error. The verdict is an MMD permutation test in the pretrained encoder's
    embedding space (a table's: its own features) against the sample of training data
    stored in the model, with a test per column of a table (Holm-corrected, drifted
    columns named); the predicted class mix, confidence and a domain classifier's ROC-AUC
    show what changed."""
    from smallfit.monitor import drift as check_drift

    if output:
        refuse_existing(output, overwrite)
    report = check_drift(
        model_dir, data, alpha=alpha, seed=seed, text_column=text_column, skip_bad=skip_bad
    )
    print_drift(report)
    if output:
        output.write_text(json.dumps(report, indent=2))
        out.print(f"Report written to [bold]{output}[/]")
    raise typer.Exit(1 if report["drift"] else 0)


@commands.command("update", epilog="Example:  smallfit update model/ new_labeled/ --out model2/")
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
    seed: Seed = 0,
    skip_bad: SkipBad = False,
    overwrite: ReplaceOut = False,
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
    refuse_existing(out_dir, overwrite)
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
        table.add_row(label, *(interval(row[k]) if row[k] else "n/a" for k in ("before", "after")))
    out.print(table)
    out.print(
        "Before: old data out-of-fold from the original fit, new data predicted by the old "
        "model; after: cross-validation of the update."
    )
    print_metrics(model.metrics, "Updated model (cross-validation)")
    added = ", ".join(record["new_classes"]) or "none"
    out.print(f"Updated model written to [bold]{out_dir}[/] (new classes: {added})")


@commands.command(
    "distill",
    epilog="Examples:  smallfit distill model/ photos/ --into efficientnet_lite0 --out small/"
    "   |   smallfit distill model/ reviews.csv --into minilm --unlabeled more.csv --out small/",
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
    seed: Seed = 0,
    skip_bad: SkipBad = False,
    overwrite: ReplaceOut = False,
) -> None:
    """Distil a model into one small, fast student: a linear head on one encoder's
    embeddings trained on the teacher's probabilities (soft labels) for DATA and the
    --unlabeled pool. Shows how much accuracy it keeps on a held-out quarter of DATA's
    labels, and how much faster it predicts."""
    from smallfit.distill import distill as distil_model

    if model_dir.resolve() == out_dir.resolve():
        raise SmallfitError(f"--out {out_dir} would replace the teacher; write elsewhere.")
    refuse_existing(out_dir, overwrite)
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
        interval(check["teacher_accuracy"]),
        f"{speed['teacher_seconds_per_item']:.4f}",
    )
    table.add_row(
        f"student (probe on {record['student']['encoder']})",
        interval(check["student_accuracy"]),
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
            f"seen; its cross-validated accuracy: {interval(cv) if cv else 'n/a'}."
        )
    out.print(f"Student written to [bold]{out_dir}[/]")
