"""``faceprint export``: a model as ONNX or TorchScript."""

from __future__ import annotations

from pathlib import Path

import click

from faceprint.cli._common import (
    main,
)
from faceprint.cli._outputs import (
    FORCE_OPTION,
    Writes,
    check_outputs,
)
from faceprint.errors import FaceprintError
from faceprint.export import FORMATS


@main.command()
@click.argument("model")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="onnx",
    show_default=True,
    help="ONNX (metadata props) or TorchScript (extra file faceprint.json).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for the exported file(s).",
)
@click.option("--opset", default=17, show_default=True, type=int, help="ONNX opset (13-21).")
@FORCE_OPTION
def export(model, fmt, out, opset, force) -> None:
    """Export MODEL (a registry name, a model file, or mtcnn for its three networks).

    Embedders take (B, 3, S, S) standardized crops and return (B, D) unit embeddings; P-Net
    takes any height and width, R-Net and O-Net batches of 24 and 48 px crops. Each file says
    how to feed it (standardization, sizes, source) in its metadata.
    """
    from faceprint.export import export as export_model
    from faceprint.export import export_targets, read_facts

    source = Path(model) if Path(model).is_file() else None
    targets = tuple(export_targets(model, fmt, out))
    check_outputs([source], [Writes("--out", out, targets, folder=True)], force)
    try:
        written = export_model(model, fmt, out, opset, force)
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None
    for path in written:
        facts = read_facts(path)
        click.echo(f"{path}: {facts['input']}")
