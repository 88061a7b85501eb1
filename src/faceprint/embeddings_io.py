"""Embedding files: ``.npz`` (always available) or ``.parquet`` (with pyarrow installed)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceprint.errors import FaceprintError
from faceprint.extras import require
from faceprint.pipeline import Face


def check_writable(path: str | os.PathLike) -> None:
    """Refuse, before any work, an output :func:`write_embeddings` could not write.

    Raises:
        FaceprintError: the suffix is neither ``.npz`` nor ``.parquet``, or ``.parquet`` is
            asked for without pyarrow installed.
    """
    suffix = Path(path).suffix
    if suffix not in (".npz", ".parquet"):
        raise FaceprintError(
            f"{path}: the output must end in .npz or .parquet, or be a folder (no suffix)"
        )
    if suffix == ".parquet":
        require("pyarrow.parquet", "parquet", "writing .parquet", otherwise="or write .npz")


def write_embeddings(
    path: str | os.PathLike, rows: Sequence[tuple[str, int, Face]], model: str, dim: int
) -> None:
    """Write faces to ``path``.

    Args:
        path: ``.npz`` or ``.parquet`` file.
        rows: ``(image path, face index in image, Face)`` per face.
        model: what made the embeddings, e.g. ``ms-celeb-1m/box``.
        dim: embedding size D (so that a file without faces still has the right columns).

    Columns: ``path``, ``face``, ``box`` (4 floats), ``probability`` (NaN for fallback crops),
    ``quality`` (:attr:`Face.quality <faceprint.pipeline.Face>` in [0, 1]; NaN where unset),
    ``embedding`` (D floats); ``model`` is stored once.
    """
    check_writable(path)
    path = Path(path)
    columns = {
        "path": np.array([r[0] for r in rows], dtype=str),
        "face": np.array([r[1] for r in rows], dtype=np.int32),
        "box": np.array([r[2].box for r in rows], dtype=np.float32).reshape(-1, 4),
        "probability": np.array(
            [np.nan if r[2].probability is None else r[2].probability for r in rows],
            dtype=np.float32,
        ),
        "quality": np.array(
            [np.nan if r[2].quality is None else r[2].quality for r in rows], dtype=np.float32
        ),
        "embedding": np.array([r[2].embedding for r in rows], dtype=np.float32).reshape(-1, dim),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npz":
        np.savez(path, model=np.array(model), **columns)
    else:  # .parquet (check_writable allows nothing else)
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(
            {
                "path": columns["path"].tolist(),
                "face": columns["face"],
                "box": columns["box"].tolist(),
                "probability": columns["probability"],
                "quality": columns["quality"],
                "embedding": columns["embedding"].tolist(),
            }
        )
        pq.write_table(table.replace_schema_metadata({"model": model}), path)


def read_embeddings(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a file written by :func:`write_embeddings` back into its columns (and ``model``)."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path) as f:
            return dict(f)
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    out = {name: np.array(table.column(name).to_pylist()) for name in table.column_names}
    out["model"] = np.array((table.schema.metadata or {}).get(b"model", b"").decode())
    return out
