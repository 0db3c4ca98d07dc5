"""On-disk embedding cache: a second fit on the same data computes no embeddings.

Keys are (encoder id, item content hash). The encoder id covers architecture, weights
and preprocessing, so changing any of them never returns a stale vector. Vectors are
raw float32 bytes in SQLite (stdlib, safe to share between processes, no pickle). An
encoder may be used from several threads (a server's), and a SQLite connection belongs
to the thread that opened it, so each thread opens its own.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    return Path(os.environ.get("SMALLFIT_CACHE", Path.home() / ".cache" / "smallfit"))


class EmbeddingCache:
    """Get and put float32 vectors by key for one encoder id."""

    def __init__(self, encoder_id: str, dim: int, directory: Path | None = None):
        self.encoder_id = encoder_id
        self.dim = dim
        directory = directory or cache_dir()
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "embeddings.sqlite"
        self._local = threading.local()
        self._connection()

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection to the cache, opened on first use."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, timeout=60)
            db.execute(
                "CREATE TABLE IF NOT EXISTS vectors (encoder TEXT, key TEXT, vector BLOB, "
                "PRIMARY KEY (encoder, key))"
            )
        return db

    def get(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._connection().execute(
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
        db = self._connection()
        with db:
            db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
