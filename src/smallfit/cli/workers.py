"""`smallfit worker`: join a search that a `smallfit fit --preset` runs elsewhere."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from smallfit.cli.display import err, out

commands = typer.Typer()


@commands.command(
    "worker",
    epilog="Examples:  smallfit fit photos/ --out model/ --preset balanced --storage "
    "postgresql://db/smallfit  then on other machines  smallfit worker "
    "postgresql://db/smallfit   |   on the same machine, while  smallfit fit photos/ --out "
    "model/ --preset best  runs:  smallfit worker model.search.journal",
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
