"""``Gallery``: known people and their faces on disk, searched by a real vector index.

Records live in one SQLite file (transactional, durable under ``kill -9``); vectors are served
by FAISS in memory (saved beside the file so reopening is fast) or, for a gallery that outgrows
one machine, by Milvus (``vectors="http://milvus:19530"``, or a Milvus Lite ``*.db`` file).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from faceprint.gallery.index import FaissIndex, MilvusIndex, VectorIndex
from faceprint.errors import GalleryError, ModelMismatchError
from faceprint.gallery.store import FaceRecord, GalleryStore, IdentityInfo
from faceprint.images import ImageInput

logger = logging.getLogger(__name__)

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Match:
    """One candidate identity: its name, the L2 distance of its closest face, and that face."""

    name: str
    distance: float
    face_id: int


@dataclass(frozen=True)
class Identification:
    """Who a query face is: ``name`` is the best match or ``"unknown"`` beyond the threshold.

    Attributes:
        name: best identity, or ``"unknown"``.
        distance: L2 distance to the best match (``inf`` for an empty gallery).
        matches: the top-k identities, nearest first (the best one even when unknown).
    """

    name: str
    distance: float
    matches: list[Match]

    @property
    def known(self) -> bool:
        return self.name != UNKNOWN


@dataclass
class EnrollReport:
    """What :meth:`Gallery.add` did with each image."""

    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)


class Gallery:
    """A persistent face gallery.

    Args:
        path: the gallery file (SQLite). Created on first use.
        model: registry name of the embedding model (``"ms-celeb-1m"``); a new gallery records
            it together with ``align``, and an existing one refuses any other.
        align: alignment method (``"box"``, ``"similarity"``, ``"none"``).
        threshold: L2 distance beyond which a face is ``"unknown"``. Given when the gallery is
            created, it is stored with it; default: the stored one, else the model's calibrated
            threshold for ``align``.
        vectors: None for the embedded FAISS index, or a Milvus URI (``"http://host:19530"``,
            or a Milvus Lite file ``"faces.db"``).
        recognizer: a ready :class:`faceprint.pipeline.FaceRecognizer` (its model and alignment
            must be the gallery's); otherwise built on first need.
        create: create the gallery if missing.

    Raises:
        GalleryError: the path is not a faceprint gallery (corrupt or foreign file).
        ModelMismatchError: the gallery was made with another model or alignment.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        model: str | None = None,
        align: str | None = None,
        threshold: float | None = None,
        vectors: str | None = None,
        recognizer=None,
        create: bool = True,
    ) -> None:
        from faceprint.weights.registry import get_weights

        self.path = Path(path)
        if recognizer is not None:
            model = model or recognizer.weights.name
            align = align or recognizer.alignment.method
        existing = self.path.exists()
        if model is None and not existing:
            from faceprint.pipeline import DEFAULT_MODEL

            model = DEFAULT_MODEL
        wanted = None if model is None else f"{model}/{align or 'box'}"
        dim = None if model is None else get_weights(model).embedding_size
        self.store = GalleryStore(self.path, model=wanted, dim=dim, create=create)
        if wanted is not None and existing and wanted != self.store.model:
            self.store.close()
            raise ModelMismatchError(
                f"{self.path} holds {self.store.model} embeddings; it cannot take {wanted} ones. "
                "Use the gallery's model or a new gallery."
            )
        self.model_name, self.align = self.store.model.split("/")
        stored = self.store.db.execute("SELECT value FROM meta WHERE key='threshold'").fetchone()
        if threshold is not None and not existing:
            self.store.db.execute("INSERT OR REPLACE INTO meta VALUES ('threshold', ?)", (str(float(threshold)),))
        if threshold is None:
            threshold = float(stored[0]) if stored else get_weights(self.model_name).thresholds.get(self.align)
        if threshold is None:
            self.store.close()
            raise GalleryError(
                f"{self.model_name} has no calibrated threshold for align={self.align!r}; pass threshold= when creating the gallery"
            )
        self.threshold = float(threshold)
        self._recognizer = recognizer
        if recognizer is not None and recognizer.name != self.store.model:
            raise ModelMismatchError(f"{self.path} holds {self.store.model} embeddings, the recognizer makes {recognizer.name}")
        self.vectors_uri = vectors
        self.index: VectorIndex = self._open_index()

    # -- the vector index ------------------------------------------------------------------
    @property
    def _index_path(self) -> Path:
        return self.path.with_name(self.path.name + ".faiss")

    def _open_index(self) -> VectorIndex:
        generation = self.store.generation
        if self.vectors_uri is None:
            index = FaissIndex.load(self._index_path, self.store.dim, generation)
            if index is not None:
                return index
            index = FaissIndex(self.store.dim)
            self._fill(index)
            index.save(self._index_path, generation)
            return index
        index = MilvusIndex(self.vectors_uri, self.store.dim, collection=_collection_name(self.path))
        synced = self.store.db.execute("SELECT value FROM meta WHERE key='vectors_generation'").fetchone()
        if synced is None or int(synced[0]) != generation:
            index.reset()
            self._fill(index)
            self._mark_vectors_synced(generation)
        return index

    def _fill(self, index: VectorIndex) -> None:
        for ids, vectors in self.store.iter_vectors():
            index.add(ids, vectors)

    def _mark_vectors_synced(self, generation: int) -> None:
        if self.vectors_uri is not None:
            self.store.db.execute("INSERT OR REPLACE INTO meta VALUES ('vectors_generation', ?)", (str(generation),))

    def refresh(self) -> None:
        """Reload the index if another process changed the gallery since it was opened."""
        if isinstance(self.index, FaissIndex):
            self.index.reset()
            self._fill(self.index)
        else:
            self.index = self._open_index()

    # -- writing ---------------------------------------------------------------------------
    def add_embeddings(
        self,
        name: str,
        embeddings: np.ndarray,
        sources: Sequence[str | None] | None = None,
        source_keys: Sequence[str | None] | None = None,
        boxes: Sequence[Sequence[float] | None] | None = None,
        metadata: Sequence[dict] | dict | None = None,
    ) -> list[int]:
        """Enrol ready embeddings under ``name`` in one transaction; returns the new face ids.

        Args:
            name: identity (created if new).
            embeddings: ``(N, D)`` float32 unit vectors from this gallery's model.
            sources: where each face came from (e.g. a file path).
            source_keys: a key per face; a face whose key is already enrolled for ``name`` is
                skipped (what makes re-running an enrolment resume instead of duplicate).
            boxes: ``(x1, y1, x2, y2)`` per face.
            metadata: a dict per face, or one dict for all.
        """
        embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if embeddings.shape[1] != self.store.dim:
            raise ModelMismatchError(f"embeddings of size {embeddings.shape[1]}; this gallery holds {self.store.dim}-d {self.store.model} ones")
        if not np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-3):
            raise ValueError("embeddings must be L2-normalised (unit length), as faceprint's models return them")
        n = len(embeddings)
        meta = metadata if isinstance(metadata, Sequence) else [metadata or {}] * n
        ids = self.store.add_faces(name, embeddings, sources or [None] * n, source_keys or [None] * n, boxes or [None] * n, meta)
        if ids:
            # The store skips already-enrolled sources: index exactly the rows it inserted.
            vectors = embeddings if len(ids) == n else self._vectors_of(ids)
            self.index.add(np.asarray(ids, dtype=np.int64), vectors)
        self._mark_vectors_synced(self.store.generation)
        return ids

    def _vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        rows = dict(self.store.db.execute(
            f"SELECT id, embedding FROM faces WHERE id IN ({','.join('?' * len(ids))})", list(ids)
        ).fetchall())
        return np.stack([np.frombuffer(rows[i], dtype=np.float32) for i in ids])

    def add(
        self,
        name: str,
        images: ImageInput | Sequence[ImageInput],
        largest: bool = False,
        metadata: dict | None = None,
        progress: bool = False,
    ) -> EnrollReport:
        """Detect, embed and enrol the face in each image under ``name``.

        Each image must hold exactly one face, unless ``largest`` is set (then its largest face
        is enrolled). Images without a face or with several are reported, not enrolled, and an
        image already enrolled for ``name`` is skipped. Each image is its own transaction.

        Returns:
            An :class:`EnrollReport` listing added, skipped and rejected images (with reasons).
        """
        from faceprint.images import as_image_list

        items = as_image_list(images)
        report = EnrollReport()
        recognizer = self.recognizer
        for item in tqdm(items, desc=f"enrolling {name}", unit="img", disable=not progress):
            label = str(item) if isinstance(item, (str, os.PathLike)) else f"image {len(report.added) + len(report.skipped) + len(report.rejected)}"
            try:
                key = source_key(item)
                if self.store.has_source(key, name):
                    report.skipped.append(label)
                    continue
                faces = recognizer.embed(item)
            except (GalleryError, ValueError, OSError) as e:
                report.rejected[label] = str(e)
                continue
            if not faces:
                report.rejected[label] = "no face found"
                continue
            if len(faces) > 1 and not largest:
                report.rejected[label] = f"{len(faces)} faces found; enrol one face per image (or pass largest=True)"
                continue
            face = max(faces, key=lambda f: float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))
            self.add_embeddings(name, face.embedding[None], [label], [key], [face.box.tolist()], [metadata or {}])
            report.added.append(label)
        return report

    def remove(self, name: str) -> int:
        """Remove an identity and its faces; returns how many faces went."""
        ids = self.store.remove(name)
        self.index.remove(np.asarray(ids, dtype=np.int64))
        self._mark_vectors_synced(self.store.generation)
        return len(ids)

    def rename(self, old: str, new: str) -> None:
        """Rename an identity (its faces follow)."""
        self.store.rename(old, new)
        self._mark_vectors_synced(self.store.generation)

    # -- reading ---------------------------------------------------------------------------
    def list(self) -> list[IdentityInfo]:
        """Every identity with its face count, creation time and metadata, by name."""
        return self.store.identities()

    def faces(self, name: str | None = None) -> list[FaceRecord]:
        """Stored faces (without embeddings), of one identity or all."""
        return self.store.faces(name)

    def __len__(self) -> int:
        return self.store.face_count()

    def search(self, embeddings: np.ndarray, k: int = 1) -> list[Identification]:
        """Identify each query embedding.

        Args:
            embeddings: ``(Q, D)`` (or ``(D,)``) unit embeddings from the gallery's model.
            k: how many identities to return per query.

        Returns:
            One :class:`Identification` per query: the top-``k`` identities by the distance of
            their closest face, and ``"unknown"`` when even the best is beyond the threshold.
        """
        queries = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if queries.shape[1] != self.store.dim:
            raise ModelMismatchError(f"queries of size {queries.shape[1]}; this gallery holds {self.store.dim}-d {self.store.model} embeddings")
        total = len(self.index)
        if total == 0:
            return [Identification(UNKNOWN, float("inf"), []) for _ in queries]
        # Several faces may belong to one identity: fetch enough faces to fill k identities.
        depth = min(total, max(k * 8, 32))
        sims, ids = self.index.search(queries, depth)
        names = self.store.names_of(np.unique(ids[ids >= 0]).tolist())
        results = []
        for row_sims, row_ids in zip(sims, ids):
            matches: dict[str, Match] = {}
            for sim, face_id in zip(row_sims, row_ids):
                name = names.get(int(face_id))
                if name is None or name in matches:
                    continue
                distance = float(np.sqrt(max(0.0, 2.0 - 2.0 * float(sim))))
                matches[name] = Match(name, distance, int(face_id))
                if len(matches) == k:
                    break
            ordered = sorted(matches.values(), key=lambda m: m.distance)
            best = ordered[0] if ordered else None
            known = best is not None and best.distance < self.threshold
            results.append(Identification(best.name if known else UNKNOWN, best.distance if best else float("inf"), ordered))
        return results

    @property
    def recognizer(self):
        """The :class:`faceprint.pipeline.FaceRecognizer` matching the gallery's model."""
        if self._recognizer is None:
            from faceprint.pipeline import FaceRecognizer

            self._recognizer = FaceRecognizer(model=self.model_name, align=self.align, threshold=self.threshold)
        return self._recognizer

    # -- exchange --------------------------------------------------------------------------
    def export(self, path: str | os.PathLike) -> int:
        """Write every face (with embedding and records) to an ``.npz`` file; returns the count."""
        faces = self.store.faces()
        vectors = {i: v for ids, vs in self.store.iter_vectors() for i, v in zip(ids.tolist(), vs)}
        identities = {i.name: i.metadata for i in self.store.identities()}
        np.savez(
            path,
            model=np.array(self.store.model),
            names=np.array([f.identity for f in faces], dtype=str),
            sources=np.array([f.source or "" for f in faces], dtype=str),
            keys=np.array([f.source_key or "" for f in faces], dtype=str),
            records=np.array([json.dumps({"box": f.box, "added": f.added, "metadata": f.metadata}) for f in faces], dtype=str),
            identities=np.array(json.dumps(identities)),
            embeddings=np.stack([vectors[f.id] for f in faces]) if faces else np.zeros((0, self.store.dim), np.float32),
        )
        return len(faces)

    def import_(self, path: str | os.PathLike) -> int:
        """Merge a file written by :meth:`export` (same model only); returns faces added."""
        with np.load(path) as f:
            if str(f["model"]) != self.store.model:
                raise ModelMismatchError(f"{path} holds {f['model']} embeddings; this gallery holds {self.store.model}")
            names, sources, records, embeddings = f["names"], f["sources"], f["records"], f["embeddings"]
            stored_keys = f["keys"] if "keys" in f else np.full(len(names), "")
        added = 0
        for name in dict.fromkeys(names.tolist()):
            rows = np.flatnonzero(names == name)
            recs = [json.loads(records[i]) for i in rows]
            # The enrolment's own key where it had one, so importing into the original skips it.
            keys = [stored_keys[i] or hashlib.sha256(embeddings[i].tobytes()).hexdigest() for i in rows]
            added += len(self.add_embeddings(
                name, embeddings[rows], [sources[i] or None for i in rows], keys, [r["box"] for r in recs], [r["metadata"] for r in recs]
            ))
        return added

    def close(self) -> None:
        """Save the FAISS index beside the gallery (for a fast next open) and close. Idempotent."""
        if self.store.closed:
            return
        if isinstance(self.index, FaissIndex):
            self.index.save(self._index_path, self.store.generation)
        elif isinstance(self.index, MilvusIndex):
            self.index.close()
        self.store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def source_key(image: ImageInput) -> str:
    """A content hash identifying an enrolment source (the file's bytes, or the pixels)."""
    if isinstance(image, (str, os.PathLike)):
        digest = hashlib.sha256()
        with open(image, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    from faceprint.images import to_rgb_array

    return hashlib.sha256(to_rgb_array(image).tobytes()).hexdigest()


def _collection_name(path: Path) -> str:
    return "faceprint_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
