"""Augmentation presets (torchvision.transforms.v2), applied before an encoder's resizing."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision.transforms import v2

from smallfit.data.identity import copy_seed
from smallfit.data.images import AugmentedImage, load_image

IMAGE_PRESETS = ("none", "light", "medium", "strong")


def image_augmentation(preset: str, size: int) -> list:
    """Random transforms on a uint8 image tensor, producing a `size` x `size` crop.

    light: random resized crop (80-100% of the area) and horizontal flips;
    medium: also small rotations and colour jitter; strong: TrivialAugment and erasing.
    """
    if preset not in IMAGE_PRESETS:
        raise ValueError(f"Unknown augmentation {preset!r}; choose from {IMAGE_PRESETS}.")
    if preset == "none":
        return []
    crop = v2.RandomResizedCrop(
        size,
        scale=(0.8 if preset == "light" else 0.6, 1.0),
        interpolation=v2.InterpolationMode.BICUBIC,
        antialias=True,
    )
    steps = [crop, v2.RandomHorizontalFlip()]
    if preset in ("medium", "strong"):
        steps += [v2.RandomRotation(10), v2.ColorJitter(0.2, 0.2, 0.2)]
    if preset == "strong":
        steps += [v2.TrivialAugmentWide()]
    return steps


def image_erasing(preset: str) -> list:
    """Random erasing works on the normalised float tensor, so it comes last."""
    return [v2.RandomErasing(p=0.25)] if preset == "strong" else []


def mirrored(items: list) -> list[Image.Image]:
    """Left-right mirrored copies of image items: the test-time augmentation view.

    A mirror is the one view that keeps the whole image at the scale the model was fitted
    on; averaging its prediction with the original's is the usual cheap TTA.
    """
    return [ImageOps.mirror(load_image(item)) for item in items]


# Copies for a probe are reframed as "light" training views are (a crop of 80-100% of the
# area, mirrored half the time) and made at COPY_SIDE pixels on the short side: the
# encoders' input before their crop, so a crop of an 8x8 image moves by fractions of its
# pixels, and a 12-megapixel photo's copy is not made at full size only to be shrunk.
# Changing a value changes COPY_RECIPE, so cached embeddings of old copies are not reused.
COPY_SIDE = 256
COPY_AREA = (0.8, 1.0)
COPY_ASPECT = (3 / 4, 4 / 3)
COPY_RECIPE = f"reframed2|{COPY_SIDE}|{COPY_AREA}|{COPY_ASPECT}|mirror0.5"


def reframed(image: Image.Image, seed: int) -> Image.Image:
    """`image` as another shot of the same thing might frame it: a random crop of
    COPY_AREA of its area (aspect ratio within COPY_ASPECT, placed to a fraction of a
    pixel), scaled to the image's shape at COPY_SIDE pixels on the short side, mirrored
    half the time. Every draw comes from `seed` (torchvision's transforms draw from
    torch's global generator, which embedding's preparing thread must not share), hence
    written here."""
    rng = np.random.default_rng(seed)
    width, height = image.size
    area = width * height * rng.uniform(*COPY_AREA)
    aspect = np.exp(rng.uniform(*np.log(COPY_ASPECT)))
    crop_width = min(width, np.sqrt(area * aspect))
    crop_height = min(height, np.sqrt(area / aspect))
    left = rng.uniform(0, width - crop_width)
    top = rng.uniform(0, height - crop_height)
    scale = COPY_SIDE / min(width, height)
    size = (round(width * scale), round(height * scale))
    box = (left, top, left + crop_width, top + crop_height)
    view = image.resize(size, Image.Resampling.BICUBIC, box=box)
    return ImageOps.mirror(view) if rng.random() < 0.5 else view


def augmented_images(items: list, copies: int, seed: int) -> list[AugmentedImage]:
    """`copies` reframed versions of each item, copy by copy (all first copies, then all
    second ones), each drawn by copy_seed."""
    return [
        AugmentedImage(item, copy_seed(seed, item, copy), reframed, COPY_RECIPE)
        for copy in range(copies)
        for item in items
    ]


def shifted(x: torch.Tensor, pixels: int, generator: torch.Generator) -> torch.Tensor:
    """Each image (n, C, H, W) moved by a random offset of up to `pixels` in each direction,
    the edges repeated into the gap: the cheap augmentation for a network that learns from
    raw pixels, where a digit or a defect one pixel over is the same class."""
    if pixels <= 0:
        return x
    if x.ndim != 4:
        raise ValueError("shift works on images (n, C, H, W) only.")
    height, width = x.shape[-2:]
    padded = torch.nn.functional.pad(x, (pixels,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * pixels + 1, (len(x), 2), generator=generator).tolist()
    return torch.stack(
        [
            image[:, top : top + height, left : left + width]
            for image, (top, left) in zip(padded, offsets, strict=True)
        ]
    )
