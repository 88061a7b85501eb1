"""The embed job's output folder, and the local engine that fills it.

The output is a Parquet dataset: a folder of part files in :func:`faceprint.batch.rows.schema`,
written by either engine. Rerunning a job skips the inputs its readable part files already
hold; a part file cut short by a killed writer has no footer, is set aside and its inputs are
done again, so every input ends up in the output exactly once.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from faceprint.batch.rows import embed_rows, read_input, rows_to_table
from faceprint.errors import DatasetMismatchError, FaceprintError
from faceprint.files import atomic_path

logger = logging.getLogger(__name__)


def part_files(out: str | os.PathLike) -> list[Path]:
    """The dataset's part files, sorted (not the hidden ``_``/``.`` ones, as pyarrow)."""
    return sorted(p for p in Path(out).glob("*.parquet") if not p.name.startswith(("_", ".")))


def done_inputs(out: str | os.PathLike) -> set[str]:
    """The inputs the output already holds. Unreadable part files (a writer killed mid-file)
    are renamed ``_broken.<name>`` and their inputs count as not done.

    Raises:
        FaceprintError: ``out`` exists but is not a folder.
    """
    import pyarrow.parquet as pq

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FaceprintError(f"{out}: exists and is not a folder (the output is a Parquet dataset)")
    done: set[str] = set()
    for part in part_files(out):
        try:
            done.update(pq.read_table(part, columns=["path"]).column("path").to_pylist())
        except (OSError, ValueError) as e:
            logger.warning(
                "%s: unreadable part file set aside (%s); its inputs are redone", part, e
            )
            # A leading "_" hides it from pyarrow's and Ray's dataset readers.
            part.rename(part.with_name(f"_broken.{part.name}"))
    return done


def check_resumable(out: str | os.PathLike, model: str, alignment: str, attributes: bool) -> None:
    """Refuse to add rows unlike those ``out`` holds: embeddings of another model or alignment
    cannot be compared with them, and parts with and without the attribute columns do not make
    one dataset.

    Raises:
        DatasetMismatchError: naming what the folder holds and how to resume it.
    """
    import pyarrow.parquet as pq

    for part in part_files(out):
        try:
            part_file = pq.ParquetFile(part)  # one footer read: schema and first row
            names = part_file.schema_arrow.names
            held = part_file.read(columns=["model", "alignment"]).slice(0, 1).to_pylist()
        except (OSError, ValueError):
            continue  # a part cut short: done_inputs sets it aside
        if held and (held[0]["model"], held[0]["alignment"]) != (model, alignment):
            raise DatasetMismatchError(
                f"{out} holds {held[0]['model']}/{held[0]['alignment']} embeddings, not "
                f"{model}/{alignment}: resume it with that --model and --align, or give another "
                "--out"
            )
        with_attributes = "age" in names
        if with_attributes != attributes:
            how = "with" if with_attributes else "without"
            raise DatasetMismatchError(
                f"{out} holds rows {how} the --attributes columns: resume it {how} "
                "--attributes, or give another --out"
            )
        return


def read_payloads(paths: Sequence[str]) -> list[bytes | str]:
    """Each input's bytes, or the message saying why it could not be read."""
    payloads: list[bytes | str] = []
    for path in paths:
        try:
            payloads.append(read_input(path))
        except FaceprintError as e:
            payloads.append(str(e))
    return payloads


def run_local(
    recognizer,
    inputs: Sequence[str],
    out: str | os.PathLike,
    batch_size: int = 64,
    progress: bool = False,
    attributes: bool = False,
) -> int:
    """Embed ``inputs`` not yet in ``out`` on this machine, a part file per batch (with
    ``attributes``, each face's age, gender and emotion too).

    Returns:
        The number of inputs done by this run.

    Raises:
        DatasetMismatchError: ``out`` holds rows of another model, alignment or columns.
    """
    out = Path(out)
    todo = [p for p in inputs if p not in done_inputs(out)]
    check_resumable(out, recognizer.weights.name, recognizer.alignment.method, attributes)
    out.mkdir(parents=True, exist_ok=True)
    dim = recognizer.embedding_size
    with tqdm(total=len(todo), desc="embedding", unit="img", disable=not progress) as bar:
        for start in range(0, len(todo), batch_size):
            paths = todo[start : start + batch_size]
            rows = embed_rows(recognizer, paths, read_payloads(paths), attributes)
            table = rows_to_table(rows, dim, attributes)
            part = out / f"part-{uuid.uuid4().hex}.parquet"
            with atomic_path(part, suffix=".tmp") as tmp:
                import pyarrow.parquet as pq

                pq.write_table(table, tmp)
            bar.update(len(paths))
    return len(todo)


def dataset_summary(out: str | os.PathLike, inputs: Sequence[str]) -> dict:
    """Counts over the rows of ``inputs`` in the output: ``faces``, ``faceless`` (images
    without a face), ``errors`` and the first ``error_rows`` as ``(path, message)``."""
    import pyarrow.dataset as ds

    wanted = set(inputs)
    faces = faceless = 0
    errors: list[tuple[str, str]] = []
    dataset = ds.dataset(str(out), format="parquet")
    for batch in dataset.to_batches(columns=["path", "face", "error"]):
        for path, face, error in zip(*(batch.column(i).to_pylist() for i in range(3)), strict=True):
            if path not in wanted:
                continue
            if error:
                errors.append((path, error))
            elif face is None:
                faceless += 1
            else:
                faces += 1
    return {"faces": faces, "faceless": faceless, "errors": len(errors), "error_rows": errors}
