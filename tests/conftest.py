"""Shared fixtures: tiny generated datasets; offline, quiet, with a private embedding cache."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["SMALLFIT_QUIET"] = "1"
os.environ["SMALLFIT_CACHE"] = tempfile.mkdtemp(prefix="smallfit-test-cache-")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

COLOURS = {"red": (200, 30, 30), "green": (30, 170, 40), "blue": (30, 50, 200)}

TEXTS = {
    "sport": [
        "The striker scored twice in the second half of the match.",
        "Our goalkeeper saved a penalty in the final minute.",
        "The team won the championship after a long season.",
        "She ran the marathon in under three hours.",
        "The coach praised the defenders after the game.",
        "Fans cheered as the tennis player served an ace.",
    ],
    "cooking": [
        "Stir the onions in butter until they turn golden.",
        "Bake the bread for forty minutes at high heat.",
        "Season the soup with salt, pepper and fresh herbs.",
        "Whisk the eggs with sugar before folding in the flour.",
        "Slice the tomatoes and drizzle them with olive oil.",
        "Simmer the sauce gently for an hour.",
    ],
    "finance": [
        "The central bank raised interest rates by a quarter point.",
        "Shares fell sharply after the quarterly earnings report.",
        "Investors moved their money into government bonds.",
        "The company announced a merger worth two billion dollars.",
        "Inflation rose faster than economists had expected.",
        "The stock market closed higher on Friday.",
    ],
}


def make_image(colour, seed: int, size: int = 48) -> Image.Image:
    """A noisy picture dominated by one colour, with a random light square."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.normal(0, 25, (size, size, 3)), 0, 255)
    x, y = rng.integers(0, size // 2, 2)
    pixels[y : y + size // 3, x : x + size // 3] = 235
    return Image.fromarray(pixels.astype(np.uint8))


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    """root/<colour>/*.png, 6 images per class, 3 classes."""
    root = tmp_path_factory.mktemp("images")
    for index, (name, colour) in enumerate(COLOURS.items()):
        (root / name).mkdir()
        for k in range(6):
            make_image(colour, seed=100 * index + k).save(root / name / f"{name}_{k}.png")
    return root


@pytest.fixture(scope="session")
def text_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("texts") / "texts.csv"
    rows = [(t, label) for label, texts in TEXTS.items() for t in texts]
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    return path
