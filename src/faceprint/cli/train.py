"""``faceprint train`` and ``faceprint classify``: fine-tune on your people, then name them."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from tqdm import tqdm

from faceprint.cli._common import (
    CROP_ALIGN_OPTION,
    DEVICE_OPTION,
    PRECISION_OPTION,
    finish,
    input_images,
    main,
    make_recognizer,
    report_error,
    report_ignored,
)
from faceprint.errors import FaceprintError
from faceprint.pipeline import (
    DEFAULT_MODEL,
)
from faceprint.training.objectives import LOSSES


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
    default=8,
    show_default=True,
    help="Passes over the training images.",
)
@click.option(
    "--batch-size", type=click.IntRange(2), default=32, show_default=True, help="Images per step."
)
@click.option(
    "--lr",
    type=click.FloatRange(0, min_open=True),
    default=1e-3,
    show_default=True,
    help="Adam learning rate of the new classifier head; divided by 10 after epochs 5 and 10.",
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
    "block name (it and all before it, e.g. repeat_3), or auto (repeat_3 when "
    "fine-tuning, none from scratch).",
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
    align,
    cropped,
    workers,
    seed,
    resume,
    precision,
    device,
) -> None:
    """Fine-tune (or train from scratch) on DATA_DIR/<person>/<photo>.

    Writes OUT/model.pt, which every command takes as --model, with OUT/summary.json,
    metrics.csv and curves.png. Runs under torchrun too (python -m faceprint train ...).
    """
    from faceprint.errors import TrainingError
    from faceprint.training import TrainConfig
    from faceprint.training import train as run_training

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
        device=device,
        workers=workers,
        seed=seed,
        cropped=cropped,
        align=align,
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
        click.echo(
            f"val top-1 {summary['val_top1']:.4f} (epoch {summary['best_epoch']} of "
            f"{summary['epochs']}), {summary['classes']} people, threshold "
            f"{summary['threshold']:.4f} -> {summary['model']}"
        )
        finish(summary["unreadable_photos"], summary["photos"], "photos (unreadable)")


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
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@DEVICE_OPTION
def classify(images, model, top_k, as_json, device) -> None:
    """Name each face in IMAGES among the people a trained model learned, with probabilities."""
    from faceprint.training.classify import classify_faces

    recognizer = make_recognizer(model, "box", device)
    if not recognizer.weights.classes:
        raise click.BadParameter(
            f"{model} has no named classes; pass a model file from `faceprint train`",
            param_hint="--model",
        )
    paths = input_images(images)
    report, failed = [], 0
    for path in tqdm(paths, desc="classifying", unit="img", disable=as_json):
        try:
            faces = classify_faces(recognizer, path, top_k)
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
                tqdm.write(f"  {i}: {names}")
    if as_json:
        click.echo(json.dumps(report, indent=2))
    report_ignored(recognizer)
    finish(failed, len(paths), "images")
