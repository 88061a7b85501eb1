"""One row schema for every engine of the embed job, and the one function that makes rows.

A row per face: ``path``, ``face`` (index in the image), ``box``, ``probability``,
``quality`` (:attr:`Face.quality <faceprint.pipeline.Face>`, in [0, 1]), ``landmarks``,
``embedding``, ``model``, ``alignment``, ``error``; with attributes also
:data:`ATTRIBUTE_COLUMNS` (``age``, ``gender``, ``gender_probability``, ``emotion``). An image
without a face is a row with ``face`` and ``embedding`` null; an unreadable one a row with
``error`` set. Neither fails the job.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceprint.errors import FaceprintError, ImageError
from faceprint.images import image_from_bytes

COLUMNS = (
    "path",
    "face",
    "box",
    "probability",
    "quality",
    "landmarks",
    "embedding",
    "model",
    "alignment",
    "error",
)

#: The optional columns of ``--attributes`` (faceprint.attributes).
ATTRIBUTE_COLUMNS = ("age", "gender", "gender_probability", "emotion")


def schema(dim: int, attributes: bool = False):
    """The pyarrow schema of the rows, with ``dim``-float embeddings and, with ``attributes``,
    the :data:`ATTRIBUTE_COLUMNS`."""
    import pyarrow as pa

    extra = [
        ("age", pa.float32()),
        ("gender", pa.string()),
        ("gender_probability", pa.float32()),
        ("emotion", pa.string()),
    ]
    return pa.schema(
        [
            ("path", pa.string()),
            ("face", pa.int32()),
            ("box", pa.list_(pa.float32(), 4)),
            ("probability", pa.float32()),
            ("quality", pa.float32()),
            ("landmarks", pa.list_(pa.float32(), 10)),
            ("embedding", pa.list_(pa.float32(), dim)),
            ("model", pa.string()),
            ("alignment", pa.string()),
            ("error", pa.string()),
        ]
        + (extra if attributes else [])
    )


def read_input(path: str) -> bytes:
    """The bytes of one listed input, local or any filesystem fsspec knows (``s3://...``).

    Raises:
        ImageError: missing, a directory, or unreadable.
    """
    if "://" in path and not path.startswith("file://"):
        try:
            import fsspec

            with fsspec.open(path, "rb") as f:
                return f.read()
        except ImportError:
            raise ImageError(f"{path}: reading URLs needs fsspec (pip install fsspec)") from None
        except (OSError, ValueError) as e:
            raise ImageError(f"{path}: cannot read ({e})") from None
    local = Path(path.removeprefix("file://"))
    if local.is_dir():
        raise ImageError(f"{path}: a directory, not an image file")
    if not local.is_file():
        raise ImageError(f"{path}: no such image file")
    try:
        return local.read_bytes()
    except OSError as e:
        raise ImageError(f"{path}: cannot read ({e})") from None


def embed_rows(
    recognizer, paths: Sequence[str], payloads: Sequence[bytes | str], attributes: bool = False
) -> list[dict]:
    """Rows for a batch of inputs.

    Args:
        recognizer: a :class:`faceprint.FaceRecognizer`.
        paths: the inputs' names.
        payloads: each input's bytes, or an error message where it could not be read.
        attributes: fill the :data:`ATTRIBUTE_COLUMNS` of each face.

    Returns:
        One row per face, or one row per image without a face or with an error, in input order.
    """
    model, alignment = recognizer.weights.name, recognizer.alignment.method
    images, rows_by_input = [], [[] for _ in paths]
    for i, (path, payload) in enumerate(zip(paths, payloads, strict=True)):
        if isinstance(payload, str):
            rows_by_input[i].append(_row(path, model, alignment, error=payload))
            continue
        try:
            images.append((i, image_from_bytes(payload, path)))
        except FaceprintError as e:
            rows_by_input[i].append(_row(path, model, alignment, error=str(e)))
    found = recognizer.embed([image for _, image in images]) if images else []
    for (i, image), faces in zip(images, found, strict=True):
        if not faces:
            rows_by_input[i].append(_row(paths[i], model, alignment))
        described = _attributes(recognizer, image, faces) if attributes else [{}] * len(faces)
        for k, (face, extra) in enumerate(zip(faces, described, strict=True)):
            rows_by_input[i].append(
                _row(
                    paths[i],
                    model,
                    alignment,
                    face=k,
                    box=face.box.tolist(),
                    probability=face.probability,
                    quality=face.quality,
                    landmarks=None if face.landmarks is None else face.landmarks.ravel().tolist(),
                    embedding=face.embedding.tolist(),
                    **extra,
                )
            )
    return [row for rows in rows_by_input for row in rows]


def _attributes(recognizer, image, faces) -> list[dict]:
    """The attribute columns of each face (fallback crops without a detection get none)."""
    detected = [f for f in faces if f.detected]
    found = iter(
        recognizer.attribute_analyzer.analyze(
            image, [f.box for f in detected], [f.landmarks for f in detected]
        )
    )
    out = []
    for face in faces:
        if not face.detected:
            out.append({})
            continue
        a = next(found)
        out.append(
            {
                "age": a.age,
                "gender": a.gender,
                "gender_probability": a.gender_probability,
                "emotion": a.emotion,
            }
        )
    return out


def _row(path: str, model: str, alignment: str, **values) -> dict:
    row = dict.fromkeys(COLUMNS + ATTRIBUTE_COLUMNS)
    row.update(path=path, model=model, alignment=alignment, **values)
    return row


def list_inputs(source: str | os.PathLike) -> list[str]:
    """The inputs of a job: an image itself (by its suffix), the images under a folder
    (recursive, by suffix, sorted), or the paths listed in a text file (one a line) or a Parquet
    file (its ``path`` column).

    Raises:
        FaceprintError: the source is missing, empty, not text, or a Parquet file without
            ``path``.
    """
    from faceprint.images import IMAGE_SUFFIXES, image_files

    source = Path(source)
    if source.is_file() and source.suffix.lower() in IMAGE_SUFFIXES:
        return [str(source)]
    if source.is_dir():
        found = [str(p) for p in image_files(source)]
    elif source.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(source)
        if "path" not in table.column_names:
            raise FaceprintError(f"{source}: a Parquet list needs a 'path' column")
        found = [str(p) for p in table.column("path").to_pylist() if p]
    elif source.is_file():
        try:
            text = source.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise FaceprintError(
                f"{source}: neither an image (by its suffix: {', '.join(IMAGE_SUFFIXES)}) nor a "
                "text list of paths"
            ) from None
        found = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        raise FaceprintError(f"{source}: no such folder or list file")
    if not found:
        raise FaceprintError(f"{source}: no inputs")
    return list(dict.fromkeys(found))


def rows_to_table(rows: list[dict], dim: int, attributes: bool = False):
    """A pyarrow table of rows, in :func:`schema`."""
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=schema(dim, attributes))


def embeddings_of(table) -> np.ndarray:
    """``(N, D)`` float32 embeddings of a table's rows that have one."""
    column = table.column("embedding").drop_null()
    if len(column) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return np.asarray(column.combine_chunks().flatten(), dtype=np.float32).reshape(len(column), -1)
