"""The package's version and the library versions a model is trained with (saved in
model.json, so a model can say what made it)."""

from __future__ import annotations

import platform

__version__ = "0.1.0"


def library_versions() -> dict[str, str]:
    import numpy as np
    import sentence_transformers
    import sklearn
    import timm
    import torch

    return {
        "smallfit": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "scikit_learn": sklearn.__version__,
        "numpy": np.__version__,
    }
