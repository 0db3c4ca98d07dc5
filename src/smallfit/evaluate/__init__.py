"""Honest estimates: cross-validation and metrics with bootstrap intervals."""

from smallfit.evaluate.cv import OverBudget, Splits, make_splits, out_of_fold
from smallfit.evaluate.metrics import accuracy_interval, evaluate_probas

__all__ = [
    "OverBudget",
    "Splits",
    "accuracy_interval",
    "evaluate_probas",
    "make_splits",
    "out_of_fold",
]
