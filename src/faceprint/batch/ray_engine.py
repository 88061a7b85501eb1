"""The embed job on Ray Data: inputs read in tasks, faces detected and embedded in an actor pool
(one :class:`faceprint.FaceRecognizer` per actor, loaded once), Parquet written by Ray's writer.

Detection shares the actor with embedding: detection is the larger half of the work and
the detector's batches are what makes it fast; split into tasks, each image's crops would cross
the object store, and each task would load the detector again (see ``benchmarks/ray_embed.py``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path

from faceprint.batch.local import check_resumable, done_inputs, read_payloads
from faceprint.batch.rows import embed_rows, rows_to_table
from faceprint.errors import FaceprintError


class EmbedActor:
    """A Ray Data callable class: a batch of ``path``/``payload``/``read_error`` rows in,
    face rows out (pyarrow)."""

    def __init__(
        self,
        model: str,
        align: str,
        device: str | None = None,
        attributes: bool = False,
        detector: str = "mtcnn",
    ) -> None:
        from faceprint.pipeline import FaceRecognizer

        self.recognizer = FaceRecognizer(model=model, align=align, device=device, detector=detector)
        self.attributes = attributes

    def __call__(self, batch):
        paths = batch.column("path").to_pylist()
        errors = batch.column("read_error").to_pylist()
        payloads = [
            error if error else data
            for data, error in zip(batch.column("payload").to_pylist(), errors, strict=True)
        ]
        rows = embed_rows(self.recognizer, paths, payloads, self.attributes)
        return rows_to_table(rows, self.recognizer.embedding_size, self.attributes)


def _read(batch):
    import pyarrow as pa

    paths = batch["path"].tolist() if hasattr(batch["path"], "tolist") else list(batch["path"])
    payloads = read_payloads(paths)
    return pa.table(
        {
            "path": paths,
            "payload": pa.array(
                [p if isinstance(p, bytes) else b"" for p in payloads], type=pa.binary()
            ),
            "read_error": [p if isinstance(p, str) else None for p in payloads],
        }
    )


def connect(address: str | None, num_cpus: int | None = None) -> None:
    """Join the Ray cluster at ``address`` (``auto``, ``ray://host:port`` or ``host:port``),
    or start a local one; an unreachable address fails within seconds, naming it."""
    import ray

    if ray.is_initialized():
        return
    if address and address != "auto":
        hostport = address.removeprefix("ray://")
        host, _, port = hostport.rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
                pass
        except (OSError, ValueError) as e:
            raise FaceprintError(f"Ray cluster at {address} is unreachable ({e})") from None
    try:
        ray.init(address=address, num_cpus=None if address else num_cpus, log_to_driver=False)
    except ConnectionError as e:
        raise FaceprintError(f"no Ray cluster at {address!r}: {e}") from None


def run_ray(
    inputs: Sequence[str],
    out: str | os.PathLike,
    model: str,
    align: str,
    actors: int = 1,
    batch_size: int = 64,
    gpus_per_actor: float = 0.0,
    address: str | None = None,
    num_cpus: int | None = None,
    attributes: bool = False,
    detector: str = "mtcnn",
) -> int:
    """Embed ``inputs`` not yet in ``out`` with Ray Data.

    Args:
        inputs: image paths (or fsspec URLs).
        out: the output Parquet dataset folder.
        model, align: the recognizer each actor builds.
        actors: size of the actor pool.
        batch_size: images per actor call.
        gpus_per_actor: GPUs each actor reserves (its recognizer then runs on ``cuda``).
        address: Ray cluster address, or None for a local Ray.
        num_cpus: CPUs of a local Ray.
        attributes: add each face's age, gender and emotion columns.
        detector: the detector each actor builds, by name
            (:func:`faceprint.detection.create_detector`).

    Returns:
        The number of inputs done by this run.

    Raises:
        DatasetMismatchError: ``out`` holds rows of another model, alignment or columns.
    """
    import ray

    from faceprint.pipeline import alignment_method
    from faceprint.weights.factory import get_weights

    todo = [p for p in inputs if p not in done_inputs(out)]
    record = get_weights(model)
    check_resumable(out, record.name, alignment_method(record, align), attributes)
    if not todo:
        return 0
    connect(address, num_cpus)
    Path(out).mkdir(parents=True, exist_ok=True)
    dataset = ray.data.from_items([{"path": p} for p in todo])
    dataset = dataset.map_batches(_read, batch_size=batch_size, batch_format="numpy")
    dataset = dataset.map_batches(
        EmbedActor,
        fn_constructor_kwargs={
            "model": model,
            "align": align,
            "device": "cuda" if gpus_per_actor else None,
            "attributes": attributes,
            "detector": detector,
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_gpus=gpus_per_actor or None,
    )
    dataset.write_parquet(str(out))
    return len(todo)
