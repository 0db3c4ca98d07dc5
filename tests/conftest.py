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


WHERE = ("online", "at the market", "in town", "from a friend", "at the fair")
WHO = ("the office", "my mother", "the kitchen", "a birthday", "the garden shed")


def make_table(per_class: int, seed: int) -> pd.DataFrame:
    """Plants of three kinds: height, colour, a yes/no flag, a date and a free-text note
    all carry signal; an id column carries none; some cells are missing."""
    rng = np.random.default_rng(seed)
    kinds = {
        "fern": (30.0, ["green", "green", "olive"], "a leafy fern with soft fronds"),
        "cactus": (15.0, ["green", "grey", "grey"], "a spiky cactus for dry sunny spots"),
        "palm": (120.0, ["brown", "green", "brown"], "a tall palm with broad leaves"),
    }
    rows = []
    for kind, (height, colours, note) in kinds.items():
        for _ in range(per_class):
            rows.append(
                {
                    "kind": kind,
                    "height": round(float(height * rng.uniform(0.7, 1.3)), 1),
                    "colour": str(rng.choice(colours)),
                    "indoor": "yes" if kind != "palm" or rng.random() < 0.2 else "no",
                    "bought": f"2024-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 28)):02d}",
                    "note": f"{note}, bought {rng.choice(WHERE)} for {rng.choice(WHO)}",
                }
            )
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    frame.loc[rng.choice(len(frame), 3, replace=False), "height"] = np.nan
    frame.insert(0, "plant_id", np.arange(1000, 1000 + len(frame)))
    return frame


@pytest.fixture(scope="session")
def table_csv(tmp_path_factory) -> Path:
    """36 rows of make_table (12 per kind), label column `kind`."""
    path = tmp_path_factory.mktemp("tables") / "plants.csv"
    make_table(12, seed=0).to_csv(path, index=False)
    return path
