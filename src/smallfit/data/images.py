"""Reading images: folder trees, and decoding any common file into an RGB PIL image."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from smallfit.errors import SmallfitError, list_some

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def find_images(root: Path) -> list[Path]:
    """All image files under `root`, recursively, in sorted order (hidden files skipped)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and is_image_path(p))


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL image (grey, palette, alpha, 16-bit, float, EXIF-rotated) as 8-bit RGB.

    Transparent pixels are composited on white, the background a person sees in a viewer.
    """
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) / (high - low) * 255.0 if high > low else np.zeros_like(array)
        return Image.fromarray(scaled.round().astype(np.uint8)).convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")


@dataclass(frozen=True, eq=False)
class AugmentedImage:
    """`source` changed by `recipe` (a function of an RGB image and a seed, named by
    `recipe_id`) with random draws from `seed`. Its pixels are made only when it is
    loaded, and it is identified by what it is made from, so an embedding cache finds it
    without making it."""

    source: Any
    seed: int
    recipe: Callable[[Image.Image, int], Image.Image]
    recipe_id: str


def load_image(item) -> Image.Image:
    """Decode a path, PIL image or numpy array (HxW, HxWx3 or HxWx4) into RGB, or make an
    AugmentedImage from its source."""
    if isinstance(item, AugmentedImage):
        return item.recipe(load_image(item.source), item.seed)
    if isinstance(item, Image.Image):
        return to_rgb(item)
    if isinstance(item, np.ndarray):
        array = item
        if array.dtype != np.uint8:
            low, high = float(array.min()), float(array.max())
            array = ((array - low) / (high - low) * 255.0 if high > low else array * 0).astype(
                np.uint8
            )
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        return to_rgb(Image.fromarray(array))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(item) as image:
            image.load()
            return to_rgb(image)


def check_readable(paths: list[Path]) -> list[Path]:
    """Return the paths that PIL cannot open (header and checksum check, no full decode)."""
    bad = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.verify()
        except Exception:  # noqa: BLE001 - any failure means "unreadable" to the user
            bad.append(path)
    return bad


def bad_images_error(bad: list, source: str) -> SmallfitError:
    return SmallfitError(
        f"{len(bad)} image(s) in {source} cannot be read (corrupt or not images):\n"
        f"{list_some(bad)}\nFix or remove them, or pass --skip-bad to leave them out."
    )
