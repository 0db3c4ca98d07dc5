"""The Dataset every module uses, and the low-level reading of tables and image files,
with validation that names the bad file, column or row."""

from smallfit.data.dataset import Dataset
from smallfit.data.images import load_image

__all__ = ["Dataset", "load_image"]
