"""Images: files (JPEG, PNG, ...) in class folders, PIL images or arrays."""

from __future__ import annotations

import base64
import io
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from smallfit import backbones
from smallfit.data import Dataset
from smallfit.data.images import (
    bad_images_error,
    check_readable,
    find_images,
    is_image_path,
    load_image,
)
from smallfit.errors import SmallfitError, list_some
from smallfit.modalities.base import BadUpload, Modality, RawFeatures
from smallfit.modalities.files import copy_labeled, existing_files, labeled_folder, unlabeled_folder
from smallfit.progress import progress_bar

# Decoded, an image takes 3 bytes per pixel whatever its file size (a 20 kB PNG can hold
# 100 million pixels); this bounds one upload to 75 MB of memory, above a 24 MP photo.
MAX_IMAGE_PIXELS = 25_000_000
THUMBNAIL = 64  # pixels on the longer side of the report's thumbnails
THUMBNAIL_SIDES = (16, 32)  # near-duplicates: the data's smallest side, within these bounds


class Pixels(RawFeatures):
    """Downscaled raw pixels (the `pixels` encoder's 32x32 RGB), standardised."""

    backbone = "pixels"
    scale = True
    dense = True
    # Pixels are highly correlated: logistic regression on their top 256 principal
    # components ("eigen-images") was as accurate as on all 3,072 values on 5,000
    # Fashion-MNIST images (82.5% vs 82.6% held out) and fitted 2x faster; it bounds the
    # baseline's cost at large n.
    max_rank = 256

    def transform(self, items: list[Any]) -> np.ndarray:
        return backbones.create(self.backbone).embed(items)


class ImageModality(Modality):
    name = "image"
    plural = "images"
    python_items = "paths, PIL images or numpy arrays"
    default_backbone = "efficientnet_lite0"
    # pretrained embeddings: a probe on the pooled output of every stage of the encoder
    # (Head2Toe: the earlier, generic stages carry what images far from ImageNet differ by),
    # trained on each image and a reframed copy of it (cropped, mirrored: how two shots of
    # one thing differ), and prototypes (on the last stage: a nearest mean of every stage
    # trailed every other candidate); raw pixels (classic); and a small CNN that learns
    # features from the user's own pixels (scratch: the strong one when the images are far
    # from the pretraining data, such as handwriting). One probe: a second on the last
    # stage alone, or the same probe without the copy, would count one view twice in the
    # average. One copy, not two: with two, the probe's fits on 500 images took 43% of the
    # whole fit.
    candidates = (
        ("probe", {"copies": 1}, "efficientnet_lite0_stages"),
        ("prototype", {}),
        ("classic", {}),
        ("scratch", {}),
    )
    # SetFit-style contrastive tuning is left out: supervised contrastive learning pays
    # with large data and strong augmentation (Khosla et al. 2020), not a few dozen images.
    full_candidates = (("finetune", {}),)
    search_choices = {
        "finetune": {
            "augment": [None, "none", "medium", "strong"],  # None: the default (light)
            "mix": ["none", "mixup", "cutmix"],
        }
    }
    strategy_defaults = {"finetune": {"augment": "light"}, "contrastive": {"loss": "supcon"}}
    weak_augment = "light"
    examples_per_class = 4
    upload_files = True
    upload_description = "images (JPEG, PNG, BMP, GIF, WebP, TIFF)"
    request_limits = {"max_image_pixels": MAX_IMAGE_PIXELS}

    def raw_features(self) -> Pixels:
        return Pixels()

    def augmented(self, items: list[Any], copies: int, seed: int) -> list[Any]:
        from smallfit.augment import augmented_images

        return augmented_images(items, copies, seed)

    def claims(self, item: Any) -> bool:
        if isinstance(item, Image.Image):
            return True
        if isinstance(item, Path):
            return is_image_path(item)
        if isinstance(item, np.ndarray):
            return item.ndim in (2, 3)
        if isinstance(item, str) and len(item) < 4096:
            path = Path(item)
            return is_image_path(path) and path.is_file()
        return False

    def from_items(self, items: list[Any]) -> tuple[list[Any], list[str]]:
        items = [Path(i) if isinstance(i, str) else i for i in items]
        names = [str(i) if isinstance(i, Path) else f"item {k}" for k, i in enumerate(items)]
        bad = check_readable([i for i in items if isinstance(i, Path)])
        if bad:
            raise bad_images_error(bad, "the given items")
        return items, names

    def read_path(self, path: Path, labeled: bool) -> Dataset | None:
        if path.is_dir():
            if labeled:
                return labeled_folder(path, find_images, self.name, self.plural, "*.jpg")
            return unlabeled_folder(path, find_images, self.name, self.plural)
        if not is_image_path(path):
            return None
        if labeled:
            raise SmallfitError(
                f"{path} is a single image; labeled images come as a folder root/<class>/*.jpg."
            )
        return Dataset(items=[path], modality=self.name, names=[str(path)], source=str(path))

    def finds(self, folder: Path) -> bool:
        return any(find_images(folder))

    def drop_unreadable(self, dataset: Dataset, skip_bad: bool) -> Dataset:
        bad = set(check_readable(dataset.items))
        if not bad:
            return dataset
        if not skip_bad:
            raise bad_images_error(sorted(bad), dataset.source)
        warnings.warn(
            f"Skipping {len(bad)} unreadable image(s) in {dataset.source}:\n"
            + list_some(sorted(bad)),
            stacklevel=3,
        )
        keep = [i for i, item in enumerate(dataset.items) if item not in bad]
        if not keep:
            raise bad_images_error(sorted(bad), dataset.source)
        return dataset.subset(keep)

    def answer_items(self, values: list[str], rows: list[int], answers: Path) -> list[Any]:
        return existing_files(values, rows, answers, "image")

    def write_labeled(
        self,
        data: Path,
        into: Path,
        items: list[Any],
        labels: list[Any],
        *,
        text_column: str | None,
        label_column: str | None,
    ) -> None:
        copy_labeled(data, into, items, labels)

    def example_html(self, entry: dict, esc) -> str:
        name = entry.get("item", "")
        uri = thumbnail(name)
        if uri:
            return f'<img class=thumb src="{uri}" alt="{esc(Path(name).name)}" title="{esc(name)}">'
        return f"<code>{esc(Path(name).name)}</code>"

    def item_html(self, item: Any, name: str, esc) -> str:
        uri = picture_uri(load_image(item), 192, "PNG")
        return f'<img src="{uri}" alt="{esc(name)}">'

    def short_name(self, name: str) -> str:
        return Path(name).name

    def test_time_views(self, items: list[Any]) -> list[list[Any]]:
        from smallfit.augment import mirrored

        return [mirrored(items)]

    def decode_file(self, data: bytes, name: str) -> Image.Image:
        """An upload as an RGB image, by the path files take (`load_image`); refuses files
        that are not images, and images over MAX_IMAGE_PIXELS before decoding them."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data))  # reads the header only
        except Image.DecompressionBombError:
            raise BadUpload(413, f"{name} has too many pixels to decode safely.") from None
        except Exception:  # noqa: BLE001 - PIL raises several types; the client needs one
            raise BadUpload(422, f"{name} is not an image that can be read.") from None
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise BadUpload(
                413, f"{name} is {width}x{height} pixels; the limit is {MAX_IMAGE_PIXELS:,} pixels."
            )
        try:
            return load_image(image)
        except Exception:  # noqa: BLE001 - truncated or corrupt data fails in many ways
            raise BadUpload(422, f"{name} cannot be decoded (truncated or corrupt).") from None

    def warm_up_items(self) -> list[Any]:
        return [Image.new("RGB", (224, 224), (128, 128, 128))]

    export_axes = {"pixel_values": {0: "batch"}}
    # Dynamic quantisation suits transformers, not convolutional networks: it turns
    # EfficientNet-Lite0's convolutions into ConvInteger, which took a Fashion-MNIST probe
    # from 81.2% to 40.5% accuracy and ran 5-6 times slower than fp32 (benchmarks/RESULTS.md;
    # one scale per channel did not help); so image models get no int8 copy.
    int8_refusal = (
        "--int8 is for text models: ONNX Runtime's dynamic int8 quantisation of EfficientNet's "
        "convolutions halved accuracy and ran many times slower when measured "
        "(benchmarks/RESULTS.md). Export image models without --int8."
    )

    def export_graph(self, network: Any) -> Any:
        return network  # pixel_values in, probabilities out

    def export_example(self, encoder: Any, n: int) -> dict[str, Any]:
        """Noise images of different sizes, preprocessed by the encoder."""
        rng = np.random.default_rng(n)
        images = [
            Image.fromarray(rng.integers(0, 256, (64 + 16 * i, 80, 3), dtype=np.uint8))
            for i in range(n)
        ]
        return {"pixel_values": encoder.body_input(images)}

    def near_duplicate_distances(self, items: list[Any]) -> tuple[np.ndarray, str] | None:
        return thumbnail_distances(items), "thumbnail"


@lru_cache(maxsize=512)
def thumbnail(item: str) -> str | None:
    """A 64-pixel JPEG of the image file at `item` as a data URI (the report is one file),
    or None if the file is gone or unreadable."""
    path = Path(item)
    if not path.is_file():
        return None
    try:
        image = load_image(path)
    except Exception:  # noqa: BLE001 - a moved or damaged file just loses its thumbnail
        return None
    return picture_uri(image, THUMBNAIL, "JPEG")


def picture_uri(image: Image.Image, side: int, kind: str) -> str:
    """`image` shrunk to at most `side` pixels as a data URI (PNG, or JPEG at quality 85),
    so an HTML page that shows it is one file."""
    image = image.copy()
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **({"quality": 85} if kind == "JPEG" else {}))
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/{kind.lower()};base64,{data}"


def thumbnail_distances(items: list[Any]) -> np.ndarray:
    """1 - correlation of grey thumbnails, at the best of the nine one-pixel offsets: it
    ignores brightness and contrast (darkened, brightened, re-encoded copies) and a shift by
    one pixel, which moves a small picture's embedding about as far as a different item.

    The thumbnail side is the smallest image side in the data (16 to 32 pixels), so a small
    image is never enlarged and a one-pixel shift of it stays one thumbnail pixel. Each
    thumbnail's border pixel is cropped so the nine offset windows compare the same area.
    """
    images = []
    with progress_bar(len(items), "Thumbnails") as advance:
        for item in items:
            images.append(load_image(item).convert("L"))
            advance()
    side = int(np.clip(min(min(i.size) for i in images), *THUMBNAIL_SIDES))
    grey = np.stack([np.asarray(i.resize((side, side)), dtype=np.float32) for i in images])

    def windows(dx: int, dy: int) -> np.ndarray:
        part = grey[:, 1 + dy : side - 1 + dy, 1 + dx : side - 1 + dx].reshape(len(grey), -1)
        part = part - part.mean(axis=1, keepdims=True)
        return part / np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-6)

    centre = windows(0, 0)
    best = np.full((len(grey), len(grey)), -1.0, dtype=np.float32)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            np.maximum(best, windows(dx, dy) @ centre.T, out=best)
    best = np.maximum(best, best.T)
    return np.clip(1.0 - best, 0.0, 2.0)
