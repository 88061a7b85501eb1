"""``faceprint train`` and ``faceprint classify``: fine-tune on your people, then name them."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from tqdm import tqdm

from faceprint.cli._common import (
    BACKEND_OPTION,
    CROP_ALIGN_OPTION,
    DEVICE_OPTION,
    PRECISION_OPTION,
    far_option,
    finish,
    input_images,
    main,
    make_recognizer,
    report_error,
    report_ignored,
)
from faceprint.cli._outputs import (
    Writes,
    check_outputs,
)
from faceprint.errors import FaceprintError
from faceprint.gallery.core import DEFAULT_FAR, UNKNOWN
from faceprint.pipeline import (
    DEFAULT_MODEL,
)
from faceprint.training.objectives import LOSSES
from faceprint.training.schedule import (
    HEADS,
    LARGE_SET_DEFAULTS,
    SMALL_SET_DEFAULTS,
    SMALL_SET_PHOTOS,
)


@main.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder: model.pt, summary.json, metrics.csv, curves.png, checkpoint.",
)
@click.option(
    "--val",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Validation photos of the same people; default: --val-split of DATA_DIR.",
)
@click.option(
    "--val-split",
    type=float,
    default=0.3,
    show_default=True,
    help="Fraction of each person's photos held out for validation.",
)
@click.option(
    "--model",
    default=DEFAULT_MODEL,
    show_default=True,
    help="Registry name or faceprint model file to fine-tune.",
)
@click.option("--scratch", is_flag=True, help="Start from random weights instead of --model.")
@click.option(
    "--loss",
    type=click.Choice(LOSSES),
    default="softmax",
    show_default=True,
    help="Cross-entropy on a linear head, ArcFace, or semi-hard triplet loss.",
)
@click.option(
    "--epochs",
    type=click.IntRange(1),
    default=None,
    help="Passes over the training images; default by data size: "
    f"{SMALL_SET_DEFAULTS['epochs']} below {SMALL_SET_PHOTOS} photos per person, else "
    f"{LARGE_SET_DEFAULTS['epochs']}.",
)
@click.option(
    "--batch-size", type=click.IntRange(2), default=32, show_default=True, help="Images per step."
)
@click.option(
    "--lr",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Adam learning rate of the classifier head; divided by 10 after epochs 5 and 10. "
    f"Default by data size: {SMALL_SET_DEFAULTS['lr']:g} below {SMALL_SET_PHOTOS} photos per "
    f"person, else {LARGE_SET_DEFAULTS['lr']:g}.",
)
@click.option(
    "--pretrained-lr-scale",
    type=click.FloatRange(0),
    default=0.1,
    show_default=True,
    help="When fine-tuning, pretrained layers learn at --lr times this (so the embedding "
    "keeps what it knew about other people).",
)
@click.option(
    "--freeze",
    default="auto",
    show_default=True,
    help="Blocks not trained: none, backbone (train the bottleneck and head only), a "
    "block name (it and all before it, e.g. repeat_3), or auto (by data size when "
    f"fine-tuning: {SMALL_SET_DEFAULTS['freeze']} below {SMALL_SET_PHOTOS} photos per person, "
    f"else {LARGE_SET_DEFAULTS['freeze']}; none from scratch).",
)
@click.option(
    "--head",
    type=click.Choice(HEADS),
    default="auto",
    show_default=True,
    help="The classifier's start: imprint (each person's mean embedding, so training starts "
    "where nearest-class-mean classification is), random, or auto (imprint when fine-tuning).",
)
@CROP_ALIGN_OPTION
@click.option(
    "--cropped", is_flag=True, help="DATA_DIR (and --val) hold aligned crops from `faceprint crop`."
)
@click.option(
    "--workers",
    type=click.IntRange(0),
    default=2,
    show_default=True,
    help="Data-loading worker processes.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seeds the split, the sampling and the initial weights.",
)
@click.option(
    "--min-quality",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="Leave out photos whose face crop scores under this heuristic quality (0..1: "
    "sharpness, brightness, size, pose; see the quality guide). Not with --cropped.",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@PRECISION_OPTION
@DEVICE_OPTION
def train(
    data_dir,
    out,
    val,
    val_split,
    model,
    scratch,
    loss,
    epochs,
    batch_size,
    lr,
    pretrained_lr_scale,
    freeze,
    head,
    align,
    cropped,
    workers,
    seed,
    min_quality,
    resume,
    precision,
    device,
) -> None:
    """Fine-tune (or train from scratch) on the photos of DATA_DIR/PERSON/.

    Writes OUT/model.pt, which every command takes as --model, with OUT/summary.json,
    metrics.csv and curves.png. Runs under torchrun too (python -m faceprint train ...).
    """
    from faceprint.errors import TrainingError
    from faceprint.training import TrainConfig
    from faceprint.training import train as run_training
    from faceprint.training.trainer import CHECKPOINT

    # A run folder is resumed (--resume), never started over in place; curves.png and the
    # crops it holds must not land among the photos.
    if min_quality and cropped:
        raise click.UsageError(
            "--min-quality scores each face as its photo is cropped; it does not go with "
            "--cropped (crops made already)"
        )
    check_outputs(
        [data_dir, val], [Writes("--out", out, folder=True, pictures=True, kept=True)], False
    )
    held = [out / name for name in (CHECKPOINT, "model.pt") if (out / name).exists()]
    if held and not resume:
        raise click.UsageError(
            f"--out {out} already holds a run ({held[0].name}); pass --resume to continue it, "
            "or choose another --out"
        )

    config = TrainConfig(
        data=data_dir,
        out=out,
        val=val,
        val_split=val_split,
        model=model,
        scratch=scratch,
        loss=loss,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        pretrained_lr_scale=pretrained_lr_scale,
        freeze=freeze,
        head=head,
        device=device,
        workers=workers,
        seed=seed,
        cropped=cropped,
        align=align,
        min_quality=min_quality,
        precision=precision,
        resume=resume,
    )
    try:
        summary = run_training(config)
    except TrainingError as e:
        report_error(e)
        sys.exit(1)
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None
    if int(os.environ.get("RANK", "0")) == 0:
        click.echo(_training_result(summary))
        finish(summary["unreadable_photos"], summary["photos"], "photos (unreadable)")


def _training_result(summary: dict) -> str:
    """The last lines of `faceprint train`: validation top-1 beside the baseline's."""
    kept = (
        f"epoch {summary['best_epoch']} of {summary['epochs']}"
        if summary["beat_baseline"]
        else f"no epoch of {summary['epochs']} beat the baseline: model.pt is {summary['kept']}"
    )
    return (
        f"val top-1 {summary['val_top1']:.4f}, baseline {summary['baseline_top1']:.4f} "
        f"(nearest class centre of the starting model); kept {kept}\n"
        f"{summary['classes']} people, threshold {summary['threshold']:.4f} -> {summary['model']}"
    )


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--model",
    required=True,
    help="A model file from `faceprint train` (its classes are the people).",
)
@click.option(
    "--top-k", type=click.IntRange(1), default=5, show_default=True, help="Names listed per face."
)
@far_option(
    DEFAULT_FAR,
    "Fraction of people the model did not learn who get a name anyway: a face farther from "
    "its most likely person's class centre than this rate allows is unknown.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@DEVICE_OPTION
@PRECISION_OPTION
@BACKEND_OPTION
def classify(images, model, top_k, far, as_json, device, precision) -> None:
    """Name each face in IMAGES among the people a trained model learned.

    Each name comes with its probability; a face unlike anyone the model learned is "unknown".
    """
    from faceprint.training.classify import classify_faces

    recognizer = make_recognizer(model, "box", device, precision)
    if not recognizer.weights.classes:
        raise click.BadParameter(
            f"{model} has no named classes; pass a model file from `faceprint train`",
            param_hint="--model",
        )
    paths = input_images(images)
    report, failed = [], 0
    for path in tqdm(paths, desc="classifying", unit="img", disable=as_json):
        try:
            faces = classify_faces(recognizer, path, top_k, far)
        except FaceprintError as e:
            failed += 1
            report_error(e)
            report.append({"image": str(path), "error": str(e), "faces": []})
            continue
        report.append({"image": str(path), "faces": faces})
        if not as_json:
            tqdm.write(f"{path}: {len(faces)} face(s)")
            for i, face in enumerate(faces):
                names = ", ".join(f"{c['name']} {c['probability']:.3f}" for c in face["top"])
                if face["threshold"] is None:
                    tqdm.write(f"  {i}: {names}")
                else:
                    side = "<" if face["name"] != UNKNOWN else ">="
                    tqdm.write(
                        f"  {i}: {face['name']} (distance to {face['top'][0]['name']} "
                        f"{face['distance']:.3f} {side} {face['threshold']:.3f}); {names}"
                    )
    if as_json:
        click.echo(json.dumps(report, indent=2))
    report_ignored(recognizer)
    finish(failed, len(paths), "images")
