"""Progress bars for anything that may take more than a few seconds (Rich, on stderr),
and, for a program watching a fit (the app), the same progress as JSON lines appended to
the file SMALLFIT_PROGRESS_FILE names: {"kind": "stage", "stage", "done", "total",
"seconds_left"} as bars move (at most twice a second each), and what `event` reports
(a candidate's cross-validated score as the comparison goes)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
    with _recorded(total, description) as record:
        if not enabled() or total <= 0:
            yield lambda n=1, status=None: record(n)
            return
        with _bar(total, description) as advance:

            def both(n: int = 1, status: str | None = None) -> None:
                record(n)
                advance(n, status)

            yield both


@contextmanager
def _bar(total: int, description: str) -> Iterator:
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


def event(kind: str, **data: Any) -> None:
    """Append {"kind": kind, **data} to SMALLFIT_PROGRESS_FILE, if it is set."""
    path = os.environ.get("SMALLFIT_PROGRESS_FILE")
    if path:
        line = json.dumps({"kind": kind, "time": round(time.time(), 2)} | data, default=str)
        with open(path, "a") as sink:
            sink.write(line + "\n")


@contextmanager
def _recorded(total: int, description: str) -> Iterator:
    """A `record(n)` that reports the bar's progress as stage events (throttled)."""
    if not os.environ.get("SMALLFIT_PROGRESS_FILE") or total <= 0:
        yield lambda n=1: None
        return
    started, done, last = time.monotonic(), 0, 0.0

    def report() -> None:
        elapsed = time.monotonic() - started
        left = elapsed / done * (total - done) if done else None
        seconds_left = None if left is None else round(left, 1)
        event("stage", stage=description, done=done, total=total, seconds_left=seconds_left)

    def record(n: int = 1) -> None:
        nonlocal done, last
        done += n
        if time.monotonic() - last >= 0.5 or done >= total:
            last = time.monotonic()
            report()

    report()
    yield record
