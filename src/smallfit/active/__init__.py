"""Active learning: which unlabeled items to label next, and adding the answers.

`suggest` (suggestions.py) reads the pool (pool.py) and ranks it by a query strategy
(queries.py, on the geometry of geometry.py, and committee.py's fold models for query by
committee); `add_labels` (answers.py) merges the filled-in suggestions into new training
data.
"""

from smallfit.active.answers import add_labels
from smallfit.active.committee import fold_committee
from smallfit.active.queries import QUERIES, Candidates
from smallfit.active.suggestions import suggest

__all__ = ["QUERIES", "Candidates", "add_labels", "fold_committee", "suggest"]
