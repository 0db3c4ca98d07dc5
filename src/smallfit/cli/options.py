"""Options and arguments several commands share, each defined once, and their checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smallfit.errors import SmallfitError

ModelDir = Annotated[Path, typer.Argument(help="A model directory written by fit.")]
FittedOrUpdatedModelDir = Annotated[
    Path, typer.Argument(help="A model directory written by fit or update.")
]
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
Seed = Annotated[int, typer.Option(help="Random seed; the same seed gives the same model.")]
ReplaceOut = Annotated[bool, typer.Option(help="Replace --out if it exists.")]
ReplaceOutput = Annotated[bool, typer.Option(help="Replace --output if it exists.")]


def parse_duration(text: str) -> float:
    """Seconds in '300', '90s', '10m' or '1.5h' (a --time-budget)."""
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
