"""Honest estimates: cross-validation and metrics with bootstrap intervals."""

from smallfit.evaluate.cv import Splits, make_splits, out_of_fold
from smallfit.evaluate.metrics import accuracy_interval, evaluate_probas

__all__ = [
    "Splits",
    "accuracy_interval",
    "evaluate_probas",
    "make_splits",
    "out_of_fold",
]
