"""Commands for labelling: which items to label next (suggest), and adding the labeled
ones to the training data (add-labels)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from smallfit.cli.display import out
from smallfit.cli.options import LabelColumn, ReplaceOutput, SkipBad, TextColumn
from smallfit.errors import SmallfitError, refuse_existing

commands = typer.Typer()


@commands.command(
    "suggest",
    epilog="Examples:  smallfit suggest model/ unlabeled/ -n 20 --output next.csv   |   "
    "smallfit suggest --cold unlabeled/ -n 20 --output next.csv   |   after filling in the "
    "label column:  smallfit add-labels next.csv --data train/ --into train2/   "
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
            help="Unlabeled items: a folder of images (searched recursively), or a table of "
            "texts or of rows (read with the model's column types).",
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
        typer.Option(
            help="CSV to write: item (a table's row as JSON of its values), rank, score, "
            "strategy, reason, label (empty)."
        ),
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
    text_column: TextColumn = None,
    seed: Annotated[int, typer.Option(help="Random seed (k-means, committee folds).")] = 0,
    skip_bad: SkipBad = False,
    overwrite: ReplaceOutput = False,
) -> None:
    """Which examples to label next (active learning); add-labels then adds the labeled
    ones to the training data. Pool items already in the model's training data are left
    out."""
    from smallfit.active import QUERIES, suggest

    if cold and (model_dir or pool):
        raise SmallfitError("--cold POOL takes no model: smallfit suggest --cold POOL -n 20 ...")
    if not cold and not (model_dir and pool):
        raise SmallfitError(
            "Give MODEL and POOL (smallfit suggest model/ pool/ ...), or --cold POOL without "
            "a model."
        )
    if output is None:
        raise SmallfitError("Give --output FILE.csv for the suggestions.")
    refuse_existing(output, overwrite)
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
        f"Written to [bold]{output}[/]. Fill in its label column, then: smallfit add-labels "
        f"{output} --data TRAIN --into NEW"
    )


@commands.command(
    "add-labels",
    epilog="Example:  smallfit add-labels next.csv --data train/ --into train2/   then  "
    "smallfit fit train2/ --out model2/",
)
def add_labels_command(
    labeled: Annotated[
        Path,
        typer.Argument(
            help="A suggestion CSV written by suggest, its label column filled in (rows "
            "without a label are skipped).",
        ),
    ],
    data: Annotated[Path, typer.Option(help="The training data (left unchanged).")],
    into: Annotated[
        Path,
        typer.Option(
            help="The new training data to write (a folder for images, a table file for texts "
            "and tables)."
        ),
    ],
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
) -> None:
    """Add the items labeled in a suggestion CSV to a copy of the training data, written
    to --into; DATA and the CSV are left unchanged."""
    from smallfit.active import add_labels

    summary = add_labels(labeled, data, into, text_column=text_column, label_column=label_column)
    added = ", ".join(summary["new_classes"]) or "none"
    out.print(
        f"{summary['added']} item(s) added: [bold]{into}[/] holds {summary['training_items']} "
        f"training items (new classes: {added}); {data} is unchanged. Next: smallfit fit "
        f"{into}{f' --label-column {label_column}' if label_column else ''} --out MODEL"
    )
