"""``faceprint models list|fetch``: the weights registry."""

from __future__ import annotations

import json
import re

import click

from faceprint.cli._common import (
    main,
)
from faceprint.errors import FaceprintError, UnknownModelError


@main.group()
def models() -> None:
    """List and fetch pretrained weights."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--task",
    type=click.Choice(["recognition", "detection", "attributes"]),
    help="Only the models of this task.",
)
def models_list(as_json: bool, task: str | None) -> None:
    """Every registered model with its task, size, accuracy, licence and cache state.

    The columns: task, architecture, embedding dimension, LFW accuracy, cached or not, licence.
    """
    from faceprint.detection.registry import list_detectors
    from faceprint.weights.factory import get_weights, list_models
    from faceprint.weights.fetch import cache_dir

    def cached(w) -> bool:
        files = [get_weights(m).filename for m in w.members] or [w.filename]
        return all((cache_dir() / f).is_file() for f in files)

    rows = []
    for w in map(get_weights, list_models()):
        if task is not None and w.task != task:
            continue
        rows.append(
            {
                "name": w.name,
                "task": w.task,
                "architecture": w.architecture,
                "dim": w.embedding_size,
                "classes": w.num_classes,
                "lfw_accuracy": w.lfw_accuracy,
                "lfw_measured": w.lfw_measured,
                "license": w.license,
                "cached": cached(w),
                "description": w.description,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max([15, *(len(r["name"]) for r in rows)])
    click.echo(
        f"{'name':<{width}} {'task':<11} {'architecture':<20} {'dim':>4} {'LFW':>7} {'ours':>7}  "
        "cached  licence"
    )
    for r in rows:
        lfw = f"{r['lfw_accuracy']:.4f}" if r["lfw_accuracy"] else "-"
        ours = f"{r['lfw_measured']:.4f}" if r["lfw_measured"] else "-"
        click.echo(
            f"{r['name']:<{width}} {r['task']:<11} {r['architecture']:<20} {r['dim'] or '-':>4} "
            f"{lfw:>7} {ours:>7}  {'yes' if r['cached'] else 'no ':<6}  {_licence(r['license'])}"
        )
    click.echo("LFW: published accuracy; ours: faceprint eval lfw on View 2 (tuned on View 1)")
    click.echo(
        f"detectors (faceprint.detection.create_detector): {', '.join(list_detectors())}, "
        "or several joined with '+'"
    )
    click.echo(f"cache: {cache_dir()}")


def _licence(text: str) -> str:
    """The licence of a record's note, without its explanations: ``"MIT; ... research-only"``."""
    return re.sub(r"\s*\([^)]*\)", "", text)


@models.command("fetch")
@click.argument("name")
def models_fetch(name: str) -> None:
    """Fetch (and verify, convert, cache) the weights called NAME."""
    from faceprint.weights.factory import fetch_weights, get_weights

    try:
        record = get_weights(name)
    except UnknownModelError as e:
        raise click.UsageError(str(e)) from None  # a name that names nothing, as everywhere
    try:
        for member in record.members or (name,):  # an ensemble: each of its members
            click.echo(f"{member}: {fetch_weights(member)}")
    except FaceprintError as e:
        raise click.ClickException(str(e)) from None
