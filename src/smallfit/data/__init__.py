"""Reading sources into Datasets, with validation that names the bad file, column or row."""

from smallfit.data.dataset import Dataset
from smallfit.data.images import load_image
from smallfit.data.pools import read_pool
from smallfit.data.sources import from_frame, from_python, read_source, to_dataset

__all__ = [
    "Dataset",
    "from_frame",
    "from_python",
    "load_image",
    "read_pool",
    "read_source",
    "to_dataset",
]
