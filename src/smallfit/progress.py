"""Progress bars for anything that may take more than a few seconds (Rich, on stderr)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(stderr=True)


def enabled() -> bool:
    """Bars are off when SMALLFIT_QUIET is set (tests, pipelines that parse stderr)."""
    return not os.environ.get("SMALLFIT_QUIET")


@contextmanager
def progress_bar(total: int, description: str) -> Iterator:
    """Yield `advance(n, status)`; shows a bar with count and time left while the block runs,
    and `status` (e.g. the last epoch's loss) after the description."""
    if not enabled() or total <= 0:
        yield lambda n=1, status=None: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1, status: str | None = None) -> None:
            shown = f"{description} ({status})" if status else description
            bar.update(task, advance=n, description=shown)

        yield advance
