"""smallfit: a small labeled dataset in, an honestly evaluated classifier out."""

import os

# Keep transformers' own log lines and bars out of our output (our bars say the same).
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from smallfit.active import suggest  # noqa: E402
from smallfit.api import Classifier, fit  # noqa: E402
from smallfit.data import Dataset  # noqa: E402
from smallfit.distill import distill  # noqa: E402
from smallfit.doctor import doctor  # noqa: E402
from smallfit.incremental import update  # noqa: E402
from smallfit.modalities.reading import read_source
from smallfit.model import Model, load  # noqa: E402
from smallfit.monitor import drift  # noqa: E402
from smallfit.version import __version__  # noqa: E402

__all__ = [
    "Classifier",
    "Dataset",
    "Model",
    "distill",
    "doctor",
    "drift",
    "fit",
    "load",
    "read_source",
    "suggest",
    "update",
    "__version__",
]
