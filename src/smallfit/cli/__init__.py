"""The `smallfit` command: a thin shell over the Python API (Typer + Rich).

Each module holds one group of commands; they import the library inside each command,
so that `smallfit --help` starts fast.
"""

from __future__ import annotations

import sys
import warnings

import typer

from smallfit.cli import fitting, inspecting, labelling, maintaining, using, workers
from smallfit.cli.display import show_error, show_warning
from smallfit.errors import SmallfitError

app = typer.Typer(
    help="Turn a small labeled dataset into an honestly evaluated classifier, offline.\n\n"
    "Typical use: smallfit fit photos/ --out model/  then  smallfit predict model/ new/ "
    "--output preds.csv.  Try smallfit demo first.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# `smallfit --help` lists the commands in this order (the everyday workflow first).
ORDER = (
    "fit",
    "predict",
    "evaluate",
    "lr-find",
    "backbones",
    "demo",
    "export",
    "drift",
    "update",
    "serve",
    "app",
    "distill",
    "suggest",
    "add-labels",
    "report",
    "doctor",
    "worker",
)
app.registered_commands = sorted(
    (
        command
        for group in (fitting, using, maintaining, labelling, inspecting, workers)
        for command in group.commands.registered_commands
    ),
    key=lambda command: ORDER.index(command.name),
)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    warnings.showwarning = show_warning
    # scikit-learn's guess that integer labels with many classes for few items may be a
    # regression target: smallfit numbers the classes itself, and few items per class is
    # what it is for
    warnings.filterwarnings("ignore", message="The number of unique classes is greater than")
    try:
        app()
    except SmallfitError as error:
        show_error(error)
        sys.exit(2)
