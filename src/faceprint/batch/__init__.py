"""The embed job for many images: one row schema, a local engine and a Ray Data engine that
fill the same resumable Parquet dataset."""

from faceprint.batch.local import dataset_summary, done_inputs, run_local
from faceprint.batch.ray_engine import run_ray
from faceprint.batch.rows import COLUMNS, embed_rows, list_inputs, schema

__all__ = [
    "COLUMNS",
    "dataset_summary",
    "done_inputs",
    "embed_rows",
    "list_inputs",
    "run_local",
    "run_ray",
    "schema",
]
