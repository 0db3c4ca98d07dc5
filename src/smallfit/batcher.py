"""Run a batch function on one thread, merging the calls that wait for it into one batch.

A server's request threads call `Batcher(items)`; the model runs on the batcher's own
thread only. That keeps the model free of concurrent calls (strategies and encoders are
not written to be thread-safe), lets torch use every core for one forward pass instead of
several passes fighting for them, and turns requests that arrive together into one
larger batch, which the encoders process faster per item. No waiting is added: a batch
holds whatever queued up while the previous one ran. Written here because the serving
libraries that batch (Ray Serve, Triton) are whole platforms, far beyond one model in
one process.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np


class Batcher:
    """Call `function(items) -> array with one row per item` on a single worker thread.

    Calls from any thread block until their rows are ready; calls that queue up while a
    batch runs are merged (up to about `max_batch` items) into the next one. An exception
    in a batch is raised in every call that was part of it.
    """

    def __init__(self, function: Callable[[list], np.ndarray], max_batch: int):
        self.function = function
        self.max_batch = max_batch
        self._calls: queue.SimpleQueue[tuple[Sequence, Future]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="smallfit-batcher", daemon=True)
        self._thread.start()

    def __call__(self, items: Sequence[Any]) -> np.ndarray:
        future: Future = Future()
        self._calls.put((items, future))
        return future.result()

    def _run(self) -> None:
        while True:
            calls = [self._calls.get()]
            size = len(calls[0][0])
            while size < self.max_batch:
                try:
                    calls.append(self._calls.get_nowait())
                except queue.Empty:
                    break
                size += len(calls[-1][0])
            self._serve(calls)

    def _serve(self, calls: list[tuple[Sequence, Future]]) -> None:
        items = [item for call_items, _ in calls for item in call_items]
        try:
            rows = self.function(items)
        except Exception as error:  # noqa: BLE001 - handed to the callers, who re-raise it
            for _, future in calls:
                future.set_exception(error)
            return
        start = 0
        for call_items, future in calls:
            future.set_result(rows[start : start + len(call_items)])
            start += len(call_items)
