"""``faceprint detect`` and ``faceprint crop``: faces found, drawn and cut out."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

from faceprint.cli._common import (
    BACKEND_OPTION,
    CROP_ALIGN_OPTION,
    DEVICE_OPTION,
    MODEL_OPTION,
    command_detector,
    detector_options,
    finish,
    input_images,
    main,
    mtcnn_option,
    report_error,
)
from faceprint.cli._outputs import (
    FORCE_OPTION,
    Writes,
    annotation_targets,
    check_outputs,
    output_names,
)
from faceprint.detection.base import Detections
from faceprint.errors import FaceprintError
from faceprint.pipeline import (
    crop_quality,
    detection_record,
)


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, one entry per image.")
@click.option(
    "--annotate",
    type=click.Path(path_type=Path),
    help="Draw the detections into this PNG/JPEG; for several images, a folder of "
    "<image>.png files.",
)
@click.option(
    "--crops",
    type=click.Path(file_okay=False, path_type=Path),
    help="Save each face crop into this directory.",
)
@mtcnn_option("--image-size", "Side of the saved crops.")
@mtcnn_option("--margin", "Crop margin, in crop pixels.")
@detector_options
@DEVICE_OPTION
@BACKEND_OPTION
@FORCE_OPTION
def detect(images, as_json, annotate, crops, image_size, margin, device, force) -> None:
    """Find faces: boxes, probabilities, 5 landmarks and a quality (0..1) per face, largest first.

    --detector mtcnn (the default) gives facenet-pytorch's MTCNN answers; faces smaller than
    --min-face-size are not returned, whichever detector runs.

    No embedder runs here, so the quality is the heuristic one (sharpness, brightness, size
    and pose of the crop; see the quality guide), not the embedder's score of the commands
    that embed.
    """
    from faceprint.alignment import extract_face
    from faceprint.drawing import annotate as draw
    from faceprint.images import load_image

    paths = input_images(images)
    names = output_names(paths)
    targets, annotated = annotation_targets(annotate, paths)
    crop_files = [p for name in names.values() for p in _numbered(crops, name)] if crops else []
    check_outputs(
        images,
        [annotated, Writes("--crops", crops, tuple(crop_files), folder=True, pictures=True)],
        force,
    )
    detector = command_detector(device)
    report, failed = [], 0
    for path in tqdm(paths, desc="detecting", unit="img", disable=len(paths) < 2):
        try:
            pil = load_image(path)
            [found] = detector.detect_batch([pil])
        except FaceprintError as e:
            failed += 1
            report_error(e, path)
            report.append({"image": str(path), "error": str(e), "faces": []})
            continue
        found = largest_first(found)
        faces = [
            detection_record(b, p, pts, crop_quality(pil, b, pts))
            for b, p, pts in zip(found.boxes, found.scores, found.landmarks, strict=True)
        ]
        report.append({"image": str(path), "faces": faces})
        if annotate:
            target = targets[path]
            target.parent.mkdir(parents=True, exist_ok=True)
            labels = [f"{p:.3f}" for p in found.scores]
            draw(pil, found.boxes, labels, found.landmarks).save(target)
        for i, box in enumerate(found.boxes if crops else []):
            extract_face(
                pil, box, image_size, margin, save_path=crops / f"{names[path]}_{i + 1}.png"
            )
        if not as_json:
            tqdm.write(f"{path}: {len(faces)} face(s)")
            for i, f in enumerate(faces):
                marks = " ".join(f"({x:.0f},{y:.0f})" for x, y in f["landmarks"])
                tqdm.write(
                    f"  {i}: box={f['box']} p={f['probability']:.4f} "
                    f"quality={f['quality']:.2f} landmarks={marks}"
                )
    if as_json:
        click.echo(json.dumps(report, indent=2))
    finish(failed, len(paths), "images")


def largest_first(found: Detections) -> Detections:
    """The faces ordered by box area, largest first (as ``MTCNN.detect`` orders them; equal
    areas keep the detector's order)."""
    sides = found.boxes[:, 2:] - found.boxes[:, :2]
    return found.select(np.argsort(-(sides[:, 0] * sides[:, 1]), kind="stable"))


def _numbered(folder: Path, name: str) -> list[Path]:
    """The files ``<name>_<n>.png`` in ``folder``: the crops of an image called ``name``."""
    return [
        p
        for p in folder.glob(f"{glob.escape(name)}_*.png")
        if p.stem.removeprefix(f"{name}_").isdigit()
    ]


@main.command()
@click.argument("src_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@CROP_ALIGN_OPTION
@click.option(
    "--size",
    type=click.IntRange(32, 1024),
    default=160,
    show_default=True,
    help="Side of the square crops, in pixels.",
)
@click.option(
    "--margin",
    type=float,
    default=None,
    help="Margin around the box in output pixels (--align box); default: the model's.",
)
@MODEL_OPTION
@detector_options
@DEVICE_OPTION
def crop(src_dir, out_dir, align, size, margin, model, device) -> None:
    """Align the face of every photo of SRC_DIR/PERSON/ into OUT_DIR/PERSON/.

    Resumable: crops already in OUT_DIR are kept. Photos without a usable face (none, several
    of similar size, unreadable) are listed with the reason in OUT_DIR/skipped.csv.
    """
    from faceprint.alignment import Alignment
    from faceprint.training.data import crop_tree, scan_folder
    from faceprint.weights.factory import get_weights

    check_outputs(
        [src_dir], [Writes("OUT_DIR", out_dir, folder=True, pictures=True, kept=True)], False
    )
    try:
        record = get_weights(model)
        folder = scan_folder(src_dir, "SRC_DIR")
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None
    parameters = dict(record.alignment.get(align, {}), image_size=size)
    if margin is not None:
        if align != "box":
            raise click.UsageError("--margin goes with --align box")
        parameters["margin"] = margin
    detector = command_detector(device)
    # The model's face filter for the faces this detector finds and this alignment cuts.
    min_probability, min_face_size = record.face_filter(detector.name, align)
    report = crop_tree(
        folder,
        out_dir,
        Alignment(method=align, **parameters),
        min_probability,
        min_face_size,
        device=device,
        detector=detector,
    )
    if folder.ignored:
        report_error(folder.ignored_note())
    click.echo(
        f"{report.written} crops written, {report.kept} already there -> {out_dir}"
        + (
            f"; {len(report.skipped)} photos skipped (see {out_dir / 'skipped.csv'})"
            if report.skipped
            else ""
        )
    )
    finish(report.unreadable, len(folder.paths), "photos (unreadable)")
