"""What the leaderboard and model.json say about domain adaptation (smallfit.adapt): which
method each strategy applies to a target pool, if any."""

from __future__ import annotations

from typing import Any

from smallfit.strategies.base import Strategy, accepted_fit_params


def method_of(strategy: Strategy) -> str | None:
    """The adaptation `strategy` applies when given a target pool ("coral", "dann"), or None
    when it cannot adapt (it does not take `target_unlabeled`)."""
    if not accepted_fit_params(strategy, {"target_unlabeled": True}):
        return None
    return "dann" if type(strategy).trains_body else "coral"


def candidate_entry(strategy: Strategy, fit_params: dict | None) -> dict[str, Any]:
    """The leaderboard's adaptation column for a candidate: {} when no target pool is given."""
    if not fit_params or fit_params.get("target_unlabeled") is None:
        return {}
    return {"adaptation": method_of(strategy) or "none (cannot adapt)"}


def fit_record(strategy: Strategy, fit_params: dict | None) -> dict[str, Any]:
    """What model.json says about adaptation (under "adaptation"): {} without a target pool."""
    pool = (fit_params or {}).get("target_unlabeled")
    if pool is None:
        return {}
    return {
        "adaptation": {
            "method": method_of(strategy),
            "pool_size": len(pool),
            "pool_source": pool.source,
            "note": "The cross-validated metrics are measured on the labeled (source) domain; "
            "they say nothing about accuracy on the target domain.",
        }
    }
