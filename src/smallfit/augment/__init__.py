"""Augmentation presets (torchvision.transforms.v2), applied before an encoder's resizing."""

from __future__ import annotations

import torch
from PIL import Image, ImageOps
from torchvision.transforms import v2

from smallfit.data.images import load_image

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
