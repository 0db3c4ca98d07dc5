"""Parameter constraints: declared beside a strategy's `__init__`, checked when `fit` starts,
so a bad value fails at once with its name instead of minutes into training.

scikit-learn checks its own estimators this way, but its validator lives in a private
module (sklearn.utils._param_validation) that has changed between releases, so this is
a small one of our own, with messages that read as smallfit's other errors do.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from smallfit.errors import SmallfitError


@dataclass(frozen=True)
class Between:
    """A number (an integer if `integer`) within the bounds; `above`: strictly above `low`."""

    low: float | None = None
    high: float | None = None
    integer: bool = False
    above: bool = False

    def problem(self, value: Any) -> str | None:
        kind = Integral if self.integer else Real
        if isinstance(value, bool) or not isinstance(value, kind):
            return "must be an integer" if self.integer else "must be a number"
        too_low = self.low is not None and (value <= self.low if self.above else value < self.low)
        too_high = self.high is not None and value > self.high
        if not (too_low or too_high):
            return None
        if self.above:
            return f"must be above {self.low}"
        if self.low is not None and self.high is not None:
            return f"must be between {self.low} and {self.high}"
        return (
            f"must be at least {self.low}"
            if self.low is not None
            else f"must be at most {self.high}"
        )


@dataclass(frozen=True)
class OneOf:
    """One of the listed values."""

    values: tuple

    def problem(self, value: Any) -> str | None:
        if value in self.values:
            return None
        return f"must be one of {', '.join(repr(v) for v in self.values)}"


@dataclass(frozen=True)
class Kind:
    """An instance of `type_`."""

    type_: type

    def problem(self, value: Any) -> str | None:
        return None if isinstance(value, self.type_) else f"must be a {self.type_.__name__}"


Constraint = Between | OneOf | Kind | None  # None: the value None is allowed


def check_params(
    owner: str, params: dict[str, Any], constraints: dict[str, list[Constraint]]
) -> None:
    """Raise SmallfitError naming the first parameter that meets none of its constraints."""
    for name, allowed in constraints.items():
        value = params[name]
        if value is None and None in allowed:
            continue
        problems = [c.problem(value) for c in allowed if c is not None]
        if all(problems):
            also = " (or None)" if None in allowed else ""
            raise SmallfitError(
                f"The {owner} strategy's {name} {' or '.join(problems)}{also}; got {value!r}."
            )
