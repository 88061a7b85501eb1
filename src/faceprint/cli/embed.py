"""``faceprint embed``: embeddings of many photos, locally or on Ray."""

from __future__ import annotations

from pathlib import Path

import click
from tqdm import tqdm

from faceprint.cli._common import (
    RECOGNIZER_OPTIONS,
    detector_options,
    finish,
    from_context,
    input_images,
    main,
    make_recognizer,
    report_error,
    report_ignored,
)
from faceprint.cli._outputs import (
    FORCE_OPTION,
    Writes,
    check_outputs,
)
from faceprint.errors import DatasetMismatchError, FaceprintError
from faceprint.extras import require
from faceprint.pipeline import DEFAULT_DETECTOR


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="A .npz or .parquet file, or a folder (no suffix): a Parquet dataset the job fills "
    "and resumes.",
)
@RECOGNIZER_OPTIONS
@detector_options
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Folder output: run here, or on Ray Data (pip install 'faceprint[ray]').",
)
@click.option(
    "--address", default=None, help="Ray cluster: auto, ray://host:port (default: a local Ray)."
)
@click.option(
    "--actors", default=1, show_default=True, type=click.IntRange(min=1), help="Ray actors."
)
@click.option(
    "--batch-size",
    default=64,
    show_default=True,
    type=click.IntRange(min=1),
    help="Images per batch.",
)
@click.option(
    "--gpus-per-actor",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Ray GPUs.",
)
@click.option(
    "--attributes",
    is_flag=True,
    help="Folder output: add each face's age, gender, gender_probability and emotion columns.",
)
@FORCE_OPTION
def embed(
    inputs,
    out,
    model,
    align,
    device,
    precision,
    engine,
    address,
    actors,
    batch_size,
    gpus_per_actor,
    attributes,
    force,
) -> None:
    """Embed every face in INPUTS into OUT, with paths, boxes and landmarks.

    INPUTS are images or folders, or for a folder OUT also text or Parquet files listing image
    paths. A folder OUT is a Parquet dataset, one row per face (an image without a face, or
    that can't be read, is a row too); rerunning the job skips the inputs it already holds.
    """
    to_file = bool(out.suffix) and not out.is_dir()
    # A folder is a dataset the job adds to and resumes.
    check_outputs(inputs, [Writes("--out", out, folder=not to_file, kept=not to_file)], force)
    if to_file:
        if engine != "local":
            raise click.UsageError("--engine ray writes a folder: give --out a folder name")
        if attributes:
            raise click.UsageError("--attributes adds columns to a folder: give --out a folder")
        _embed_file(inputs, out, model, align, device, precision)
        return
    if engine == "ray":
        require("ray.data", "ray", "--engine ray")
        if from_context("--min-face-size"):
            raise click.UsageError(
                "--engine ray runs each detector at its own smallest face: leave out "
                "--min-face-size, or use --engine local"
            )
    require("pyarrow.dataset", "parquet", "a dataset folder as --out", otherwise="or write .npz")
    from faceprint.batch import dataset_summary, list_inputs, run_local, run_ray

    try:
        listed = list(dict.fromkeys(p for item in inputs for p in list_inputs(item)))
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None
    try:
        if engine == "ray":
            done = run_ray(
                listed,
                out,
                model,
                align,
                actors,
                batch_size,
                gpus_per_actor,
                address,
                attributes=attributes,
                detector=from_context("--detector") or DEFAULT_DETECTOR,
            )
        else:
            recognizer = make_recognizer(model, align, device, precision)
            done = run_local(recognizer, listed, out, batch_size, True, attributes)
    except DatasetMismatchError as e:
        raise click.UsageError(str(e)) from None  # nothing was written
    except FaceprintError as e:
        raise click.ClickException(str(e)) from None
    summary = dataset_summary(out, listed)
    click.echo(
        f"{len(listed)} inputs ({len(listed) - done} already in {out}): {summary['faces']} faces, "
        f"{summary['faceless']} images without a face, {summary['errors']} unreadable"
    )
    for _, error in summary["error_rows"][:5]:
        report_error(error)
    finish(summary["errors"], len(listed), "inputs")


def _embed_file(inputs, out, model, align, device, precision) -> None:
    from faceprint.embeddings_io import check_writable, write_embeddings

    try:
        check_writable(out)
    except FaceprintError as e:
        raise click.BadParameter(str(e), param_hint="--out") from None
    paths = input_images(inputs)
    recognizer = make_recognizer(model, align, device, precision)
    rows, failed, faceless = [], 0, 0
    for path in tqdm(paths, desc="embedding", unit="img"):
        try:
            faces = recognizer.embed(path)
        except FaceprintError as e:
            failed += 1
            report_error(e)
            continue
        faceless += not faces
        rows += [(str(path), i, f) for i, f in enumerate(faces)]
    write_embeddings(out, rows, recognizer.name, dim=recognizer.embedding_size)
    report_ignored(recognizer)
    click.echo(
        f"{len(rows)} faces from {len(paths) - failed} images -> {out}"
        + (f"; {faceless} images without a face" if faceless else "")
    )
    finish(failed, len(paths), "images")
