"""Moving a gallery's faces between files: export to ``.npz``, import (merge) from it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceprint.errors import GalleryError, ModelMismatchError

if TYPE_CHECKING:
    from faceprint.gallery.gallery import Gallery


def export_gallery(gallery: Gallery, path: str | os.PathLike) -> Path:
    """Write every face (embedding and records) of ``gallery`` to an ``.npz`` file.

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
    )
    return path


def exported_model(path: str | os.PathLike) -> str:
    """The ``model/alignment`` of an exported file."""
    try:
        with np.load(path) as f:
            return str(f["model"])
    except (OSError, ValueError, KeyError) as e:
        raise GalleryError(f"{path}: not a gallery export ({e})") from None


def import_gallery(gallery: Gallery, path: str | os.PathLike) -> int:
    """Merge a file written by :func:`export_gallery` (same model only); returns faces added."""
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
    return added
