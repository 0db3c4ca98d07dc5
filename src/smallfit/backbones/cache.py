"""On-disk embedding cache: a second fit on the same data computes no embeddings.

Keys are (encoder id, item content hash). The encoder id covers architecture, weights
and preprocessing, so changing any of them never returns a stale vector. Vectors are
raw float32 bytes in SQLite (stdlib, safe to share between processes, no pickle).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

_PATH_HASHES: dict[tuple[str, int, int], str] = {}


def cache_dir() -> Path:
    return Path(os.environ.get("SMALLFIT_CACHE", Path.home() / ".cache" / "smallfit"))


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
    elif isinstance(item, np.ndarray):
        array = np.ascontiguousarray(item)
        digest.update(f"array\0{array.dtype}\0{array.shape}\0".encode() + array.tobytes())
    else:
        raise TypeError(f"Cannot hash an item of type {type(item).__name__}")
    return digest.hexdigest()


class EmbeddingCache:
    """Get and put float32 vectors by key for one encoder id."""

    def __init__(self, encoder_id: str, dim: int, directory: Path | None = None):
        self.encoder_id = encoder_id
        self.dim = dim
        directory = directory or cache_dir()
        directory.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(directory / "embeddings.sqlite", timeout=60)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (encoder TEXT, key TEXT, vector BLOB, "
            "PRIMARY KEY (encoder, key))"
        )

    def get(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, vector FROM vectors WHERE encoder = ? AND key IN ({marks})",
                [self.encoder_id, *chunk],
            )
            for key, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape == (self.dim,):
                    found[key] = vector
        return found

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        rows = [
            (self.encoder_id, key, np.asarray(v, dtype=np.float32).tobytes())
            for key, v in zip(keys, vectors, strict=True)
        ]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
