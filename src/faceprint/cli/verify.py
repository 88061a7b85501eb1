"""``faceprint verify`` and ``faceprint demo``: are two faces the same person?"""

from __future__ import annotations

import json
from pathlib import Path

import click

from faceprint.cli._common import (
    DEVICE_OPTION,
    MODEL_OPTION,
    RECOGNIZER_OPTIONS,
    detector_options,
    far_or_threshold,
    main,
    make_recognizer,
    picture_file,
    report_ignored,
)
from faceprint.cli._outputs import (
    FORCE_OPTION,
    Writes,
    check_outputs,
)
from faceprint.errors import FaceprintError
from faceprint.pipeline import (
    DEFAULT_VERIFY_FAR,
)


@main.command()
@click.argument("image_a", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("image_b", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@RECOGNIZER_OPTIONS
@detector_options
@far_or_threshold(
    DEFAULT_VERIFY_FAR,
    "False-accept rate the threshold is set for: the fraction of pairs of strangers called "
    "the same person.",
    "A fixed distance threshold instead of --far's.",
)
@click.option(
    "--annotate",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=picture_file,
    help="Write both photos side by side with the verdict to this picture file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@FORCE_OPTION
def verify(
    image_a, image_b, model, align, device, precision, far, threshold, annotate, as_json, force
) -> None:
    """Are IMAGE_A and IMAGE_B the same person? Prints distance, verdict and threshold.

    The default threshold accepts about 1 in 1000 pairs of strangers (--far 1e-3); the output
    also says how often strangers come as close as these two faces.
    """
    from faceprint.drawing import verification_panel
    from faceprint.images import load_image

    check_outputs([image_a, image_b], [Writes("--annotate", annotate, pictures=True)], force)
    recognizer = make_recognizer(model, align, device, precision, far=far, threshold=threshold)
    try:
        a, b = load_image(image_a), load_image(image_b)
        result = recognizer.verify(a, b)
    except (FaceprintError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    report_ignored(recognizer)
    if annotate:
        annotate.parent.mkdir(parents=True, exist_ok=True)
        verification_panel(a, b, result).save(annotate)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "distance": result.distance,
                    "same": result.same,
                    "threshold": result.threshold,
                    "false_accept_rate": result.false_accept_rate,
                    "model": recognizer.name,
                }
            )
        )
    else:
        verdict = "same person" if result.same else "different people"
        if threshold is not None:
            basis = "given"
        elif recognizer.impostor_distances is not None:
            basis = f"set for {_one_in(far)} strangers"
        else:  # no impostor distribution for this alignment: --far cannot set it
            basis = "the most accurate on LFW View 1"
        click.echo(
            f"distance {result.distance:.4f}: {verdict} (threshold {result.threshold:.4f}, "
            f"{basis}; {recognizer.name})"
        )
        rate = result.false_accept_rate
        if rate is not None:
            share = "over half of all" if rate >= 0.5 else _one_in(rate)
            click.echo(f"{share} pairs of strangers come this close (LFW View 1 impostor pairs)")


def _free_name(path: Path) -> Path:
    """``path``, or ``stem-2.suffix``, ``stem-3.suffix``, ... whichever does not exist yet."""
    number = 1
    candidate = path
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate


def _one_in(rate: float) -> str:
    """``1e-3`` -> ``"1 in 1,000"``; the recorded distribution ends at 1e-7."""
    if rate <= 1.01e-7:
        return "fewer than 1 in 10,000,000"
    return f"1 in {round(1 / rate):,}"


@main.command()
@click.option(
    "--out",
    default="faceprint-demo.png",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    callback=picture_file,
    help="Where to write the picture of both comparisons.",
)
@MODEL_OPTION
@DEVICE_OPTION
@FORCE_OPTION
@click.pass_context
def demo(ctx: click.Context, out, model, device, force) -> None:
    """Detect, align, embed and verify on built-in pictures (no photo of your own needed)."""
    from faceprint.demo import run_demo

    if ctx.get_parameter_source("out") is click.core.ParameterSource.DEFAULT and not force:
        # The README's first command may run twice: the default name steps aside instead of
        # refusing (or replacing) a picture already there.
        out = _free_name(out)
    check_outputs([], [Writes("--out", out, pictures=True)], force)
    try:
        lines = run_demo(out, model=model, device=device)
    except FaceprintError as e:
        raise click.ClickException(str(e)) from None
    for line in lines:
        click.echo(line)
