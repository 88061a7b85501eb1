"""Vector indexes behind a gallery: FAISS on this machine, or a Milvus server/Milvus Lite file.

Both hold unit embeddings keyed by the face id and answer inner-product (cosine) top-k
queries; for unit vectors the L2 distance is ``sqrt(2 - 2 * similarity)``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from faceprint.extras import require
from faceprint.files import atomic_path

logger = logging.getLogger(__name__)

_MAGIC = "faceprint-faiss-1"


class VectorIndex(Protocol):
    """What a gallery needs of a vector index."""

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``(N,)`` int64 ids with their ``(N, D)`` float32 unit vectors."""

    def remove(self, ids: np.ndarray) -> None:
        """Remove these ids."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` by inner product: ``(similarities (Q, k), ids (Q, k))``, id -1 where fewer."""

    def __len__(self) -> int: ...

    def reset(self) -> None:
        """Remove everything (before a full re-sync from the store)."""


class FaissIndex:
    """Exact inner-product search with FAISS (``IndexIDMap2`` over ``IndexFlatIP``).

    The index lives in memory; :meth:`save` writes it with the change-log sequence it holds, so
    the next open loads it and catches up from the log instead of rebuilding.
    """

    def __init__(self, dim: int) -> None:
        import faiss

        self._faiss = faiss
        self.dim = dim
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
        )

    def remove(self, ids: np.ndarray) -> None:
        self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def __len__(self) -> int:
        return self.index.ntotal

    def reset(self) -> None:
        self.index = self._faiss.IndexIDMap2(self._faiss.IndexFlatIP(self.dim))

    def save(self, path: str | os.PathLike, uid: str, sequence: int) -> None:
        """Write the index atomically to ``path``, stamped inside the same file with the
        gallery's ``uid`` and the change-log ``sequence`` it holds (a stamp written beside it
        could pair with another writer's index)."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            data = self._faiss.serialize_index(self.index)
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                f.write(f"{_MAGIC} {uid} {int(sequence)}\n".encode())
                f.write(memoryview(data))
            # The stamp of the index format before the change log.
            path.with_name(path.name + ".generation").unlink(missing_ok=True)
        except (OSError, RuntimeError) as e:  # a cache: losing it only costs a rebuild
            logger.warning("cannot save the vector index %s: %s", path, e)

    @classmethod
    def load(cls, path: str | os.PathLike, dim: int, uid: str) -> tuple[FaissIndex, int] | None:
        """The index saved at ``path`` for gallery ``uid`` and the sequence it holds; None when
        there is none, it is another gallery's, of another size, or unreadable."""
        path = Path(path)
        if not path.is_file():
            return None
        try:
            with open(path, "rb") as f:
                header = f.readline(256).decode("ascii", "replace").split()
                if len(header) != 3 or header[0] != _MAGIC or header[1] != uid:
                    return None
                sequence = int(header[2])
                data = np.frombuffer(f.read(), dtype=np.uint8)
            out = cls(dim)
            index = out._faiss.deserialize_index(data)
        except (RuntimeError, ValueError, OSError) as e:
            logger.warning("ignoring unreadable vector index %s: %s", path, e)
            return None
        if index.d != dim:
            return None
        out.index = index
        return out, sequence


def require_milvus():
    """The pymilvus module, or MissingExtraError naming the ``milvus`` extra."""
    return require("pymilvus", "milvus", "a Milvus vector store (vectors=, --vectors)")


class MilvusIndex:
    """Vectors in Milvus: a Milvus Lite file (``path.db``) or a server/cluster URI.

    Args:
        uri: ``"./faces.db"`` (Milvus Lite) or ``"http://host:19530"`` (a server or cluster).
        dim: embedding size.
        collection: collection name.
        token: credentials for a secured server (``"user:password"`` or an API key).
    """

    def __init__(
        self, uri: str, dim: int, collection: str = "faceprint_faces", token: str | None = None
    ) -> None:
        self.client = require_milvus().MilvusClient(uri=uri, token=token or "")
        self.collection = collection
        self.dim = dim
        if self.client.has_collection(collection):
            # A collection another process created is "released" here until loaded; searching
            # it unloaded fails with "call load() before search".
            self.client.load_collection(collection)
        else:
            self._create()

    def _create(self) -> None:
        self.client.create_collection(
            self.collection,
            dimension=self.dim,
            metric_type="IP",
            auto_id=False,
            id_type="int",
            consistency_level="Strong",
        )

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        for start in range(0, len(ids), 10000):
            rows = [
                {"id": int(i), "vector": v.tolist()}
                for i, v in zip(
                    ids[start : start + 10000], vectors[start : start + 10000], strict=True
                )
            ]
            self.client.upsert(self.collection, rows)

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self.client.delete(self.collection, ids=[int(i) for i in ids])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        hits = self.client.search(
            self.collection,
            data=np.asarray(queries, dtype=np.float32).tolist(),
            limit=k,
            output_fields=[],
        )
        sims = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for q, row in enumerate(hits):
            for j, hit in enumerate(row):
                sims[q, j], ids[q, j] = hit["distance"], hit["id"]
        return sims, ids

    def __len__(self) -> int:
        return int(
            self.client.query(self.collection, filter="", output_fields=["count(*)"])[0]["count(*)"]
        )

    def reset(self) -> None:
        self.client.drop_collection(self.collection)
        self._create()

    def close(self) -> None:
        self.client.close()
