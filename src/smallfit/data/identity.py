"""Item identity: a content hash, so the same picture or text gives the same key wherever
it lives (the embedding cache, duplicate and leakage checks, pool de-duplication)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from smallfit.data.audio import AugmentedSound, Sound
from smallfit.data.images import AugmentedImage

_PATH_HASHES: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, remembered per (path, size, mtime) within the process."""
    stat = path.stat()
    memo_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo_key not in _PATH_HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _PATH_HASHES[memo_key] = digest.hexdigest()
    return _PATH_HASHES[memo_key]


def item_key(item: Any) -> str:
    """A content hash of an item: the same picture or text gives the same key wherever it lives."""
    digest = hashlib.sha256()
    if isinstance(item, str):
        digest.update(b"text\0" + item.encode("utf-8"))
    elif isinstance(item, Path):
        return "file:" + file_digest(item)
    elif isinstance(item, Image.Image):
        digest.update(f"pil\0{item.mode}\0{item.size}\0".encode() + item.tobytes())
    elif isinstance(item, dict):  # a table's row: its columns' values, whatever their order
        digest.update(b"row\0" + json.dumps(sorted(item.items()), default=str).encode())
    elif isinstance(item, Sound):
        samples = item.samples
        digest.update(f"sound\0{item.rate}\0{samples.size}\0".encode() + samples.tobytes())
    elif isinstance(item, AugmentedSound | AugmentedImage):
        source = item_key(item.source)
        digest.update(f"augmented\0{source}\0{item.recipe_id}\0{item.seed}".encode())
    elif isinstance(item, np.ndarray):
        array = np.ascontiguousarray(item)
        digest.update(f"array\0{array.dtype}\0{array.shape}\0".encode() + array.tobytes())
    else:
        raise TypeError(f"Cannot hash an item of type {type(item).__name__}")
    return digest.hexdigest()


def copy_seed(seed: int, item: Any, copy: int) -> int:
    """The random draw of augmented copy number `copy` of `item`: from (seed, the item's
    content, the copy number), so an item gets the same copies in every fold and each
    copy is made and embedded once."""
    key = hashlib.sha256(f"{seed}|{item_key(item)}|{copy}".encode()).digest()
    return int.from_bytes(key[:8], "little")
