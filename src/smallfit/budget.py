"""A time budget as one object, and one exception for running out of it.

The deadline is wall-clock time (`time.time()`), not a monotonic clock, because the
processes of a shared search, on several machines, must agree on it. Cross-validation
and the search project whether a step would finish in what is left. While a budget is
`active()`, training loops check it every epoch (fine-tuning also every batch of frozen
activations), so a fit stops mid-fold, not only between folds.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from smallfit.errors import SmallfitError


class OutOfTime(Exception):
    """A budgeted step stopped: the time ran out, or would have before the step finished."""


@dataclass(frozen=True)
class Budget:
    """Until `deadline` (a `time.time()` value); None: no limit."""

    deadline: float | None = None

    @classmethod
    def of(cls, seconds: float | None) -> Budget:
        """`seconds` from now; None: no limit."""
        if seconds is None:
            return cls()
        if seconds <= 0:
            raise SmallfitError(f"The time budget must be positive, not {seconds}.")
        return cls(time.time() + seconds)

    @property
    def limited(self) -> bool:
        return self.deadline is not None

    def left(self) -> float:
        """Seconds left (infinite without a limit; negative once passed)."""
        return math.inf if self.deadline is None else self.deadline - time.time()

    def less(self, seconds: float) -> Budget:
        """This budget with `seconds` kept back (for a later step, such as the final refit)."""
        return self if self.deadline is None else Budget(self.deadline - seconds)

    def check(self) -> None:
        if self.left() < 0:
            raise OutOfTime("the time budget ran out")

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Make this the budget that `check_active` reads inside the block."""
        token = _ACTIVE.set(self)
        try:
            yield
        finally:
            _ACTIVE.reset(token)


UNLIMITED = Budget()
# A context variable, not a parameter: training loops run deep inside every strategy's
# `fit`, whose signature is the scikit-learn contract and has no place for a deadline.
_ACTIVE: ContextVar[Budget] = ContextVar("smallfit_budget", default=UNLIMITED)


def check_active() -> None:
    """Raise OutOfTime if the active budget has run out (training loops call this)."""
    _ACTIVE.get().check()
