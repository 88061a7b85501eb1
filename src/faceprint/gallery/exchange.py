"""Moving a gallery's faces and negatives between files: export to ``.npz``, import (merge)
from it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceprint.errors import GalleryError, ModelMismatchError
from faceprint.extras import require
from faceprint.gallery.vectors import unit_rows

if TYPE_CHECKING:
    from faceprint.gallery.core import GalleryCore


def export_gallery(gallery: GalleryCore, path: str | os.PathLike) -> Path:
    """Write every face (embedding and records) and every negative ("not this person") of
    ``gallery`` to an ``.npz`` file.

    Returns:
        The path written: ``path``, with ``.npz`` appended unless it already ends so (numpy
        would append it anyway).
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    store = gallery.store
    faces = store.faces()
    identities = {i.name: i.metadata for i in store.identities()}
    negatives = store.negatives()
    np.savez(
        path,
        model=np.array(store.model),
        names=np.array([f.identity for f in faces], dtype=str),
        sources=np.array([f.source or "" for f in faces], dtype=str),
        keys=np.array([f.source_key or "" for f in faces], dtype=str),
        records=np.array(
            [json.dumps({"box": f.box, "added": f.added, "metadata": f.metadata}) for f in faces],
            dtype=str,
        ),
        identities=np.array(json.dumps(identities)),
        embeddings=store.vectors([f.id for f in faces]),
        negative_names=np.array([n.identity for n in negatives], dtype=str),
        negative_sources=np.array([n.source or "" for n in negatives], dtype=str),
        negative_embeddings=(
            np.stack([n.embedding for n in negatives])
            if negatives
            else np.zeros((0, store.dim), np.float32)
        ),
    )
    return path


def exported_model(path: str | os.PathLike) -> str:
    """The ``model/alignment`` of an exported file."""
    try:
        with np.load(path) as f:
            return str(f["model"])
    except (OSError, ValueError, KeyError) as e:
        raise GalleryError(f"{path}: not a gallery export ({e})") from None


def import_gallery(gallery: GalleryCore, path: str | os.PathLike) -> int:
    """Merge a file written by :func:`export_gallery` (same model only); returns faces added.

    Its negatives are merged too, each once: one the gallery holds already (same name, same
    embedding) is not added again.
    """
    with np.load(path) as f:
        if str(f["model"]) != gallery.model:
            raise ModelMismatchError(
                f"{path} holds {f['model']} embeddings; this gallery holds {gallery.model}"
            )
        names, sources, records, embeddings = (
            f["names"],
            f["sources"],
            f["records"],
            f["embeddings"],
        )
        stored_keys = f["keys"] if "keys" in f else np.full(len(names), "")
        # Files exported before negatives existed hold none.
        negative_names = f["negative_names"] if "negative_names" in f else np.array([], str)
        negative_sources = f.get("negative_sources", negative_names)
        negative_embeddings = f.get("negative_embeddings", np.zeros((0, 1), np.float32))
    embeddings = unit_rows(embeddings, f"{path}: embeddings")  # all checked before any is added
    if len(negative_names):
        negative_embeddings = unit_rows(negative_embeddings, f"{path}: negative embeddings")
    added = 0
    for name in dict.fromkeys(names.tolist()):
        rows = np.flatnonzero(names == name)
        recs = [json.loads(records[i]) for i in rows]
        # The enrolment's own key where it had one, so importing into the original skips it.
        keys = [stored_keys[i] or hashlib.sha256(embeddings[i].tobytes()).hexdigest() for i in rows]
        added += len(
            gallery.add_embeddings(
                name,
                embeddings[rows],
                [sources[i] or None for i in rows],
                keys,
                [r["box"] for r in recs],
                [r["metadata"] for r in recs],
            )
        )
    held: dict[str, list[np.ndarray]] = {}
    for negative in gallery.store.negatives():
        held.setdefault(negative.identity, []).append(negative.embedding)
    for name, source, embedding in zip(
        negative_names.tolist(), negative_sources.tolist(), negative_embeddings, strict=True
    ):
        # The same negative, up to float32 rounding of its renormalisation, is there already.
        if any(float(np.dot(v, embedding)) > 1 - 1e-6 for v in held.get(name, [])):
            continue
        gallery.add_negative(name, embedding, source or None)
        held.setdefault(name, []).append(embedding)
    return added


def _pyarrow_dataset():
    return require("pyarrow.dataset", "parquet", "reading an embed job's dataset")


def dataset_model(path: str | os.PathLike) -> str:
    """The ``model/alignment`` of an embed job's Parquet dataset (from its first face row)."""
    ds = _pyarrow_dataset()

    for batch in ds.dataset(str(path), format="parquet").to_batches(
        columns=["model", "alignment", "embedding"]
    ):
        for model, align, emb in zip(*(batch.column(i).to_pylist() for i in range(3)), strict=True):
            if emb is not None:
                return f"{model}/{align}"
    raise GalleryError(f"{path}: the dataset holds no face to import")


def import_face_rows(
    gallery: GalleryCore, path: str | os.PathLike, name_from: str = "parent-dir", rows: int = 4096
) -> int:
    """Stream an embed job's Parquet dataset into ``gallery``, ``rows`` at a time (never the
    whole dataset in memory); each face is named by its image's folder. Returns faces added;
    a face already imported (same path and face index) is skipped.
    """
    ds = _pyarrow_dataset()

    if name_from != "parent-dir":
        raise ValueError(f"name_from must be 'parent-dir', got {name_from!r}")
    added = 0
    columns = ["path", "face", "box", "embedding", "model", "alignment"]
    for batch in ds.dataset(str(path), format="parquet").to_batches(
        columns=columns, batch_size=rows
    ):
        data = {name: batch.column(name).to_pylist() for name in columns}
        groups: dict[str, list[int]] = {}
        for i, embedding in enumerate(data["embedding"]):
            if embedding is None:
                continue
            made_by = f"{data['model'][i]}/{data['alignment'][i]}"
            if made_by != gallery.model:
                raise ModelMismatchError(
                    f"{path} holds {made_by} embeddings; this gallery holds {gallery.model}"
                )
            groups.setdefault(os.path.basename(os.path.dirname(data["path"][i])), []).append(i)
        for name, members in groups.items():
            added += len(
                gallery.add_embeddings(
                    name,
                    np.asarray([data["embedding"][i] for i in members], dtype=np.float32),
                    [data["path"][i] for i in members],
                    [f"{data['path'][i]}#{data['face'][i]}" for i in members],
                    [data["box"][i] for i in members],
                )
            )
    return added
